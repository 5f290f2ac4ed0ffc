"""Remember-me cookies: a random token in the browser, its SHA-256 in the database.

    token = await create_remember_me(hub, account_id, ttl_s)   # after sign-in
    # the hub pushes `cookies`; the browser calls GET /cookies?set=…&value=token
    ok = await consume_cookie_ticket(hub, token)                # once, within a minute
    result = await authenticate_cookie(hub, token)              # at each WebSocket connect

The token is 32 base62 characters (about 190 bits). Expiry is enforced at every
lookup, and sessions signed in by cookie re-check `still_valid` periodically, so
`sign_out everywhere` and account deletion reach long-lived connections too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID

from hub.auth.secrets import hash_secret, looks_like_token, new_token
from hub.db import remember_me as table
from hub.db.remember_me import CookieOwner
from hub.errors import DatabaseDown
from hub.handlers.context import Identity

if TYPE_CHECKING:
    from hub.state import HubState

TOKEN_CHARS = 32
# GET /cookies may turn a token into a cookie only this soon after it was made.
COOKIE_TICKET_S = 60.0

NO_COOKIE = "no remember_me cookie"
INVALID_COOKIE = "invalid remember_me cookie"
GONE = "remember_me deleted or expired"
DB_ERROR = "error accessing database"


async def create_remember_me(hub: HubState, account_id: UUID, ttl_s: float) -> str:
    """A new token for `account_id`, valid for `ttl_s`; only its hash is stored."""
    token = new_token(TOKEN_CHARS)
    await table.insert(hub.db, hash_secret(token), account_id, ttl_s)
    return token


def token_hash(token: str) -> bytes | None:
    """The stored hash for a well-formed token, or None for a malformed one."""
    if not looks_like_token(token, TOKEN_CHARS):
        return None
    return hash_secret(token)


async def authenticate_cookie(hub: HubState, token: str | None) -> Identity | str:
    """The identity a cookie signs in as, or the reason it does not."""
    result = await cookie_owner(hub, token)
    return result if isinstance(result, str) else result[0]


async def cookie_owner(hub: HubState, token: str | None) -> tuple[Identity, CookieOwner] | str:
    """The identity a cookie signs in as and its account's row, or the reason it does not."""
    if not token:
        return NO_COOKIE
    hashed = token_hash(token)
    if hashed is None:
        return INVALID_COOKIE
    try:
        owner = await table.owner(hub.db, hashed)
    except DatabaseDown:
        return DB_ERROR
    if owner is None:
        return GONE
    identity = Identity(
        account_id=owner.account_id,
        groups=owner.groups,
        remember_me_hash=hashed,
        via="cookie",
        email_address=owner.email_address,
    )
    return identity, owner


async def still_valid(hub: HubState, remember_me_hash: bytes) -> bool:
    """Whether the token a session signed in with is still there, unexpired (may raise
    `DatabaseDown`: the caller decides what an outage means)."""
    return await table.owner(hub.db, remember_me_hash) is not None


async def consume_cookie_ticket(hub: HubState, token: str) -> bool:
    """Whether GET /cookies may set `token` now: once per token, within a minute."""
    hashed = token_hash(token)
    if hashed is None:
        return False
    return await table.mark_cookie_set(hub.db, hashed, COOKIE_TICKET_S)


async def drop(hub: HubState, remember_me_hash: bytes) -> None:
    await table.delete(hub.db, remember_me_hash)


async def drop_all(hub: HubState, account_id: UUID) -> int:
    """Drop every token of the account (sign out everywhere); how many there were."""
    return await table.delete_all(hub.db, account_id)
