"""Remember-me tokens: creation, lookup reasons, expiry, the one-time cookie ticket."""

from __future__ import annotations

from uuid import UUID

import pytest

from hub.auth import remember_me
from hub.auth.secrets import hash_secret
from hub.db import accounts as account_table
from hub.db.database import Database
from hub.errors import DatabaseDown
from hub.handlers.context import Identity
from hub.state import HubState
from tests.fixtures.sessions import make_hub_state


@pytest.fixture
def state(db: Database) -> HubState:
    return make_hub_state(db)


@pytest.fixture
async def account_id(state: HubState) -> UUID:
    return await account_table.create(
        state.db,
        email="cookie@example.com",
        password_hash=None,
        first_name="C",
        last_name="K",
        groups=("admin",),
    )


async def test_token_signs_in_until_it_expires(state: HubState, account_id: UUID) -> None:
    token = await remember_me.create_remember_me(state, account_id, 3600)
    identity = await remember_me.authenticate_cookie(state, token)
    assert identity == Identity(
        account_id=account_id,
        groups=("admin",),
        remember_me_hash=hash_secret(token),
        via="cookie",
        email_address="cookie@example.com",
    )
    assert await remember_me.still_valid(state, hash_secret(token))
    # expiry is enforced at lookup, not by a cleanup job
    await state.db.execute("UPDATE remember_me SET expire = now() - interval '1 second'")
    assert await remember_me.authenticate_cookie(state, token) == "remember_me deleted or expired"
    assert not await remember_me.still_valid(state, hash_secret(token))


async def test_zero_ttl_is_already_expired(state: HubState, account_id: UUID) -> None:
    token = await remember_me.create_remember_me(state, account_id, 0)
    assert await remember_me.authenticate_cookie(state, token) == "remember_me deleted or expired"


async def test_reasons(state: HubState, account_id: UUID) -> None:
    assert await remember_me.authenticate_cookie(state, "") == "no remember_me cookie"
    assert await remember_me.authenticate_cookie(state, None) == "no remember_me cookie"
    for bad in ("garbage", "x" * 31, "x" * 33, "é" * 32, "sha512$a$1000$b", "a" * 31 + "\x00"):
        assert await remember_me.authenticate_cookie(state, bad) == "invalid remember_me cookie"
    unknown = "A" * remember_me.TOKEN_CHARS
    assert await remember_me.authenticate_cookie(state, unknown) == "remember_me deleted or expired"


async def test_only_the_hash_is_stored(state: HubState, account_id: UUID) -> None:
    token = await remember_me.create_remember_me(state, account_id, 3600)
    dump = await state.db.fetchval("SELECT string_agg(r::text, '') FROM remember_me r")
    assert token not in dump
    assert token.encode().hex() not in dump


async def test_deleted_or_banned_account_cookie_fails(state: HubState, account_id: UUID) -> None:
    token = await remember_me.create_remember_me(state, account_id, 3600)
    await state.db.execute("UPDATE accounts SET banned = true")
    assert await remember_me.authenticate_cookie(state, token) == "remember_me deleted or expired"
    await state.db.execute("UPDATE accounts SET banned = false")
    assert not isinstance(await remember_me.authenticate_cookie(state, token), str)
    async with state.db.transaction() as conn:
        await account_table.mark_deleted(conn, account_id)
    assert await remember_me.authenticate_cookie(state, token) == "remember_me deleted or expired"


async def test_cookie_ticket_once_and_only_soon(state: HubState, account_id: UUID) -> None:
    token = await remember_me.create_remember_me(state, account_id, 3600)
    assert await remember_me.consume_cookie_ticket(state, token)
    assert not await remember_me.consume_cookie_ticket(state, token)
    late = await remember_me.create_remember_me(state, account_id, 3600)
    await state.db.execute(
        "UPDATE remember_me SET created = now() - interval '61 seconds' WHERE hash = $1",
        hash_secret(late),
    )
    assert not await remember_me.consume_cookie_ticket(state, late)
    assert not await remember_me.consume_cookie_ticket(state, "nonsense")
    assert not await remember_me.consume_cookie_ticket(state, "B" * remember_me.TOKEN_CHARS)
    # the token itself still signs in
    assert not isinstance(await remember_me.authenticate_cookie(state, late), str)


async def test_drop_and_drop_all(state: HubState, account_id: UUID) -> None:
    tokens = [await remember_me.create_remember_me(state, account_id, 3600) for _ in range(3)]
    await remember_me.drop(state, hash_secret(tokens[0]))
    assert await remember_me.authenticate_cookie(state, tokens[0]) == (
        "remember_me deleted or expired"
    )
    assert await remember_me.drop_all(state, account_id) == 2
    for token in tokens:
        assert isinstance(await remember_me.authenticate_cookie(state, token), str)


async def test_database_down_is_a_reason(state: HubState, monkeypatch: pytest.MonkeyPatch) -> None:
    async def down(*args: object) -> None:
        raise DatabaseDown()

    monkeypatch.setattr(state.db, "fetchrow", down)
    token = "C" * remember_me.TOKEN_CHARS
    assert await remember_me.authenticate_cookie(state, token) == "error accessing database"
    with pytest.raises(DatabaseDown):
        await remember_me.still_valid(state, hash_secret(token))
