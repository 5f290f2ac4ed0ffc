"""Trying to break in and break things, from the outside.

Each test plays an attacker or a clumsy client against a real hub on a loopback
port and asserts what an honest user would expect: the attack fails with a clear
error event carrying the request's id (or a proper HTTP status), the connection
survives bad input, nothing leaks, nothing is lost.

Tests marked `xfail(strict=True, reason="BUG: ...")` expose a real bug; they turn
into failures (XPASS) once it is fixed, so the mark must then be removed.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import os
import secrets
import signal
import socket
import string
import struct
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from hub.app import Hub
from hub.client import HubClient
from hub.shell_accounts import create_account_from_shell
from tests.e2e.raw_ws import RawWebSocket
from tests.fixtures.hub import FAST_HASHING, basic_auth
from tests.fixtures.timeouts import eventually, seconds

PASSWORD = "s3cret-enough"
NO_ACCOUNT = "No account found. Is your API key wrong?"
NOT_SIGNED_IN = "not signed in"
# A hub answers in milliseconds; this long without a reply means there will be none.
REPLY_WAIT = 1.5


# --- helpers


async def signup(c: HubClient, email: str, **extra: Any) -> dict[str, Any]:
    reply = await c.call(
        "create_account",
        email_address=email,
        password=extra.pop("password", PASSWORD),
        agreed_to_terms=True,
        **extra,
    )
    assert reply["event"] == "signed_in", reply
    return reply


async def http_signup(
    http: aiohttp.ClientSession, http_url: str, email: str, **extra: Any
) -> dict[str, Any]:
    async with http.post(
        f"{http_url}/api/v1/create_account",
        json={
            "email_address": email,
            "password": PASSWORD,
            "agreed_to_terms": True,
            "get_api_key": True,
            **extra,
        },
    ) as r:
        assert r.status == 200, await r.text()
        body = await r.json()
    assert body["event"] == "account_created", body
    return body


async def post(
    http: aiohttp.ClientSession, url: str, **kwargs: Any
) -> tuple[int, dict[str, Any] | str]:
    async with http.post(url, **kwargs) as r:
        text = await r.text()
        if r.content_type == "application/json":
            return r.status, json.loads(text)
        return r.status, text


async def next_push_of(c: HubClient, event: str) -> dict[str, Any]:
    """The next pushed message with this event (skipping others)."""
    while (push := await c.next_push(seconds(5)))["event"] != event:
        pass
    return push


async def remember_me_token(connect: Any, email: str) -> str:
    async with connect() as c:
        await c.sign_in(email, PASSWORD, remember_me=True)
        cookies = await next_push_of(c, "cookies")
    return str(cookies["value"])


async def make_admin(hub: Hub, dsn: str, email: str) -> dict[str, Any]:
    """An admin account, made the documented way (`hub account create --admin --api-key`)."""
    return await create_account_from_shell(
        dsn,
        hub.settings,
        email=email,
        password=PASSWORD,
        first_name="Ad",
        last_name="Min",
        admin=True,
        api_key=True,
    )


def frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """One masked client frame with these exact bytes (raw_ws only sends valid text)."""
    mask = os.urandom(4)
    header = bytearray([0x80 | opcode])
    n = len(payload)
    if n < 126:
        header.append(0x80 | n)
    elif n < 2**16:
        header += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        header += bytes([0x80 | 127]) + struct.pack("!Q", n)
    return bytes(header) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def read_frame(raw: RawWebSocket) -> tuple[int, bytes]:
    """One (unmasked) frame from the hub: (opcode, payload)."""
    head = await raw.reader.readexactly(2)
    n = head[1] & 0x7F
    if n == 126:
        n = struct.unpack("!H", await raw.reader.readexactly(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", await raw.reader.readexactly(8))[0]
    return head[0] & 0x0F, await raw.reader.readexactly(n)


async def read_json_until(raw: RawWebSocket, predicate: Any) -> list[dict[str, Any]]:
    """Text frames from the hub, decoded, until one satisfies `predicate`."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(seconds(5)):
        while True:
            opcode, payload = await read_frame(raw)
            assert opcode == 0x1, (opcode, payload)
            seen.append(json.loads(payload))
            if predicate(seen[-1]):
                return seen


@asynccontextmanager
async def raw_client(hub: Hub) -> AsyncIterator[RawWebSocket]:
    raw = await RawWebSocket.open("127.0.0.1", hub.port)
    try:
        yield raw
    finally:
        raw.close()


# --- signing in as someone else


async def test_sign_in_as_someone_else_fails_and_keeps_the_session_as_it_was(connect) -> None:
    async with connect() as victim:
        await signup(victim, "victim@example.com")
    async with connect() as c:
        me = await signup(c, "mallory@example.com")
        for email, password in [
            ("victim@example.com", PASSWORD + "x"),
            ("victim@example.com", "mallory's password"),
            ("VICTIM@EXAMPLE.COM ", "wrong-password"),
            ("victim@example.com", ""),
            ("%@example.com", PASSWORD),  # a LIKE wildcard is just a character
            ("victim@example.com' OR '1'='1", PASSWORD),
            ("' OR 1=1 --", PASSWORD),
        ]:
            reply = await c.call("sign_in", email_address=email, password=password)
            assert reply["event"] == "sign_in_failed", (email, reply)
            assert reply["id"]
        # still signed in as mallory, not as the victim and not signed out
        keys = await c.call("api_keys", action="create", name="still-me")
        assert keys["response"][0]["account_id"] == me["account_id"]


