"""Sign a new WebSocket in from its remember-me cookie, or say why not."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hub.auth.remember_me import authenticate_cookie
from hub.db.accounts import signed_in_message

if TYPE_CHECKING:
    from hub.sessions.client_session import ClientSession

from hub.protocol.messages import RememberMeFailed


async def sign_in_from_cookie(session: ClientSession, token: str | None) -> None:
    if not token:
        session.push(RememberMeFailed(reason="no remember_me cookie"))
        return
    result = await authenticate_cookie(session.hub, token)
    if isinstance(result, str):
        session.push(RememberMeFailed(reason=result))
        return
    session.sign_in(result)
    session.push(await signed_in_message(session.hub, result, remember_me=True))
