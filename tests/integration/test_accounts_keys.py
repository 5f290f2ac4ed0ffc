"""API keys: the api_key and api_keys events, and authentication by key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from hub.auth import api_keys as keys
from hub.auth.api_keys import authenticate_api_key
from hub.auth.secrets import hash_secret, new_api_key
from hub.db import accounts as account_table
from hub.db import api_keys as key_table
from hub.db.database import Database
from hub.errors import AuthRequired, BadRequest, DatabaseDown, PermissionDenied, RateLimited
from hub.handlers import accounts
from hub.handlers.context import Identity
from hub.protocol.messages import ApiKey, ApiKeyInfo, ApiKeys, ApiKeysResponse, Success
from hub.state import HubState
from tests.fixtures.sessions import RecordingSession, context, make_hub_state

PASSWORD = "s3cret-enough"
NO_ACCOUNT = "No account found. Is your API key wrong?"
BANNED = "User is BANNED.  If this is a mistake, please contact help@cocalc.com"


@pytest.fixture
def state(db: Database) -> HubState:
    return make_hub_state(db)


async def new_account(state: HubState, email: str = "k@example.com", password: bool = True) -> UUID:
    from hub.auth.passwords import hash_password

    return await account_table.create(
        state.db,
        email=email,
        password_hash=hash_password(PASSWORD, state.settings) if password else None,
        first_name="K",
        last_name="Ey",
    )


def session_for(account_id: UUID, **kw: Any) -> RecordingSession:
    return RecordingSession(identity=Identity(account_id=account_id), **kw)


async def legacy(state: HubState, session: RecordingSession, **fields: Any) -> Any:
    values: dict[str, Any] = {"id": "k1", "password": PASSWORD}
    values.update(fields)
    return await accounts.api_key(ApiKey(**values), context(state, session))


async def v2(state: HubState, session: RecordingSession, **fields: Any) -> Any:
    return await accounts.api_keys(ApiKeys(id="k2", **fields), context(state, session))


async def dump_api_keys(db: Database) -> str:
    return str(await db.fetchval("SELECT coalesce(string_agg(k::text, ''), '') FROM api_keys k"))


async def test_legacy_key_life_cycle(state: HubState) -> None:
    account_id = await new_account(state)
    session = session_for(account_id)
    assert await legacy(state, session, action="get") == Success(id="k1")
    made = await legacy(state, session, action="regenerate")
    assert isinstance(made, ApiKeyInfo) and made.id == "k1"
    key = made.api_key
    assert key.startswith("sk_") and len(key) == 27
    assert (await authenticate_api_key(state, key)).account_id == account_id
    shown = await legacy(state, session, action="get")
    assert shown == ApiKeyInfo(id="k1", api_key="sk_…" + key[-6:])
    # regenerate: the old key stops working at once, even though it was cached
    again = (await legacy(state, session, action="regenerate")).api_key
    with pytest.raises(AuthRequired) as info:
        await authenticate_api_key(state, key)
    assert info.value.text == NO_ACCOUNT
    assert (await authenticate_api_key(state, again)).account_id == account_id
    assert await state.db.fetchval("SELECT count(*) FROM api_keys WHERE legacy") == 1
    assert await legacy(state, session, action="delete") == Success(id="k1")
    with pytest.raises(AuthRequired):
        await authenticate_api_key(state, again)
    assert await legacy(state, session, action="get") == Success(id="k1")


async def test_legacy_key_password_rules(state: HubState) -> None:
    account_id = await new_account(state)
    session = session_for(account_id)
    with pytest.raises(BadRequest) as missing:
        await legacy(state, session, action="get", password=None)
    assert missing.value.text == "password must be provided"
    with pytest.raises(BadRequest):
        await legacy(state, session, action="get", password="")
    with pytest.raises(PermissionDenied) as wrong:
        await legacy(state, session, action="get", password="not-the-password")
    assert wrong.value.text == "invalid password"
    with pytest.raises(BadRequest) as unknown:
        await legacy(state, session, action="frobnicate")
    assert unknown.value.text == 'unknown action="frobnicate"'


async def test_legacy_key_wrong_passwords_are_throttled(state: HubState) -> None:
    session = session_for(await new_account(state))
    for _ in range(5):
        with pytest.raises(PermissionDenied):
            await legacy(state, session, action="get", password="guess-guess")
    with pytest.raises(RateLimited) as info:
        await legacy(state, session, action="get")
    assert "Too many attempts per minute" in info.value.text


async def test_passwordless_account_needs_no_password(state: HubState) -> None:
    session = session_for(await new_account(state, password=False))
    made = await legacy(state, session, action="regenerate", password=None)
    assert isinstance(made, ApiKeyInfo)


async def test_secrets_are_never_stored_in_clear(state: HubState) -> None:
    account_id = await new_account(state)
    session = session_for(account_id)
    secrets_made = [(await legacy(state, session, action="regenerate")).api_key]
    created = await v2(state, session, action="create", name="ci")
    secrets_made.append(created.response[0]["secret"])
    dump = await dump_api_keys(state.db)
    for secret in secrets_made:
        assert secret not in dump
        assert secret[3:] not in dump
        assert secret.encode().hex() not in dump
        assert hash_secret(secret).hex() in dump  # what is stored is the hash


async def test_named_keys(state: HubState) -> None:
    account_id = await new_account(state)
    session = session_for(account_id)
    assert await v2(state, session, action="get") == ApiKeysResponse(id="k2", response=[])
    first = (await v2(state, session, action="create", name="first")).response[0]
    second = (await v2(state, session, action="create", name="  second  ")).response[0]
    assert set(first) == {
        "id",
        "account_id",
        "name",
        "trunc",
        "created",
        "expire",
        "last_active",
        "secret",
    }
    assert second["name"] == "second"
    assert first["account_id"] == account_id
    assert first["trunc"] == "sk_…" + first["secret"][-6:]
    listed = (await v2(state, session, action="get")).response
    assert [row["id"] for row in listed] == [second["id"], first["id"]]  # newest first
    assert all("secret" not in row and "hash" not in row for row in listed)
    one = (await v2(state, session, action="get", key_id=first["id"])).response
    assert [row["name"] for row in one] == ["first"]
    # a legacy key is not listed here
    await legacy(state, session, action="regenerate")
    assert len((await v2(state, session, action="get")).response) == 2

    assert await v2(state, session, action="edit", key_id=first["id"], name="renamed") == (
        ApiKeysResponse(id="k2")
    )
    assert (await v2(state, session, action="get", key_id=first["id"])).response[0][
        "name"
    ] == "renamed"
    await authenticate_api_key(state, first["secret"])  # cached now
    assert await v2(state, session, action="delete", key_id=first["id"]) == ApiKeysResponse(id="k2")
    with pytest.raises(AuthRequired):
        await authenticate_api_key(state, first["secret"])
    with pytest.raises(BadRequest) as gone:
        await v2(state, session, action="delete", key_id=first["id"])
    assert gone.value.text == f"no api key with id {first['id']}"
    with pytest.raises(BadRequest) as no_edit:
        await v2(state, session, action="edit", key_id=999_999, name="x")
    assert no_edit.value.text == "no api key with id 999999"
    with pytest.raises(BadRequest):
        await v2(state, session, action="delete")
    with pytest.raises(BadRequest) as unknown:
        await v2(state, session, action="rotate")
    assert unknown.value.text == 'unknown action="rotate"'


async def test_only_own_keys(state: HubState) -> None:
    mine = session_for(await new_account(state))
    theirs = session_for(await new_account(state, "other@example.com"))
    their_key = (await v2(state, theirs, action="create", name="t")).response[0]
    assert (await v2(state, mine, action="get", key_id=their_key["id"])).response == []
    with pytest.raises(BadRequest):
        await v2(state, mine, action="delete", key_id=their_key["id"])
    with pytest.raises(BadRequest):
        await v2(state, mine, action="edit", key_id=their_key["id"], name="pwned")
    await authenticate_api_key(state, their_key["secret"])


async def test_project_keys_need_write_access_to_the_project(state: HubState) -> None:
    account_id = await new_account(state)
    session = session_for(account_id)
    project_id = uuid4()
    with pytest.raises(PermissionDenied) as info:
        await v2(state, session, action="create", project_id=project_id)
    assert info.value.text == (
        f"User {account_id} does not have write access to project {project_id}"
    )


async def test_expired_key_stops_working(state: HubState) -> None:
    session = session_for(await new_account(state))
    soon = datetime.now(UTC) + timedelta(hours=1)
    row = (await v2(state, session, action="create", name="e", expire=soon)).response[0]
    await authenticate_api_key(state, row["secret"])  # works, and is cached
    past = datetime.now(UTC) - timedelta(seconds=1)
    await v2(state, session, action="edit", key_id=row["id"], expire=past)
    with pytest.raises(AuthRequired) as info:
        await authenticate_api_key(state, row["secret"])
    assert info.value.text == NO_ACCOUNT


async def test_expiry_is_checked_on_cached_keys(state: HubState) -> None:
    session = session_for(await new_account(state))
    row = (await v2(state, session, action="create", name="e")).response[0]
    await authenticate_api_key(state, row["secret"])
    # expire behind the cache's back (as another hub would): the cached expiry is stale,
    # but an expiry already known to the cache is enforced on every hit
    key_hash = hash_secret(row["secret"])
    entry = state.api_key_cache.get(key_hash)
    assert entry is not None
    entry.expire = datetime.now(UTC) - timedelta(seconds=1)
    with pytest.raises(AuthRequired):
        await authenticate_api_key(state, row["secret"])
    assert state.api_key_cache.get(key_hash) is None


async def test_unknown_malformed_deleted_banned_keys(state: HubState) -> None:
    account_id = await new_account(state)
    for bad in ("", "sk_", "nope", new_api_key(), "sk_" + "é" * 24, "sk_" + "a" * 200):
        with pytest.raises(AuthRequired) as info:
            await authenticate_api_key(state, bad)
        assert info.value.text == NO_ACCOUNT
    secret, _ = await keys.make_key(state.db, account_id, name="b")
    await state.db.execute("UPDATE accounts SET banned = true")
    with pytest.raises(AuthRequired) as banned:
        await authenticate_api_key(state, secret)
    assert banned.value.text == BANNED
    await state.db.execute("UPDATE accounts SET banned = false, deleted = true")
    with pytest.raises(AuthRequired) as deleted:
        await authenticate_api_key(state, secret)
    assert deleted.value.text == NO_ACCOUNT


async def test_cache_answers_without_the_database(state: HubState, monkeypatch: Any) -> None:
    account_id = await new_account(state)
    secret, _ = await keys.make_key(state.db, account_id)
    first = await authenticate_api_key(state, secret)

    async def down(*args: object) -> None:
        raise DatabaseDown()

    for name in ("fetchrow", "fetchval", "execute", "fetch"):
        monkeypatch.setattr(state.db, name, down)
    second = await authenticate_api_key(state, secret)
    assert second == first and second is not first  # a fresh Identity per request
    assert second.via == "api_key"
    with pytest.raises(DatabaseDown):
        await authenticate_api_key(state, new_api_key())  # not cached: needs the database


async def test_last_active_written_at_most_once_a_minute(state: HubState) -> None:
    account_id = await new_account(state)
    secret, row = await keys.make_key(state.db, account_id)
    assert row.last_active is None
    await authenticate_api_key(state, secret)
    first = await state.db.fetchval("SELECT last_active FROM api_keys")
    assert first is not None
    state.api_key_cache.clear()  # even uncached, the database refuses a second write
    await authenticate_api_key(state, secret)
    assert await state.db.fetchval("SELECT last_active FROM api_keys") == first
    await state.db.execute("UPDATE api_keys SET last_active = now() - interval '2 minutes'")
    state.api_key_cache.clear()
    await authenticate_api_key(state, secret)
    later = await state.db.fetchval("SELECT last_active FROM api_keys")
    assert later > first - timedelta(minutes=1)


async def test_key_limit_per_account(state: HubState, monkeypatch: Any) -> None:
    account_id = await new_account(state)
    monkeypatch.setattr(key_table, "MAX_KEYS_PER_ACCOUNT", 2)
    await keys.make_key(state.db, account_id)
    await keys.make_key(state.db, account_id)
    with pytest.raises(RateLimited) as info:
        await keys.make_key(state.db, account_id)
    assert "please delete some api keys" in info.value.text


async def test_unicode_and_injection_key_names(state: HubState) -> None:
    session = session_for(await new_account(state))
    name = "'); DELETE FROM api_keys; -- 🔑 ключ"
    row = (await v2(state, session, action="create", name=name)).response[0]
    assert row["name"] == name
    long = (await v2(state, session, action="create", name="n" * 500)).response[0]
    assert len(long["name"]) == accounts.KEY_NAME_MAX
    assert await state.db.fetchval("SELECT count(*) FROM api_keys") == 2