async def test_user_auth_needs_the_targets_password_not_the_callers(
    connect, http, http_url
) -> None:
    victim = await http_signup(http, http_url, "victim@example.com")
    mallory = await http_signup(http, http_url, "mallory@example.com")
    url = f"{http_url}/api/v1/user_auth"
    auth = basic_auth(mallory["api_key"])
    # mallory's own password does not open the victim's account
    status, body = await post(
        http, url, json={"id": "u1", "account_id": victim["account_id"], "password": PASSWORD + "!"}
    )
    assert status == 401  # no key at all
    status, body = await post(
        http,
        url,
        json={"id": "u1", "account_id": victim["account_id"], "password": "mallory-guess"},
        headers=auth,
    )
    assert status == 200
    assert body == {"event": "error", "id": "u1", "error": "incorrect password"}
    # an empty password is only for admins
    status, body = await post(
        http,
        url,
        json={"id": "u2", "account_id": victim["account_id"], "password": ""},
        headers=auth,
    )
    assert body["event"] == "error" and body["id"] == "u2"
    assert "auth_token" not in body
    # after a wrong guess the caller waits, even with the right password
    status, body = await post(
        http,
        url,
        json={"id": "u3", "account_id": victim["account_id"], "password": PASSWORD},
        headers=auth,
    )
    assert body == {
        "event": "error",
        "id": "u3",
        "error": "banned -- please wait at least 60s before trying again",
    }
    # an unknown account looks exactly like a wrong password (no account enumeration)
    status, body = await post(
        http, url, json={"id": "u4", "account_id": str(uuid.uuid4()), "password": "x"}, headers=auth
    )
    assert body == {"event": "error", "id": "u4", "error": "incorrect password"}


async def test_non_admin_cannot_delete_another_account(connect, http, http_url) -> None:
    victim = await http_signup(http, http_url, "victim@example.com")
    async with connect() as c:
        await signup(c, "mallory@example.com")
        for target in (victim["account_id"], str(uuid.uuid4())):
            reply = await c.call("delete_account", account_id=target, raise_errors=False)
            assert reply == {
                "event": "error",
                "id": reply["id"],
                "error": "you may only delete your own account (or be an admin)",
            }
    # the victim lost nothing: key works, sign-in works
    status, body = await post(
        http,
        f"{http_url}/api/v1/log_client_error",
        data={"error": "still here"},
        headers=basic_auth(victim["api_key"]),
    )
    assert status == 200 and body["event"] == "success"
    async with connect() as c:
        assert (await c.sign_in("victim@example.com", PASSWORD))["account_id"] == victim[
            "account_id"
        ]


async def test_admin_may_delete_and_impersonate_but_not_a_deleted_account(
    connect, http, http_url, hub, dsn
) -> None:
    admin = await make_admin(hub, dsn, "root@example.com")
    victim = await http_signup(http, http_url, "victim@example.com")
    url = f"{http_url}/api/v1/user_auth"
    status, body = await post(
        http,
        url,
        json={"account_id": victim["account_id"], "password": ""},
        headers=basic_auth(admin["api_key"]),
    )
    assert body["event"] == "user_auth_token", body
    token = body["auth_token"]
    async with connect() as c:
        await c.sign_in("root@example.com", PASSWORD)
        gone = await c.call("delete_account", account_id=victim["account_id"])
        assert gone["event"] == "account_deleted"
    # the token made before deletion is dead, and no new one can be had
    async with http.get(
        f"{http_url}/auth/impersonate", params={"auth_token": token}, allow_redirects=False
    ) as r:
        assert r.status == 400
    status, body = await post(
        http,
        url,
        json={"id": "z", "account_id": victim["account_id"], "password": ""},
        headers=basic_auth(admin["api_key"]),
    )
    assert (status, body) == (200, {"event": "error", "id": "z", "error": "no such account"})


# --- dead credentials


async def test_deleted_accounts_key_cookie_and_token_stop_working(connect, http, http_url) -> None:
    me = await http_signup(http, http_url, "leaving@example.com")
    cookie = await remember_me_token(connect, "leaving@example.com")
    key_url = f"{http_url}/api/v1/log_client_error"
    status, _ = await post(http, key_url, data={"error": "warm"}, headers=basic_auth(me["api_key"]))
    assert status == 200  # the key is now in the hub's cache
    status, body = await post(
        http,
        f"{http_url}/api/v1/user_auth",
        json={"account_id": me["account_id"], "password": PASSWORD},
        headers=basic_auth(me["api_key"]),
    )
    auth_token = body["auth_token"]
    async with connect() as c:
        await c.sign_in("leaving@example.com", PASSWORD)
        assert (await c.call("delete_account", account_id=me["account_id"]))[
            "event"
        ] == "account_deleted"
    status, body = await post(
        http, key_url, data={"error": "after"}, headers=basic_auth(me["api_key"])
    )
    assert (status, body) == (401, {"error": NO_ACCOUNT})
    status, body = await post(
        http, key_url, data={"error": "after"}, headers={"Authorization": f"Bearer {me['api_key']}"}
    )
    assert status == 401
    async with connect(cookie=cookie) as c:
        assert await c.next_push() == {
            "event": "remember_me_failed",
            "reason": "remember_me deleted or expired",
        }
        err = await c.call("api_keys", action="get", raise_errors=False)
        assert err["error"] == NOT_SIGNED_IN
    async with http.get(
        f"{http_url}/auth/impersonate", params={"auth_token": auth_token}, allow_redirects=False
    ) as r:
        assert r.status == 400
        assert "Set-Cookie" not in r.headers
    async with connect() as c:
        failed = await c.call("sign_in", email_address="leaving@example.com", password=PASSWORD)
        assert failed["reason"] == "no such account"


@pytest.mark.parametrize("hub_overrides", [{"remember_me_recheck_s": 0.1}])
async def test_cookie_session_is_signed_out_when_its_account_is_deleted(connect) -> None:
    async with connect() as c:
        me = await signup(c, "cookie-victim@example.com")
    cookie = await remember_me_token(connect, "cookie-victim@example.com")
    async with connect(cookie=cookie) as long_lived:
        assert (await long_lived.next_push())["event"] == "signed_in"
        async with connect() as other:
            await other.sign_in("cookie-victim@example.com", PASSWORD)
            await other.call("delete_account", account_id=me["account_id"])
        push = await long_lived.next_push(seconds(5))
        assert push == {"event": "remember_me_failed", "reason": "remember_me deleted or expired"}
        err = await long_lived.call("api_keys", action="get", raise_errors=False)
        assert err["error"] == NOT_SIGNED_IN


async def test_other_password_session_cannot_mint_keys_after_its_account_is_deleted(
    connect, hub
) -> None:
    async with connect() as first, connect() as second:
        me = await signup(first, "two-tabs@example.com")
        await second.sign_in("two-tabs@example.com", PASSWORD)
        assert (await first.call("delete_account", account_id=me["account_id"]))[
            "event"
        ] == "account_deleted"
        reply = await second.call("api_keys", action="create", name="zombie", raise_errors=False)
        try:
            assert reply["event"] == "error", reply
        finally:
            rows = await hub.db.fetchval(
                "SELECT count(*) FROM api_keys WHERE account_id = $1", uuid.UUID(me["account_id"])
            )
            assert rows == 0, "a deleted account got a new API key"


