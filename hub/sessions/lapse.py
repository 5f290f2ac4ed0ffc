"""Whether a session's sign-in still holds."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hub.auth.remember_me import still_valid
from hub.db import accounts

if TYPE_CHECKING:
    from hub.handlers.context import Identity
    from hub.state import HubState

COOKIE_LAPSED = "remember_me deleted or expired"
ACCOUNT_GONE = "account deleted or banned"


async def sign_in_lapsed(hub: HubState, identity: Identity) -> str | None:
    """None while the sign-in holds, else why it ended. May raise DatabaseDown."""
    if identity.remember_me_hash is not None and not await still_valid(
        hub, identity.remember_me_hash
    ):
        return COOKIE_LAPSED
    account = await accounts.by_id(hub.db, identity.account_id)
    if account is None or account.deleted or account.banned:
        return COOKIE_LAPSED if identity.remember_me_hash is not None else ACCOUNT_GONE
    return None
