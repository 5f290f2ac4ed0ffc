"""Sign a new WebSocket in from its remember-me cookie, or say why not."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from hub.auth.remember_me import cookie_owner

if TYPE_CHECKING:
    from hub.sessions.client_session import ClientSession

from hub.protocol.messages import RememberMeFailed, SignedIn


async def sign_in_from_cookie(session: ClientSession, token: str | None) -> None:
    if not token:
        session.push(RememberMeFailed(reason="no remember_me cookie"))
        return
    result = await cookie_owner(session.hub, token)
    if isinstance(result, str):
        session.push(RememberMeFailed(reason=result))
        return
    identity, owner = result
    session.sign_in(identity)
    # the names came with the cookie's lookup: no second query per connection
    session.push(
        SignedIn(
            account_id=identity.account_id,
            email_address=_or_unset(owner.email_address),
            first_name=_or_unset(owner.first_name),
            last_name=_or_unset(owner.last_name),
            remember_me=True,
            hub=session.hub.address,
        )
    )


def _or_unset(value: str | None) -> str | msgspec.UnsetType:
    return msgspec.UNSET if value is None else value