async def test_expired_key_is_refused_even_when_cached(connect, http, http_url) -> None:
    async with connect() as c:
        await signup(c, "expiry@example.com")
        past = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
        dead = (await c.call("api_keys", action="create", name="old", expire=past))["response"][0]
        future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        live = (await c.call("api_keys", action="create", name="new", expire=future))["response"][0]
        assert "hash" not in dead and dead["secret"].startswith("sk_")
        url = f"{http_url}/api/v1/log_client_error"
        status, body = await post(
            http, url, data={"error": "x"}, headers=basic_auth(dead["secret"])
        )
        assert (status, body) == (401, {"error": NO_ACCOUNT})
        status, _ = await post(http, url, data={"error": "x"}, headers=basic_auth(live["secret"]))
        assert status == 200  # cached now
        # expiring the cached key through `edit` stops it at once
        edited = await c.call("api_keys", action="edit", key_id=live["id"], expire=past)
        assert edited["event"] == "api_keys_response"
        status, body = await post(
            http, url, data={"error": "x"}, headers=basic_auth(live["secret"])
        )
        assert (status, body) == (401, {"error": NO_ACCOUNT})
        # deleting a key stops it too
        fresh = (await c.call("api_keys", action="create", name="gone"))["response"][0]
        status, _ = await post(http, url, data={"error": "x"}, headers=basic_auth(fresh["secret"]))
        assert status == 200
        await c.call("api_keys", action="delete", key_id=fresh["id"])
        status, _ = await post(http, url, data={"error": "x"}, headers=basic_auth(fresh["secret"]))
        assert status == 401


async def test_keys_of_another_account_cannot_be_seen_edited_or_deleted(
    connect, http, http_url
) -> None:
    victim = await http_signup(http, http_url, "victim@example.com")
    async with connect() as v:
        await v.sign_in("victim@example.com", PASSWORD)
        listed = (await v.call("api_keys", action="get"))["response"]
        victim_key_id = listed[0]["id"]
    async with connect() as c:
        await signup(c, "mallory@example.com")
        seen = await c.call("api_keys", action="get", key_id=victim_key_id)
        assert seen["response"] == []
        for action in ("edit", "delete"):
            reply = await c.call(
                "api_keys",
                action=action,
                key_id=victim_key_id,
                expire="2000-01-01T00:00:00Z",
                raise_errors=False,
            )
            assert reply == {
                "event": "error",
                "id": reply["id"],
                "error": f"no api key with id {victim_key_id}",
            }
    status, body = await post(
        http,
        f"{http_url}/api/v1/log_client_error",
        data={"error": "mine"},
        headers=basic_auth(victim["api_key"]),
    )
    assert status == 200 and body["event"] == "success"


async def test_key_listings_never_show_a_secret_or_hash(connect) -> None:
    async with connect() as c:
        made = await signup(c, "lister@example.com", get_api_key="app")
        secret = made["api_key"]
        legacy = (await c.call("api_key", action="regenerate", password=PASSWORD))["api_key"]
        listed = await c.call("api_keys", action="get")
        shown = await c.call("api_key", action="get", password=PASSWORD)
    text = json.dumps([listed, shown])
    assert secret not in text and legacy not in text
    assert "hash" not in text
    assert shown["api_key"] == "sk_…" + legacy[-6:]
    assert [k["trunc"] for k in listed["response"]] == ["sk_…" + secret[-6:]]


async def test_banned_account_is_locked_out_everywhere(connect, http, http_url, hub) -> None:
    me = await http_signup(http, http_url, "banned@example.com")
    cookie = await remember_me_token(connect, "banned@example.com")
    # an operator bans the account in the database
    await hub.db.execute(
        "UPDATE accounts SET banned = true WHERE account_id = $1", uuid.UUID(me["account_id"])
    )
    status, body = await post(
        http,
        f"{http_url}/api/v1/log_client_error",
        data={"error": "x"},
        headers=basic_auth(me["api_key"]),
    )
    assert (status, body) == (
        401,
        {"error": "User is BANNED.  If this is a mistake, please contact help@cocalc.com"},
    )
    async with connect(cookie=cookie) as c:
        assert (await c.next_push())["event"] == "remember_me_failed"
        failed = await c.call("sign_in", email_address="banned@example.com", password=PASSWORD)
        assert failed["event"] == "sign_in_failed"
        assert failed["reason"].startswith("This account is BANNED.")


async def test_racing_key_regenerations_leave_exactly_one_working_key(
    connect, http, http_url, hub
) -> None:
    async with connect() as c:
        me = await signup(c, "racer@example.com")
        replies = await asyncio.gather(
            *(c.call("api_key", action="regenerate", password=PASSWORD) for _ in range(6))
        )
    made = [r["api_key"] for r in replies]
    assert len(set(made)) == 6
    working = []
    for key in made:
        status, _ = await post(
            http,
            f"{http_url}/api/v1/log_client_error",
            data={"error": "which"},
            headers=basic_auth(key),
        )
        if status == 200:
            working.append(key)
    assert len(working) == 1
    legacy = await hub.db.fetchval(
        "SELECT count(*) FROM api_keys WHERE account_id = $1 AND legacy",
        uuid.UUID(me["account_id"]),
    )
    assert legacy == 1


@pytest.mark.parametrize("hub_overrides", [{"signups_per_ip": 2}])
async def test_mass_signup_from_one_address_is_limited_on_both_doors(
    connect, http, http_url
) -> None:
    await http_signup(http, http_url, "bot1@example.com")
    async with connect() as c:
        await signup(c, "bot2@example.com")
        refused = await c.call(
            "create_account",
            email_address="bot3@example.com",
            password=PASSWORD,
            agreed_to_terms=True,
        )
    assert refused["event"] == "account_creation_failed"
    assert refused["reason"]["other"].startswith(
        "Too many accounts are being created from the ip address 127.0.0.1"
    )
    status, body = await post(
        http,
        f"{http_url}/api/v1/create_account",
        json={"email_address": "bot4@example.com", "password": PASSWORD, "agreed_to_terms": True},
        headers={"X-Forwarded-For": "203.0.113.9"},
    )
    assert status == 200 and body["event"] == "account_creation_failed"
    assert "other" in body["reason"]


