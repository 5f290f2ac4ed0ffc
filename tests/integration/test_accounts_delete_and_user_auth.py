"""delete_account, user_auth and the auth tokens it makes."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest

from hub.auth import api_keys as keys
from hub.auth import auth_tokens, remember_me
from hub.auth.api_keys import authenticate_api_key
from hub.auth.passwords import hash_password
from hub.auth.secrets import hash_secret
from hub.db import accounts as account_table
from hub.db.database import Database
from hub.errors import AuthRequired, BadRequest, PermissionDenied, RateLimited
from hub.handlers import accounts
from hub.handlers.context import Identity
from hub.protocol.messages import (
    AccountDeleted,
    CreateAccount,
    DeleteAccount,
    SignedIn,
    SignIn,
    UserAuth,
    UserAuthToken,
)
from hub.state import HubState
from tests.fixtures.sessions import RecordingSession, context, make_hub_state

PASSWORD = "s3cret-enough"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def state(db: Database) -> HubState:
    return make_hub_state(db)


async def new_account(
    state: HubState, email: str, *, password: str | None = PASSWORD, admin: bool = False
) -> UUID:
    return await account_table.create(
        state.db,
        email=email,
        password_hash=hash_password(password, state.settings) if password else None,
        first_name="F",
        last_name="L",
        groups=("admin",) if admin else (),
    )


def as_(account_id: UUID, *, admin: bool = False, kind: Any = "websocket") -> RecordingSession:
    groups = ("admin",) if admin else ()
    return RecordingSession(kind=kind, identity=Identity(account_id=account_id, groups=groups))


async def delete(state: HubState, session: RecordingSession, target: UUID) -> Any:
    return await accounts.delete_account(
        DeleteAccount(id="d1", account_id=target), context(state, session)
    )


async def test_delete_own_account(state: HubState) -> None:
    me = await new_account(state, "me@example.com")
    secret, _ = await keys.make_key(state.db, me)
    await authenticate_api_key(state, secret)  # cached
    cookie = await remember_me.create_remember_me(state, me, 3600)
    token = await auth_tokens.create(state, me)
    session = as_(me)
    assert await delete(state, session, me) == AccountDeleted(id="d1")
    assert session.identity is None  # the session is signed out
    row = await state.db.fetchrow("SELECT * FROM accounts WHERE account_id = $1", me)
    assert row is not None  # the row stays
    assert row["deleted"] is True
    assert row["email_address"] is None
    assert row["email_address_before_delete"] == "me@example.com"
    for table in ("api_keys", "remember_me", "auth_tokens"):
        assert await state.db.fetchval(f"SELECT count(*) FROM {table}") == 0
    with pytest.raises(AuthRequired):
        await authenticate_api_key(state, secret)  # the cache forgot it too
    assert isinstance(await remember_me.authenticate_cookie(state, cookie), str)
    assert await auth_tokens.redeem(state, token) is None
    # the email is free again, and the old password does not sign in
    failed = await accounts.sign_in(
        SignIn(email_address="me@example.com", password=PASSWORD),
        context(state, RecordingSession()),
    )
    assert failed.reason == "no such account"  # type: ignore[union-attr]
    again = await accounts.create_account(
        CreateAccount(email_address="ME@example.com", password=PASSWORD, agreed_to_terms=True),
        context(state, RecordingSession()),
    )
    assert isinstance(again, SignedIn) and again.account_id != me


async def test_only_self_or_admin(state: HubState) -> None:
    me = await new_account(state, "me@example.com")
    other = await new_account(state, "other@example.com")
    with pytest.raises(PermissionDenied) as info:
        await delete(state, as_(me), other)
    assert info.value.text == accounts.ONLY_OWN_ACCOUNT
    assert await account_table.by_email(state.db, "other@example.com") is not None
    admin_session = as_(await new_account(state, "root@example.com", admin=True), admin=True)
    assert await delete(state, admin_session, other) == AccountDeleted(id="d1")
    assert admin_session.identity is not None  # an admin deleting someone stays signed in
    assert await account_table.by_email(state.db, "other@example.com") is None


async def test_unknown_or_already_deleted(state: HubState) -> None:
    admin_session = as_(await new_account(state, "root@example.com", admin=True), admin=True)
    assert await delete(state, admin_session, uuid4()) == AccountDeleted(id="d1")
    victim = await new_account(state, "v@example.com")
    assert await delete(state, admin_session, victim) == AccountDeleted(id="d1")
    assert await delete(state, admin_session, victim) == AccountDeleted(id="d1")
    row = await state.db.fetchrow("SELECT * FROM accounts WHERE account_id = $1", victim)
    assert row is not None and row["email_address_before_delete"] == "v@example.com"
    # a non-admin may not probe other ids
    with pytest.raises(PermissionDenied):
        await delete(state, as_(await new_account(state, "u@example.com")), uuid4())


async def user_auth(state: HubState, session: RecordingSession, target: UUID, password: str) -> Any:
    return await accounts.user_auth(
        UserAuth(id="u1", account_id=target, password=password), context(state, session)
    )


async def test_user_auth_token(state: HubState) -> None:
    caller = await new_account(state, "caller@example.com")
    target = await new_account(state, "target@example.com")
    reply = await user_auth(state, as_(caller, kind="http"), target, PASSWORD)
    assert isinstance(reply, UserAuthToken) and reply.id == "u1"
    token = reply.auth_token
    assert len(token) == 24 and token.isalnum()
    stored = await state.db.fetchrow("SELECT hash, expire - created AS ttl FROM auth_tokens")
    assert stored is not None
    assert stored["hash"] == hash_secret(token)  # only the hash
    assert stored["ttl"].total_seconds() == pytest.approx(12 * 3600, abs=5)
    assert await auth_tokens.redeem(state, token) == target
    assert await auth_tokens.redeem(state, token) is None  # used up
    assert await auth_tokens.redeem(state, "12341234123") is None
    assert await auth_tokens.redeem(state, "") is None


async def test_expired_auth_token(state: HubState) -> None:
    target = await new_account(state, "target@example.com")
    token = await auth_tokens.create(state, target)
    await state.db.execute("UPDATE auth_tokens SET expire = now() - interval '1 second'")
    assert await auth_tokens.redeem(state, token) is None


async def test_user_auth_wrong_password_bans_retries(db: Database) -> None:
    clock = Clock()
    state = make_hub_state(db)
    state.sign_in_throttle.user_auth.clock = clock
    caller = await new_account(state, "caller@example.com")
    target = await new_account(state, "target@example.com")
    other = await new_account(state, "other@example.com")
    session = as_(caller, kind="http")
    with pytest.raises(PermissionDenied) as wrong:
        await user_auth(state, session, target, "not-the-password")
    assert wrong.value.text == "incorrect password"
    with pytest.raises(RateLimited) as banned:
        await user_auth(state, session, target, PASSWORD)  # even the right one, for now
    assert banned.value.text == "banned -- please wait at least 60s before trying again"
    # other targets, and other callers, are not banned
    assert isinstance(await user_auth(state, session, other, PASSWORD), UserAuthToken)
    assert isinstance(await user_auth(state, as_(other), target, PASSWORD), UserAuthToken)
    clock.now += 59.9
    with pytest.raises(RateLimited):
        await user_auth(state, session, target, PASSWORD)
    clock.now += 0.1
    assert isinstance(await user_auth(state, session, target, PASSWORD), UserAuthToken)


async def test_user_auth_refusals(state: HubState) -> None:
    passwordless = await new_account(state, "sso@example.com", password=None)
    target = await new_account(state, "t@example.com")
    cases = [
        (passwordless, ""),
        (passwordless, "anything"),
        (uuid4(), PASSWORD),
        (target, ""),  # only admins may pass no password
        (target, PASSWORD + "x"),
    ]
    for i, (who, password) in enumerate(cases):
        caller = as_(await new_account(state, f"caller{i}@example.com"))
        with pytest.raises(PermissionDenied) as info:
            await user_auth(state, caller, who, password)
        assert info.value.text == "incorrect password"
    assert await state.db.fetchval("SELECT count(*) FROM auth_tokens") == 0


async def test_admin_may_pass_an_empty_password(state: HubState) -> None:
    admin = as_(await new_account(state, "root@example.com", admin=True), admin=True)
    passwordless = await new_account(state, "sso@example.com", password=None)
    reply = await user_auth(state, admin, passwordless, "")
    assert isinstance(reply, UserAuthToken)
    assert await auth_tokens.redeem(state, reply.auth_token) == passwordless
    with pytest.raises(BadRequest):
        await user_auth(state, admin, uuid4(), "")
    with pytest.raises(PermissionDenied):  # a wrong non-empty password is still wrong
        await user_auth(state, admin, passwordless, "guess")


async def test_token_for_deleted_or_banned_account_is_void(state: HubState) -> None:
    target = await new_account(state, "t@example.com")
    token = await auth_tokens.create(state, target)
    await state.db.execute("UPDATE accounts SET banned = true")
    assert await auth_tokens.redeem(state, token) is None
