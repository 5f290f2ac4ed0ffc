"""sign_in and sign_out, called directly with a RecordingSession on a real database."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from hub.auth import passwords, remember_me
from hub.auth.api_keys import authenticate_api_key
from hub.auth.secrets import hash_secret
from hub.db.database import Database
from hub.errors import DatabaseDown, NotSignedIn
from hub.handlers import accounts
from hub.protocol.messages import (
    Cookies,
    CreateAccount,
    DeleteAccount,
    SignedIn,
    SignedOut,
    SignIn,
    SignInFailed,
    SignOut,
)
from hub.state import HubState
from tests.fixtures.sessions import TEST_ADDRESS, RecordingSession, context, make_hub_state

PASSWORD = "s3cret-enough"
EMAIL = "ada@example.com"
INCORRECT = (
    "Incorrect password for ada@example.com.  You can reset your password by clicking the "
    "'Forgot Password?' link.   If that doesn't work, email help@cocalc.com and we will sort "
    "this out."
)


@pytest.fixture
def state(db: Database) -> HubState:
    return make_hub_state(db)


async def make_account(state: HubState, email: str = EMAIL, **fields: Any) -> UUID:
    reply = await accounts.create_account(
        CreateAccount(
            email_address=email,
            password=PASSWORD,
            first_name="Ada",
            last_name="Lovelace",
            agreed_to_terms=True,
            **fields,
        ),
        context(state, RecordingSession(kind="http")),
    )
    account_id: UUID = reply.account_id  # type: ignore[union-attr]
    return account_id


async def sign_in(state: HubState, session: RecordingSession | None = None, **fields: Any) -> Any:
    values: dict[str, Any] = {"id": "s1", "email_address": EMAIL, "password": PASSWORD}
    values.update(fields)
    return await accounts.sign_in(SignIn(**values), context(state, session or RecordingSession()))


async def test_success(state: HubState) -> None:
    account_id = await make_account(state)
    session = RecordingSession()
    reply = await sign_in(state, session, email_address="  ADA@Example.com ")
    assert reply == SignedIn(
        id="s1",
        account_id=account_id,
        email_address=EMAIL,
        first_name="Ada",
        last_name="Lovelace",
        remember_me=False,
        hub=TEST_ADDRESS,
    )
    assert session.account_id == account_id
    assert session.identity is not None and session.identity.via == "password"
    assert session.identity.remember_me_hash is None
    assert session.pushed == []
    row = await state.db.fetchrow(
        "SELECT value FROM central_log WHERE event = 'successful_sign_in'"
    )
    assert row is not None and row["value"]["account_id"] == str(account_id)
    assert PASSWORD not in str(row["value"])


async def test_failure_reasons(state: HubState) -> None:
    await make_account(state)

    async def reason(**fields: Any) -> str:
        reply = await sign_in(state, **fields)
        assert isinstance(reply, SignInFailed), reply
        assert reply.id == "s1"
        return reply.reason

    assert await reason(email_address="") == "Empty email address."
    assert await reason(email_address="   ") == "Empty email address."
    assert await reason(password="") == "Empty password."
    assert await reason(email_address="nobody@example.com") == "no such account"
    assert await reason(email_address="not an email\x00") == "no such account"
    assert await reason(password="wrong-password") == INCORRECT
    failed = await sign_in(state, email_address="ADA@example.com", password="nope!!")
    assert failed == SignInFailed(id="s1", email_address=EMAIL, reason=INCORRECT)


async def test_banned_and_passwordless_accounts(state: HubState) -> None:
    account_id = await make_account(state)
    await state.db.execute("UPDATE accounts SET banned = true WHERE account_id = $1", account_id)
    banned = await sign_in(state)
    assert banned.reason == (
        "This account is BANNED.  Contact help@cocalc.com if you believe this is a mistake."
    )
    await state.db.execute(
        "UPDATE accounts SET banned = false, password_hash = NULL WHERE account_id = $1",
        account_id,
    )
    nopw = await sign_in(state)
    assert nopw.reason.startswith("The account ada@example.com exists but doesn't have a password.")


async def test_throttle_after_five_failures(state: HubState) -> None:
    await make_account(state)
    for _ in range(5):
        assert (await sign_in(state, password="wrong-pw")).reason == INCORRECT
    blocked = await sign_in(state)  # even the right password waits now
    assert blocked.reason == (
        'sign_in_check failure: Too many attempts per minute to sign in as "ada@example.com". '
        "Wait one minute, then try again."
    )
    # another account from another address is unaffected
    await make_account(state, "other@example.com")
    ok = await sign_in(state, RecordingSession(ip="10.0.0.9"), email_address="other@example.com")
    assert isinstance(ok, SignedIn)


async def test_unknown_emails_count_per_address(db: Database) -> None:
    state = make_hub_state(db, sign_in_fail_per_ip_min=3)
    for i in range(3):
        assert (await sign_in(state, email_address=f"x{i}@example.com")).reason == (
            "no such account"
        )
    assert (await sign_in(state, email_address="x9@example.com")).reason == (
        "sign_in_check failure: Too many attempts per minute to sign in from your computer. "
        "Wait one minute, then try again."
    )


async def test_legacy_hash_is_replaced_at_sign_in(state: HubState) -> None:
    account_id = await make_account(state)
    legacy = passwords.legacy_hash(PASSWORD, "00112233445566778899aabbccddeeff")
    await state.db.execute(
        "UPDATE accounts SET password_hash = $2 WHERE account_id = $1", account_id, legacy
    )
    assert isinstance(await sign_in(state, password="not-it"), SignInFailed)
    assert await state.db.fetchval("SELECT password_hash FROM accounts") == legacy
    assert isinstance(await sign_in(state), SignedIn)
    stored = await state.db.fetchval("SELECT password_hash FROM accounts")
    assert stored.startswith("$argon2id$")
    assert not passwords.needs_rehash(stored, state.settings)
    assert isinstance(await sign_in(state), SignedIn)  # the new hash works


async def test_outdated_argon2_cost_is_replaced(db: Database) -> None:
    weak = make_hub_state(db)
    await make_account(weak)
    old = await db.fetchval("SELECT password_hash FROM accounts")
    stronger = make_hub_state(db, argon2_time_cost=2, argon2_memory_kib=16)
    assert isinstance(await sign_in(stronger), SignedIn)
    new = await db.fetchval("SELECT password_hash FROM accounts")
    assert new != old and "t=2" in new and "m=16" in new


async def test_remember_me_pushes_cookies_then_signs_in(state: HubState) -> None:
    account_id = await make_account(state)
    session = RecordingSession()
    reply = await sign_in(state, session, remember_me=True)
    assert isinstance(reply, SignedIn) and reply.remember_me is True
    assert len(session.pushed) == 1
    cookies = session.pushed[0]
    assert isinstance(cookies, Cookies)
    assert cookies.id == session.session_id
    assert cookies.url == "/cookies"
    assert cookies.set == "remember_me"
    token = cookies.value
    assert isinstance(token, str) and len(token) == remember_me.TOKEN_CHARS
    assert session.identity is not None
    assert session.identity.remember_me_hash == hash_secret(token)
    # stored only as its hash
    stored = await state.db.fetchval("SELECT hash FROM remember_me")
    assert stored == hash_secret(token)
    identity = await remember_me.authenticate_cookie(state, token)
    assert not isinstance(identity, str) and identity.account_id == account_id


async def test_remember_me_over_http_makes_no_cookie(state: HubState) -> None:
    await make_account(state)
    session = RecordingSession(kind="http")
    assert isinstance(await sign_in(state, session, remember_me=True), SignedIn)
    assert session.pushed == []
    assert await state.db.fetchval("SELECT count(*) FROM remember_me") == 0


async def test_get_api_key_makes_a_fresh_key(state: HubState) -> None:
    account_id = await make_account(state)
    first = await sign_in(state, get_api_key=True)
    second = await sign_in(state, get_api_key=True)
    assert isinstance(first.api_key, str) and isinstance(second.api_key, str)
    assert first.api_key != second.api_key
    for key in (first.api_key, second.api_key):
        assert (await authenticate_api_key(state, key)).account_id == account_id


async def test_deleted_account_cannot_sign_in(state: HubState) -> None:
    account_id = await make_account(state)
    session = RecordingSession()
    assert isinstance(await sign_in(state, session), SignedIn)
    await accounts.delete_account(
        DeleteAccount(id="d", account_id=account_id), context(state, session)
    )
    assert (await sign_in(state)).reason == "no such account"


async def test_sign_out(state: HubState) -> None:
    await make_account(state)
    session = RecordingSession()
    await sign_in(state, session, remember_me=True)
    token = session.pushed[0].value  # type: ignore[attr-defined]
    other = RecordingSession()
    await sign_in(state, other, remember_me=True)
    reply = await accounts.sign_out(SignOut(id="o1"), context(state, session))
    assert reply == SignedOut(id="o1")
    assert session.identity is None
    assert await remember_me.authenticate_cookie(state, token) == "remember_me deleted or expired"
    # the other session's cookie still works
    assert await state.db.fetchval("SELECT count(*) FROM remember_me") == 1
    with pytest.raises(NotSignedIn) as info:
        await accounts.sign_out(SignOut(id="o2"), context(state, session))
    assert info.value.text == "not signed in"


async def test_sign_out_everywhere(state: HubState) -> None:
    await make_account(state)
    sessions = [RecordingSession() for _ in range(3)]
    for s in sessions:
        await sign_in(state, s, remember_me=True)
    reply = await accounts.sign_out(SignOut(id="o", everywhere=True), context(state, sessions[0]))
    assert reply == SignedOut(id="o")
    assert await state.db.fetchval("SELECT count(*) FROM remember_me") == 0
    for s in sessions[1:]:
        assert s.identity is not None
        assert s.identity.remember_me_hash is not None
        assert not await remember_me.still_valid(state, s.identity.remember_me_hash)


async def test_database_down_still_answers(state: HubState, monkeypatch: Any) -> None:
    await make_account(state)

    async def down(*args: object) -> None:
        raise DatabaseDown()

    monkeypatch.setattr(state.db, "fetchrow", down)
    session = RecordingSession()
    reply = await sign_in(state, session)
    assert reply == SignInFailed(
        id="s1", email_address=EMAIL, reason="database is down (please try later)"
    )
    assert session.identity is None


async def test_imported_account_with_mixed_case_email(state: HubState) -> None:
    account_id = await make_account(state)
    await state.db.execute("UPDATE accounts SET email_address = 'Ada@Example.COM'")
    reply = await sign_in(state)
    assert isinstance(reply, SignedIn) and reply.account_id == account_id


async def test_unicode_and_injection_emails_sign_in(state: HubState) -> None:
    email = "o'brien;--@exämple.de"
    await make_account(state, email)
    assert isinstance(await sign_in(state, email_address="O'BRIEN;--@EXÄMPLE.DE"), SignedIn)
    failed = await sign_in(state, email_address="' OR 1=1; --")
    assert failed.reason == "no such account"