# --- cookies and impersonation links


async def test_cookie_ticket_is_single_use_and_never_cross_site(connect, http, http_url) -> None:
    async with connect() as c:
        await signup(c, "ticket@example.com")
        await c.sign_in("ticket@example.com", PASSWORD, remember_me=True)
        cookies = await next_push_of(c, "cookies")
    query = {"id": cookies["id"], "set": cookies["set"], "value": cookies["value"]}
    # a cross-site request is refused and does not use the ticket up
    async with http.get(
        f"{http_url}/cookies", params=query, headers={"Sec-Fetch-Site": "cross-site"}
    ) as r:
        assert r.status == 403
        assert await r.json() == {"error": "cookies cannot be set from another site"}
        assert "Set-Cookie" not in r.headers
    async with http.get(
        f"{http_url}/cookies", params=query, headers={"Sec-Fetch-Site": "same-origin"}
    ) as r:
        assert r.status == 200
        set_cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie and "Path=/" in set_cookie
    # a second use, a wrong cookie name, a forged token: all refused without a cookie
    for params in (
        query,
        {**query, "set": "session"},
        {**query, "value": "A" * 32},
        {**query, "value": cookies["value"] + "x"},
        {**query, "value": ""},
    ):
        async with http.get(f"{http_url}/cookies", params=params) as r:
            assert r.status == 400, params
            assert "Set-Cookie" not in r.headers


async def test_cookie_ticket_older_than_a_minute_is_refused(connect, http, http_url, hub) -> None:
    async with connect() as c:
        await signup(c, "late@example.com")
        await c.sign_in("late@example.com", PASSWORD, remember_me=True)
        cookies = await next_push_of(c, "cookies")
    await hub.db.execute("UPDATE remember_me SET created = now() - interval '61 seconds'")
    query = {"set": cookies["set"], "value": cookies["value"]}
    async with http.get(f"{http_url}/cookies", params=query) as r:
        assert r.status == 400
        assert "Set-Cookie" not in r.headers


async def test_expired_remember_me_cookie_does_not_sign_in(connect, hub) -> None:
    async with connect() as c:
        await signup(c, "stale@example.com")
    cookie = await remember_me_token(connect, "stale@example.com")
    await hub.db.execute("UPDATE remember_me SET expire = now() - interval '1 second'")
    async with connect(cookie=cookie) as c:
        assert await c.next_push() == {
            "event": "remember_me_failed",
            "reason": "remember_me deleted or expired",
        }
    for forged in ("A" * 32, "short", "'; DROP TABLE remember_me; --", "é" * 32):
        async with connect(cookie=forged) as c:
            push = await c.next_push()
            assert push["event"] == "remember_me_failed", forged
            err = await c.call("api_keys", action="get", raise_errors=False)
            assert err["error"] == NOT_SIGNED_IN


async def test_impersonation_token_works_once(connect, http, http_url) -> None:
    me = await http_signup(http, http_url, "once@example.com")
    status, body = await post(
        http,
        f"{http_url}/api/v1/user_auth",
        json={"account_id": me["account_id"], "password": PASSWORD},
        headers=basic_auth(me["api_key"]),
    )
    assert status == 200
    token = body["auth_token"]
    url = f"{http_url}/auth/impersonate"
    params = {"auth_token": token, "next": "https://evil.example/", "redirect": "//evil.example"}
    async with http.get(url, params=params, allow_redirects=False) as r:
        assert r.status == 302
        assert r.headers["Location"] == "/"  # no open redirect
        set_cookie = r.headers["Set-Cookie"]
        assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie
    async with http.get(url, params={"auth_token": token}, allow_redirects=False) as r:
        assert r.status == 400
        assert "Set-Cookie" not in r.headers
    for forged in ("", "A" * 24, token.lower() if token.lower() != token else token.upper()):
        async with http.get(url, params={"auth_token": forged}, allow_redirects=False) as r:
            assert r.status == 400, forged


async def test_impersonation_link_is_refused_cross_site(http, http_url) -> None:
    # Mallory makes a token for her own account and lures the victim's browser to the link:
    # the victim would silently be signed in as Mallory.
    mallory = await http_signup(http, http_url, "mallory@example.com")
    status, body = await post(
        http,
        f"{http_url}/api/v1/user_auth",
        json={"account_id": mallory["account_id"], "password": PASSWORD},
        headers=basic_auth(mallory["api_key"]),
    )
    assert status == 200 and body["event"] == "user_auth_token"
    async with http.get(
        f"{http_url}/auth/impersonate",
        params={"auth_token": body["auth_token"]},
        headers={"Sec-Fetch-Site": "cross-site"},
        allow_redirects=False,
    ) as r:
        assert "Set-Cookie" not in r.headers
        assert r.status == 403


# --- brute force


@pytest.mark.parametrize(
    "hub_overrides", [{"sign_in_fail_per_email_min": 3, "sign_in_fail_per_ip_min": 8}]
)
async def test_sign_in_brute_force_is_throttled_with_a_clear_reason(connect) -> None:
    async with connect() as c:
        await signup(c, "target@example.com")
    async with connect() as c:
        for i in range(3):
            wrong = await c.call("sign_in", email_address="target@example.com", password=f"no-{i}")
            assert wrong["reason"].startswith("Incorrect password")
        # case and spaces do not make a fresh counter
        for email in ("Target@Example.com", " target@example.com"):
            blocked = await c.call("sign_in", email_address=email, password=PASSWORD)
            assert blocked == {
                "event": "sign_in_failed",
                "id": blocked["id"],
                "email_address": "target@example.com",
                "reason": 'sign_in_check failure: Too many attempts per minute to sign in as "'
                'target@example.com". Wait one minute, then try again.',
            }
        # guessing through `api_key` counts against the same limit
        await signup(c, "second@example.com")
        for i in range(3):
            bad = await c.call("api_key", action="get", password=f"nope-{i}", raise_errors=False)
            assert bad["error"] == "invalid password"
        throttled = await c.call("api_key", action="get", password=PASSWORD, raise_errors=False)
        assert throttled["event"] == "error"
        assert throttled["error"].startswith("Too many attempts per minute")
        # spraying other addresses from the same computer hits the per-address limit
        replies = [
            await c.call("sign_in", email_address=f"spray{i}@example.com", password="x" * 8)
            for i in range(3)
        ]
        assert replies[-1]["reason"] == (
            "sign_in_check failure: Too many attempts per minute to sign in from your "
            "computer. Wait one minute, then try again."
        )


