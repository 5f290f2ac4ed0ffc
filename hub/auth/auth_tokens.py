"""`user_auth` tokens: 24 base62 characters that sign a browser in as an account.

`user_auth` makes one (valid `Settings.auth_token_ttl_s`, 12 hours by default);
`GET /auth/impersonate?auth_token=…` redeems it for a remember-me cookie. Only
the SHA-256 is stored. A token is used up when redeemed (CoCalc let one be reused
until it expired; a URL lands in histories and logs, so once is safer).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from hub.auth.secrets import hash_secret, looks_like_token, new_token
from hub.db import auth_tokens as table

if TYPE_CHECKING:
    from hub.state import HubState

TOKEN_CHARS = 24


async def create(hub: HubState, account_id: UUID) -> str:
    token = new_token(TOKEN_CHARS)
    await table.insert(hub.db, hash_secret(token), account_id, hub.settings.auth_token_ttl_s)
    return token


async def redeem(hub: HubState, token: str) -> UUID | None:
    """The account a valid, unexpired, unused token is for (using it up), else None."""
    if not looks_like_token(token, TOKEN_CHARS):
        return None
    return await table.take(hub.db, hash_secret(token))
