"""create_account, called directly with a RecordingSession on a real database."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import pytest

from hub.auth.api_keys import authenticate_api_key
from hub.db import accounts as account_table
from hub.db.database import Database
from hub.handlers import accounts
from hub.protocol.messages import (
    AccountCreated,
    AccountCreationFailed,
    CreateAccount,
    SignedIn,
)
from hub.state import HubState
from tests.fixtures.sessions import TEST_ADDRESS, RecordingSession, context, make_hub_state

PASSWORD = "s3cret-enough"


@pytest.fixture
def state(db: Database) -> HubState:
    return make_hub_state(db)


def signup(**fields: Any) -> CreateAccount:
    values: dict[str, Any] = {
        "id": "req-1",
        "email_address": "grace@example.com",
        "password": PASSWORD,
        "first_name": "Grace",
        "last_name": "Hopper",
        "agreed_to_terms": True,
    }
    values.update(fields)
    return CreateAccount(**{k: v for k, v in values.items() if v is not None})


async def create(state: HubState, session: RecordingSession | None = None, **fields: Any) -> Any:
    return await accounts.create_account(
        signup(**fields), context(state, session or RecordingSession())
    )


async def test_websocket_signup_signs_the_session_in(state: HubState) -> None:
    session = RecordingSession(kind="websocket")
    reply = await create(state, session, email_address="  Grace@Example.COM ")
    assert isinstance(reply, SignedIn)
    assert reply.id == "req-1"
    assert reply.email_address == "grace@example.com"
    assert (reply.first_name, reply.last_name) == ("Grace", "Hopper")
    assert reply.remember_me is False
    assert reply.hub == TEST_ADDRESS
    assert session.identity is not None
    assert session.identity.account_id == reply.account_id
    assert session.identity.via == "signup"
    assert session.pushed == []
    row = await state.db.fetchrow(
        "SELECT email_address, password_hash, created_by::text AS ip FROM accounts"
    )
    assert row is not None
    assert row["email_address"] == "grace@example.com"
    assert row["password_hash"].startswith("$argon2id$")
    assert PASSWORD not in row["password_hash"]
    assert row["ip"] == "127.0.0.1/32"
    logged = await state.db.fetchval(
        "SELECT count(*) FROM central_log WHERE event = 'create_account'"
    )
    assert logged == 1


async def test_http_signup_replies_account_created(state: HubState) -> None:
    session = RecordingSession(kind="http")
    reply = await create(state, session)
    assert isinstance(reply, AccountCreated)
    assert isinstance(reply.account_id, UUID)
    assert session.identity is None  # one HTTP request is not signed in by signing up


async def test_get_api_key_on_signup(state: HubState) -> None:
    reply = await create(state, RecordingSession(kind="http"), get_api_key=True)
    assert isinstance(reply, AccountCreated)
    assert isinstance(reply.api_key, str) and reply.api_key.startswith("sk_")
    identity = await authenticate_api_key(state, reply.api_key)
    assert identity.account_id == reply.account_id
    assert await state.db.fetchval("SELECT name FROM api_keys") == "api"
    ws = await create(state, RecordingSession(), email_address="b@example.com", get_api_key=True)
    assert isinstance(ws, SignedIn) and isinstance(ws.api_key, str)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"email_address": "not-an-email"}, {"email_address": accounts.EMAIL_INVALID}),
        ({"email_address": ""}, {"email_address": accounts.EMAIL_INVALID}),
        ({"email_address": None}, {"email_address": accounts.EMAIL_INVALID}),
        ({"email_address": "a b@example.com"}, {"email_address": accounts.EMAIL_INVALID}),
        ({"email_address": "a@example"}, {"email_address": accounts.EMAIL_INVALID}),
        ({"email_address": "a@@example.com"}, {"email_address": accounts.EMAIL_INVALID}),
        ({"email_address": "a\x00@example.com"}, {"email_address": accounts.EMAIL_INVALID}),
        ({"email_address": "a@example..com"}, {"email_address": accounts.EMAIL_INVALID}),
        ({"email_address": "x" * 250 + "@example.com"}, {"email_address": accounts.EMAIL_INVALID}),
        ({"password": "12345"}, {"password": accounts.PASSWORD_LENGTH}),
        ({"password": "x" * 65}, {"password": accounts.PASSWORD_LENGTH}),
        ({"password": None}, {"password": accounts.PASSWORD_MISSING}),
        ({"password": ""}, {"password": accounts.PASSWORD_MISSING}),
        ({"agreed_to_terms": False}, {"agreed_to_terms": accounts.AGREE_TO_TERMS}),
        ({"agreed_to_terms": None}, {"agreed_to_terms": accounts.AGREE_TO_TERMS}),
        (
            {"email_address": "nope", "password": "abc", "agreed_to_terms": False},
            {
                "email_address": accounts.EMAIL_INVALID,
                "password": accounts.PASSWORD_LENGTH,
                "agreed_to_terms": accounts.AGREE_TO_TERMS,
            },
        ),
    ],
)
async def test_invalid_fields(state: HubState, fields: dict[str, Any], reason: Any) -> None:
    reply = await create(state, **fields)
    assert reply == AccountCreationFailed(id="req-1", reason=reason)
    assert await state.db.fetchval("SELECT count(*) FROM accounts") == 0


def test_reference_texts() -> None:
    assert accounts.EMAIL_INVALID == "Email address does not appear to be valid."
    assert accounts.PASSWORD_LENGTH == "Password must be between 6 and 64 characters in length."
    assert accounts.EMAIL_TAKEN == "This e-mail address is already taken."


async def test_password_length_edges(state: HubState) -> None:
    six = await create(state, email_address="six@example.com", password="x" * 6)
    sixty_four = await create(state, email_address="s4@example.com", password="y" * 64)
    assert isinstance(six, SignedIn) and isinstance(sixty_four, SignedIn)


async def test_email_taken_whatever_its_case(state: HubState) -> None:
    assert isinstance(await create(state), SignedIn)
    for email in ("grace@example.com", "GRACE@EXAMPLE.COM", " Grace@example.com"):
        reply = await create(state, email_address=email)
        assert reply == AccountCreationFailed(
            id="req-1", reason={"email_address": "This e-mail address is already taken."}
        )


async def test_racing_signups_exactly_one_wins(state: HubState) -> None:
    replies = await asyncio.gather(
        *(create(state, RecordingSession(), email_address="race@example.com") for _ in range(5))
    )
    won = [r for r in replies if isinstance(r, SignedIn)]
    lost = [r for r in replies if isinstance(r, AccountCreationFailed)]
    assert len(won) == 1 and len(lost) == 4
    assert all(r.reason == {"email_address": accounts.EMAIL_TAKEN} for r in lost)
    assert await state.db.fetchval("SELECT count(*) FROM accounts") == 1


async def test_racing_signups_past_the_early_check(state: HubState, monkeypatch: Any) -> None:
    """Even when every racer passes the early look-up, the unique index picks one."""

    async def nobody(db: Any, email: str) -> None:
        return None

    monkeypatch.setattr(account_table, "by_email", nobody)
    replies = await asyncio.gather(
        *(create(state, RecordingSession(), email_address="Race@Example.com") for _ in range(5))
    )
    assert sum(isinstance(r, SignedIn) for r in replies) == 1
    assert await state.db.fetchval("SELECT count(*) FROM accounts") == 1


async def test_signup_disabled(db: Database) -> None:
    state = make_hub_state(db, allow_signup=False)
    reply = await create(state)
    assert reply == AccountCreationFailed(
        id="req-1", reason={"other": "Signing up via email/password is disabled."}
    )


async def test_registration_token(db: Database) -> None:
    state = make_hub_state(db, registration_token="let-me-in")
    assert await create(state) == AccountCreationFailed(
        id="req-1", reason={"token": "No registration token provided"}
    )
    assert await create(state, token="") == AccountCreationFailed(
        id="req-1", reason={"token": "No registration token provided"}
    )
    assert await create(state, token="let-me-out") == AccountCreationFailed(
        id="req-1", reason={"token": "Registration token is wrong."}
    )
    assert isinstance(await create(state, token="let-me-in"), SignedIn)


async def test_signups_per_ip(db: Database) -> None:
    state = make_hub_state(db, signups_per_ip=3, signup_window_s=1800)
    for i in range(3):
        reply = await create(state, RecordingSession(ip="10.1.2.3"), email_address=f"u{i}@x.org")
        assert isinstance(reply, SignedIn), reply
    blocked = await create(state, RecordingSession(ip="10.1.2.3"), email_address="u9@x.org")
    assert blocked == AccountCreationFailed(
        id="req-1",
        reason={
            "other": "Too many accounts are being created from the ip address 10.1.2.3; try "
            "again later.  By default at most 3 accounts can be created every 30 minutes from "
            "one IP; if you're using the API and need a higher limit, contact us."
        },
    )
    other_ip = await create(state, RecordingSession(ip="10.1.2.4"), email_address="u9@x.org")
    assert isinstance(other_ip, SignedIn)
    # accounts made long ago do not count
    await db.execute("UPDATE accounts SET created = now() - interval '1 hour'")
    again = await create(state, RecordingSession(ip="10.1.2.3"), email_address="u10@x.org")
    assert isinstance(again, SignedIn)


async def test_unknown_ip_is_not_stored(state: HubState) -> None:
    reply = await create(state, RecordingSession(ip="unknown"))
    assert isinstance(reply, SignedIn)
    assert await state.db.fetchval("SELECT created_by FROM accounts") is None


async def test_injection_looking_and_unicode_input(state: HubState) -> None:
    nasty = "Robert'); DROP TABLE accounts; --"
    reply = await create(
        state,
        email_address="o'brien+tag@exämple.de",
        first_name=f"  {nasty}  ",
        last_name="Ünïcødé 👨\u200d👩\u200d👧 李\x00\x07\n",
        password="pässwörd-🔑",
    )
    assert isinstance(reply, SignedIn), reply
    assert reply.email_address == "o'brien+tag@exämple.de"
    assert reply.first_name == nasty
    # control characters dropped, not stored; the joiners of an emoji family stay
    assert reply.last_name == "Ünïcødé 👨\u200d👩\u200d👧 李"
    row = await state.db.fetchrow("SELECT first_name, last_name FROM accounts")
    assert row is not None and row["first_name"] == nasty
    assert await state.db.fetchval("SELECT count(*) FROM accounts") == 1


async def test_names_are_length_limited(state: HubState) -> None:
    reply = await create(state, first_name="A" * 1000, last_name=None)
    assert isinstance(reply, SignedIn)
    assert reply.first_name == "A" * accounts.NAME_MAX
    row = await state.db.fetchrow("SELECT first_name, last_name FROM accounts")
    assert row is not None
    assert len(row["first_name"]) == accounts.NAME_MAX and row["last_name"] is None