async def test_throttle_does_not_keep_huge_email_addresses(connect, hub) -> None:
    async with connect() as c:
        email = "a" * 1_000_000 + "@example.com"
        reply = await c.call("sign_in", email_address=email, password="whatever")
        assert reply["event"] == "sign_in_failed"
    # White-box on purpose: memory cannot be measured deterministically from outside.
    throttle = hub.state.sign_in_throttle
    kept = sum(len(key) for key in throttle.by_email.failures)
    assert kept < 10_000, f"{kept} characters of failed email addresses kept for an hour"


@pytest.mark.parametrize("hub_overrides", [{"registration_token": "let-me-in-0123456789"}])
async def test_registration_token_is_compared_in_constant_time(connect, monkeypatch) -> None:
    calls: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    async with connect() as c:
        for token, reason in [
            ("", {"token": "No registration token provided"}),
            ("let-me-in", {"token": "Registration token is wrong."}),
            ("let-me-in-0123456789\x00", {"token": "Registration token is wrong."}),
        ]:
            reply = await c.call(
                "create_account",
                email_address="tok@example.com",
                password=PASSWORD,
                agreed_to_terms=True,
                token=token,
            )
            assert reply["event"] == "account_creation_failed"
            assert reply["reason"] == reason
        assert len(calls) == 2  # the two wrong tokens went through hmac.compare_digest
        ok = await c.call(
            "create_account",
            email_address="tok@example.com",
            password=PASSWORD,
            agreed_to_terms=True,
            token="let-me-in-0123456789",
        )
        assert ok["event"] == "signed_in"


def test_secrets_are_compared_in_constant_time_or_looked_up_by_hash() -> None:
    """Read hub/auth: no secret is compared with `==` in Python."""
    import inspect

    from hub.auth import api_keys, auth_tokens, passwords, remember_me
    from hub.auth import secrets as hub_secrets

    assert "hmac.compare_digest" in inspect.getsource(hub_secrets.same_secret)
    assert "hmac.compare_digest" in inspect.getsource(passwords._verify_legacy)
    # keys and tokens are found by their SHA-256 through a unique index, never compared
    for fn in (
        api_keys.authenticate_api_key,
        remember_me.cookie_owner,
        auth_tokens.redeem,
    ):
        source = inspect.getsource(fn)
        assert "hash_secret" in source or "token_hash" in source, fn.__name__
        assert " == secret" not in source and "secret ==" not in source


# --- injection-looking input


async def test_injection_looking_names_and_emails_are_stored_as_data(connect, hub) -> None:
    evil = "Robert'); DROP TABLE accounts;--"
    async with connect() as c:
        made = await signup(
            c,
            "o'brien+x@example.com",
            first_name=evil,
            last_name="$1 %s {0} \\x00 ${jndi:ldap://x}",
            usage_intent="'; DELETE FROM api_keys; --",
        )
        assert made["first_name"] == evil
    async with connect() as c:
        again = await c.sign_in("O'Brien+x@example.com", PASSWORD)
        assert again["first_name"] == evil
        assert again["last_name"] == "$1 %s {0} \\x00 ${jndi:ldap://x}"
        for bad_id in ("' OR '1'='1", "1; DROP TABLE accounts", "00000000-0000-0000-0000"):
            reply = await c.call("delete_account", account_id=bad_id, raise_errors=False)
            assert reply == {
                "event": "error",
                "id": reply["id"],
                "error": "invalid UUID at $.account_id",
            }
        reply = await c.call("api_keys", action="get", key_id="1 OR 1=1", raise_errors=False)
        assert reply["error"] == "expected int, got str at $.key_id"
    assert await hub.db.fetchval("SELECT count(*) FROM accounts") == 1


async def test_control_characters_in_names_are_dropped_not_fatal(connect) -> None:
    async with connect() as c:
        made = await signup(
            c, "ctl@example.com", first_name="A\x00d\x07a", last_name="\u200dZ\x1b[31m"
        )
        assert made["first_name"] == "Ada"
        assert made["last_name"] == "\u200dZ[31m"
        key = await c.call("api_keys", action="create", name="n\x00a\x00m\x00e")
        assert key["response"][0]["name"] == "name"


@pytest.mark.parametrize("hub_overrides", [{"client_log_max_chars": 100}])
async def test_client_error_reports_are_bounded_in_the_database(connect, hub) -> None:
    async with connect() as anonymous:
        big = "i" * 200_000
        reply = await anonymous.call("log_client_error", id=big, error="e" * 200_000)
        assert reply == {"event": "success", "id": big}  # the reply still carries the id
    stored = await hub.db.fetchval(
        "SELECT coalesce(length(id), 0) + length(error) FROM client_error_log"
    )
    assert stored <= 2 * 100


async def test_nul_in_a_client_error_report_is_kept_or_refused_clearly(http, http_url, hub) -> None:
    me = await http_signup(http, http_url, "nul@example.com")
    status, body = await post(
        http,
        f"{http_url}/api/v1/log_client_error",
        json={"id": "n1", "error": "bad\x00byte"},
        headers=basic_auth(me["api_key"]),
    )
    assert status in (200, 400)
    assert body != {"event": "error", "id": "n1", "error": "internal error"}
    if status == 200:
        assert body == {"event": "success", "id": "n1"}
        assert await hub.db.fetchval("SELECT count(*) FROM client_error_log") == 1


async def test_a_failing_handler_still_answers_on_the_websocket(connect) -> None:
    async with connect() as c:
        await c.next_push()
        # NUL cannot be stored in PostgreSQL text: the handler fails inside
        try:
            reply = await c.call(
                "log_client_error",
                id="w1",
                error="bad\x00byte",
                raise_errors=False,
                timeout=seconds(REPLY_WAIT),
            )
        except TimeoutError:
            pytest.fail("no reply at all to a request whose handler failed")
        assert reply["id"] == "w1"
        assert reply["event"] in ("success", "error")
        assert (await c.call("ping"))["event"] == "pong"


async def test_out_of_range_key_id_is_an_ordinary_error(connect) -> None:
    async with connect() as c:
        await signup(c, "range@example.com")
        for action in ("get", "delete", "edit"):
            try:
                reply = await c.call(
                    "api_keys",
                    action=action,
                    key_id=2**64,
                    raise_errors=False,
                    timeout=seconds(REPLY_WAIT),
                )
            except TimeoutError:
                pytest.fail(f"no reply to api_keys {action} with key_id 2**64")
            assert reply["event"] in ("error", "api_keys_response"), reply
            assert reply.get("error") != "internal error"


# --- malformed WebSocket frames


async def test_frames_with_odd_ids_are_answered_and_the_connection_survives(connect) -> None:
    async with connect() as c:
        await c.next_push()
        cases: list[tuple[Any, Any]] = [
            (5, "5"),  # a number is answered with its text
            (-12, "-12"),
            ({"a": 1}, None),  # an object cannot be echoed: no id
            ([1, 2], None),
            (True, None),
            (1.5, None),
        ]
        for sent, echoed in cases:
            await c.send({"event": "ping", "id": sent})
            reply = await c.next_push()
            assert reply["event"] == "error", sent
            assert reply.get("id") == echoed, (sent, reply)
            assert "$.id" in reply["error"]
        assert (await c.call("ping"))["event"] == "pong"


async def test_deeply_nested_and_huge_frames_are_errors_not_crashes(connect) -> None:
    async with connect() as c:
        await c.next_push()
        for text in (
            '{"event":"ping","id":"deep","x":' + "[" * 100_000 + "]" * 100_000 + "}",
            '{"event":"user_tracking","id":"deep2","evt":"e","value":'
            + '{"a":' * 50_000
            + "1"
            + "}" * 50_000
            + "}",
            "[" * 1_000_000,
            '{"event":"ping","id":"many",' + ",".join(f'"k{i}":{i}' for i in range(100_000)) + "}",
        ):
            await c.conn.send(text)
        replies = [await c.next_push() for _ in range(4)]
        by_id = {r.get("id"): r for r in replies}
        assert by_id["deep"]["event"] == "error"
        assert by_id["deep"]["error"] == "malformed JSON: nested too deeply"
        assert by_id["deep2"]["event"] == "error"
        assert by_id["many"]["event"] == "pong"  # unknown fields are ignored
        assert by_id[None]["event"] == "error"
        assert (await c.call("ping"))["event"] == "pong"


async def test_invalid_utf8_outside_the_id_is_an_error_with_the_id(hub) -> None:
    async with raw_client(hub) as raw:
        raw.writer.write(
            frame(b'{"event":"sign_in","id":"u8","email_address":"\xff\xfe","password":"x"}')
        )
        raw.writer.write(frame(b"\xc3\x28 not json"))
        raw.writer.write(frame(b'{"event":"ping","id":"after"}'))
        seen = await read_json_until(raw, lambda m: m.get("id") == "after")
        errors = [m for m in seen if m["event"] == "error"]
        assert [m.get("id") for m in errors] == ["u8", None]
        assert all("UTF-8" in m["error"] or "JSON" in m["error"] for m in errors)
        assert seen[-1]["event"] == "pong"


async def test_invalid_utf8_inside_the_id_is_an_error_not_a_dropped_connection(hub) -> None:
    async with raw_client(hub) as raw:
        raw.writer.write(frame(b'{"event":"ping","id":"\xff"}'))
        raw.writer.write(frame(b'{"event":"ping","id":"after"}'))
        try:
            seen = await read_json_until(raw, lambda m: m.get("id") == "after")
        except asyncio.IncompleteReadError:
            pytest.fail("the hub dropped the connection")
        assert any(m["event"] == "error" for m in seen)
        assert seen[-1]["event"] == "pong"


async def test_control_frames_and_fragments_from_a_raw_client(hub) -> None:
    async with raw_client(hub) as raw:
        # a ping control frame is answered with a pong frame carrying its payload
        raw.writer.write(frame(b"are-you-there", opcode=0x9))
        opcode, payload = await read_frame(raw)
        while opcode != 0xA:
            opcode, payload = await read_frame(raw)
        assert payload == b"are-you-there"
        # a message split over a text frame and a continuation frame is one message
        first, second = b'{"event":"ping",', b'"id":"frag"}'
        mask = os.urandom(4)
        raw.writer.write(
            bytes([0x01, 0x80 | len(first)])
            + mask
            + bytes(b ^ mask[i % 4] for i, b in enumerate(first))
        )
        raw.writer.write(frame(second, opcode=0x0))
        seen = await read_json_until(raw, lambda m: m.get("id") == "frag")
        assert seen[-1]["event"] == "pong"


async def test_many_connections_from_one_client_all_work_and_are_released(connect, hub) -> None:
    n = 100

    async def one(i: int) -> str:
        async with connect() as c:
            return str((await c.call("ping", id=f"c{i}"))["id"])

    ids = await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(n))), seconds(30))
    assert sorted(ids) == sorted(f"c{i}" for i in range(n))
    await eventually(lambda: len(hub.sessions) == 0, 5)
    assert "hub_websocket_connections 0.0" in hub.state.metrics.exposition().decode()


# --- malformed HTTP


async def test_event_in_the_body_cannot_change_the_endpoint(http, http_url) -> None:
    for kwargs in (
        {"json": {"id": "e", "event": "sign_in"}},
        {"data": {"id": "e", "event": "delete_account"}},
    ):
        status, body = await post(http, f"{http_url}/api/v1/ping", **kwargs)
        assert (status, body) == (400, {"error": "invalid parameters: unknown parameter 'event'"})


async def test_weird_content_types(http, http_url) -> None:
    url = f"{http_url}/api/v1/ping"
    body = b'{"id":"ct"}'
    for ctype, expected in [
        ("application/json; charset=utf-8", 200),
        ("APPLICATION/JSON", 200),
        ("", 200),  # curl -d without a type: sniffed
        ("application/octet-stream", 200),
        ("text/plain", 400),
        ("multipart/form-data; boundary=x", 400),
        ("application/xml", 400),
    ]:
        status, reply = await post(http, url, data=body, headers={"Content-Type": ctype})
        assert status == expected, (ctype, reply)
        if expected == 200:
            assert reply["id"] == "ct"
        else:
            assert "unsupported content type" in reply["error"]
    status, reply = await post(
        http, url, data=b"id=\xff", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert (status, reply) == (400, {"error": "form body is not valid UTF-8"})
    for ids in (b"id=a&id=b", b"id[]=a"):
        status, reply = await post(
            http, url, data=ids, headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        assert status == 400 and "$.id" in reply["error"]


@pytest.mark.parametrize(
    "body",
    [
        b'{"id":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"id":"\xff"}',
    ],
    ids=["deep", "not-utf8"],
)
async def test_unreadable_json_body_is_400(http, http_url, body: bytes) -> None:
    status, reply = await post(
        http,
        f"{http_url}/api/v1/ping",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    assert status == 400
    assert isinstance(reply, dict) and "JSON" in reply["error"]


async def test_deeply_nested_form_value_is_400(http, http_url) -> None:
    me = await http_signup(http, http_url, "form@example.com")
    status, reply = await post(
        http,
        f"{http_url}/api/v1/query",
        data={"query": "[" * 100_000 + "]" * 100_000},
        headers=basic_auth(me["api_key"]),
    )
    assert status == 400
    assert isinstance(reply, dict) and "error" in reply


@pytest.mark.parametrize("hub_overrides", [{"api_max_body_bytes": 1000}])
async def test_chunked_body_over_the_limit_without_length_is_413(http, http_url) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"id":"'
        for _ in range(100):
            yield b"x" * 100
        yield b'"}'

    status, reply = await post(
        http,
        f"{http_url}/api/v1/ping",
        data=chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert (status, reply) == (413, {"error": "request body is larger than 1000 bytes"})
    # the hub is fine afterwards
    status, reply = await post(http, f"{http_url}/api/v1/ping", json={"id": "next"})
    assert status == 200 and reply["id"] == "next"


@pytest.mark.parametrize("hub_overrides", [{"api_rate_burst": 3, "api_rate_per_s": 0.01}])
async def test_forwarded_for_headers_do_not_dodge_the_rate_limit(http, http_url) -> None:
    statuses = []
    for i in range(5):
        spoof = f"10.0.0.{i}"
        async with http.post(
            f"{http_url}/api/v1/ping",
            headers={"X-Forwarded-For": spoof, "X-Real-IP": spoof, "Forwarded": f"for={spoof}"},
        ) as r:
            statuses.append(r.status)
    assert statuses == [200, 200, 200, 429, 429]


async def test_ambiguous_request_framing_is_refused(hub) -> None:
    """Content-Length together with chunked encoding (request smuggling) is a 400."""
    reader, writer = await asyncio.open_connection("127.0.0.1", hub.port)
    try:
        writer.write(
            b"POST /api/v1/ping HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"0\r\n\r\nPOST /api/v1/create_account HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        await writer.drain()
        async with asyncio.timeout(seconds(5)):
            status_line = await reader.readline()
            rest = await reader.read()
        assert status_line.split()[1:2] == [b"400"], status_line
        assert b"create_account" not in rest and b"account_created" not in rest
    finally:
        writer.close()


async def test_auth_header_shapes(http, http_url) -> None:
    me = await http_signup(http, http_url, "shapes@example.com")
    key = me["api_key"]
    url = f"{http_url}/api/v1/log_client_error"

    def b64(text: bytes) -> str:
        return base64.b64encode(text).decode()

    accepted = [
        {"Authorization": f"Basic {b64(key.encode())}"},  # no colon at all
        {"Authorization": f"Basic {b64(key.encode() + b':ignored')}"},
        {"Authorization": f"Bearer    {key}   "},
        {"Authorization": f"bearer {key}"},
        {"Authorization": f"BASIC {b64(key.encode() + b':')}"},
    ]
    for headers in accepted:
        status, reply = await post(http, url, data={"error": "x"}, headers=headers)
        assert status == 200, (headers, reply)
    refused = [
        ({"Authorization": f"Basic {b64(b':' + key.encode())}"}, "You must provide"),
        ({"Authorization": "Bearer "}, "You must provide"),
        ({"Authorization": "Basic"}, "You must provide"),
        ({"Authorization": "Basic ===="}, "malformed basic authorization header"),
        ({"Authorization": "Basic " + b64(b"\xff\xfe:")}, "malformed basic authorization header"),
        ({"Authorization": "Basic " + b64(b"\x00:")}, NO_ACCOUNT),
        ({"Authorization": f"Bearer {key}x"}, NO_ACCOUNT),
        ({"Authorization": f"Bearer {key.upper()}"}, NO_ACCOUNT),
        ({"Authorization": f"Bearer {key[:-1]}é"}, NO_ACCOUNT),
        ({"Authorization": "Bearer sk_" + "a" * 500}, NO_ACCOUNT),
        ({"Authorization": f"Bearer {key[3:]}"}, NO_ACCOUNT),
        ({"Authorization": f"Bearer {key} {key}"}, NO_ACCOUNT),
        ({"Authorization": f"Token {key}"}, "Unknown authorization type 'Token'"),
    ]
    for headers, text in refused:
        status, reply = await post(http, url, data={"error": "x"}, headers=headers)
        assert status == 401, headers
        assert isinstance(reply, dict) and reply["error"].startswith(text), (headers, reply)
    # the right key as the basic-auth password is not the user name: refused
    status, _ = await post(
        http, url, data={"error": "x"}, headers={"Authorization": f"Basic {b64(b'me:' + b'x')}"}
    )
    assert status == 401


async def test_401_never_echoes_the_key(http, http_url) -> None:
    me = await http_signup(http, http_url, "echo@example.com")
    key = me["api_key"]
    # a tab after the scheme is accepted like a space; the others are refused
    for header, expected in ((f"Bearer\t{key}", 200), (f"{key}", 401), (f"Bearer:{key}", 401)):
        status, reply = await post(
            http,
            f"{http_url}/api/v1/log_client_error",
            data={"error": "x"},
            headers={"Authorization": header},
        )
        assert status == expected
        assert key.lower()[3:] not in json.dumps(reply).lower(), reply


# --- secrets stay secret


def _rand(n: int = 20) -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(n))


async def _secret_heavy_flow(
    ws_url: str, http_url: str, signup_extra: dict[str, Any] | None = None
) -> dict[str, str]:
    """Everything that makes or carries a secret; returns the secrets, by name."""
    found: dict[str, str] = {}
    password = "pw-" + _rand()
    wrong_password = "wrong-" + _rand()
    email = f"{_rand(8).lower()}@example.com"
    found["password"] = password
    found["wrong_password"] = wrong_password
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=seconds(30))) as http:
        status, made = await post(
            http,
            f"{http_url}/api/v1/create_account",
            json={
                "email_address": email,
                "password": password,
                "agreed_to_terms": True,
                "get_api_key": "app",
                **(signup_extra or {}),
            },
        )
        assert status == 200, made
        found["signup_key"] = made["api_key"]
        account_id = made["account_id"]
        async with HubClient.connect(ws_url, timeout=seconds(10)) as c:
            bad = await c.call("sign_in", email_address=email, password=wrong_password)
            assert bad["event"] == "sign_in_failed"
            signed = await c.sign_in(email, password, remember_me=True, get_api_key=True)
            found["sign_in_key"] = signed["api_key"]
            cookies = await next_push_of(c, "cookies")
            found["cookie"] = cookies["value"]
            legacy = await c.call("api_key", action="regenerate", password=password)
            found["legacy_key"] = legacy["api_key"]
            await c.call("api_key", action="get", password=wrong_password, raise_errors=False)
            named = await c.call("api_keys", action="create", name="n")
            found["named_key"] = named["response"][0]["secret"]
        async with http.get(
            f"{http_url}/cookies", params={"set": cookies["set"], "value": found["cookie"]}
        ) as r:
            assert r.status == 200
        key = found["signup_key"]
        status, token = await post(
            http,
            f"{http_url}/api/v1/user_auth",
            json={"account_id": account_id, "password": password},
            headers=basic_auth(key),
        )
        found["auth_token"] = token["auth_token"]
        async with http.get(
            f"{http_url}/auth/impersonate",
            params={"auth_token": found["auth_token"]},
            allow_redirects=False,
        ) as r:
            assert r.status == 302
            found["impersonation_cookie"] = r.cookies["remember_me"].value
        async with HubClient.connect(
            ws_url, cookie=found["impersonation_cookie"], timeout=seconds(10)
        ) as c:
            assert (await c.next_push())["event"] == "signed_in"
        # odd and failing requests that carry the key
        await post(
            http,
            f"{http_url}/api/v1/log_client_error",
            data={"error": "x"},
            headers={"Authorization": f"Bearer {key}"},
        )
        await post(
            http,
            f"{http_url}/api/v1/log_client_error",
            data={"error": "x"},
            headers={"Authorization": f"Bearer {key[:-1]}Z"},
        )
        await post(
            http, f"{http_url}/api/v1/user_auth", data={"account_id": "x"}, headers=basic_auth(key)
        )
        # the password where a key should be
        await post(
            http,
            f"{http_url}/api/v1/log_client_error",
            data={"error": "x"},
            headers={"Authorization": f"Bearer {password}"},
        )
    return found


async def test_database_holds_no_plaintext_secret(ws_url, http_url, hub) -> None:
    found = await _secret_heavy_flow(ws_url, http_url)
    tables = [
        r["table_name"]
        for r in await hub.db.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
    ]
    assert {"accounts", "api_keys", "remember_me", "auth_tokens", "central_log"} <= set(tables)
    dump = ""
    for table in tables:
        rows = await hub.db.fetch(f'SELECT t::text AS row FROM "{table}" t')
        dump += "\n".join(r["row"] for r in rows)
    for name, secret in found.items():
        assert secret not in dump, f"{name} stored in plain text"
    # bytea columns are in hex in the dump: look for the secrets' bytes there too
    for name, secret in found.items():
        assert secret.encode().hex() not in dump, f"{name} stored as bytes"


async def test_metrics_do_not_leak_secrets_or_grow_with_junk(ws_url, http_url, http, hub) -> None:
    found = await _secret_heavy_flow(ws_url, http_url)
    async with HubClient.connect(ws_url, timeout=seconds(10)) as c:
        for i in range(30):
            await c.call(f"junk_{i}_{found['cookie']}", raise_errors=False)
    for i in range(30):
        await post(http, f"{http_url}/api/v1/junk_{i}_{found['signup_key']}")
    async with http.get(f"{http_url}/metrics") as r:
        assert r.status == 200
        text = await r.text()
    for name, secret in found.items():
        assert secret not in text, f"{name} in /metrics"
    assert "junk_" not in text
    assert "@example.com" not in text


async def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_logs_of_a_real_hub_never_contain_secrets(dsn, tmp_path: Path) -> None:
    port = await _free_port()
    registration_token = "reg-" + _rand()
    env = {
        **os.environ,
        "HUB_LOG_FORMAT": "json",
        "HUB_LOG_LEVEL": "debug",
        "HUB_ARGON2_TIME_COST": str(FAST_HASHING["argon2_time_cost"]),
        "HUB_ARGON2_MEMORY_KIB": str(FAST_HASHING["argon2_memory_kib"]),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hub",
        "serve",
        "--port",
        str(port),
        "--database-url",
        dsn,
        "--data-dir",
        str(tmp_path / "data"),
        "--registration-token",
        registration_token,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    http_url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            async with asyncio.timeout(seconds(30)):
                while True:
                    assert proc.returncode is None, "hub exited during start-up"
                    try:
                        async with http.get(f"{http_url}/healthz") as r:
                            if r.status == 200:
                                break
                    except aiohttp.ClientConnectionError:
                        pass
                    await asyncio.sleep(0.05)
            # a wrong registration token, then the right one
            status, refused = await post(
                http,
                f"{http_url}/api/v1/create_account",
                json={
                    "email_address": "t@example.com",
                    "password": PASSWORD,
                    "agreed_to_terms": True,
                    "token": registration_token[:-1],
                },
            )
            assert status == 200 and refused["event"] == "account_creation_failed"
        found = await _secret_heavy_flow(
            f"ws://127.0.0.1:{port}/hub", http_url, {"token": registration_token}
        )
        found["registration_token"] = registration_token
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), seconds(30)) == 0
        assert proc.stderr is not None
        stderr = (await proc.stderr.read()).decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert "account created" in stderr  # the logs did record the flow
    for name, secret in found.items():
        assert secret not in stderr, f"{name} in the hub's log"
