"""A person's whole account life over the WebSocket and the HTTP API."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlencode

from tests.fixtures.hub import basic_auth
from tests.fixtures.timeouts import seconds

PASSWORD = "s3cret-enough"


async def signup(c: Any, email: str, **extra: Any) -> dict[str, Any]:
    return await c.call(
        "create_account",
        email_address=email,
        password=PASSWORD,
        first_name="Grace",
        last_name="Hopper",
        agreed_to_terms=True,
        **extra,
    )


async def test_signup_on_websocket_signs_the_session_in(connect) -> None:
    async with connect() as c:
        reply = await signup(c, "Grace@Example.COM")
        assert reply["event"] == "signed_in"
        assert reply["email_address"] == "grace@example.com"
        assert reply["remember_me"] is False
        assert reply["first_name"] == "Grace"
        assert ":" in reply["hub"]
        assert "api_key" not in reply
        # signed in now: a handler that needs an account works
        assert (await c.call("api_key", action="get", password=PASSWORD))["event"] in (
            "success",
            "api_key_info",
        )


async def test_sign_in_always_answers(connect) -> None:
    async with connect() as c:
        await signup(c, "answers@example.com")
    async with connect() as c:
        failed = await c.call("sign_in", email_address="nobody@example.com", password="whatever")
        assert failed == {
            "event": "sign_in_failed",
            "id": failed["id"],
            "email_address": "nobody@example.com",
            "reason": "no such account",
        }
        wrong = await c.call("sign_in", email_address="answers@example.com", password="nope!!")
        assert wrong["event"] == "sign_in_failed"
        assert wrong["reason"].startswith("Incorrect password for answers@example.com.")
        empty = await c.call("sign_in", email_address="", password="x")
        assert empty["reason"] == "Empty email address."
        ok = await c.call("sign_in", email_address="ANSWERS@example.com", password=PASSWORD)
        assert ok["event"] == "signed_in"
        assert ok["remember_me"] is False


async def test_remember_me_cookie_signs_a_new_connection_in(connect, http, http_url) -> None:
    async with connect() as c:
        await signup(c, "cookie@example.com")
    async with connect() as c:
        await c.next_push()  # remember_me_failed: no cookie yet
        ok = await c.sign_in("cookie@example.com", PASSWORD, remember_me=True)
        assert ok["remember_me"] is True
        cookies = await c.next_push()
        assert cookies["event"] == "cookies"
        assert cookies["url"] == "/cookies"
        token = cookies["value"]
        name = cookies["set"]
    # the browser asks the hub to set the cookie; it works once
    query = urlencode({"id": cookies["id"], "set": name, "value": token})
    async with http.get(f"{http_url}/cookies?{query}") as r:
        assert r.status == 200
        set_cookie = r.headers["Set-Cookie"]
        assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie
    async with http.get(f"{http_url}/cookies?{query}") as r:
        assert r.status == 400
    async with connect(cookie=token) as c:
        pushed = await c.next_push()
        assert pushed["event"] == "signed_in"
        assert "id" not in pushed
        assert pushed["email_address"] == "cookie@example.com"
        # sign out drops this cookie
        assert (await c.call("sign_out"))["event"] == "signed_out"
        err = await c.call("sign_out", raise_errors=False)
        assert err["error"] == "not signed in"
    async with connect(cookie=token) as c:
        assert await c.next_push() == {
            "event": "remember_me_failed",
            "reason": "remember_me deleted or expired",
        }
    async with connect(cookie="garbage") as c:
        assert (await c.next_push())["event"] == "remember_me_failed"


async def test_sign_out_everywhere_drops_every_cookie(connect) -> None:
    async with connect() as c:
        await signup(c, "everywhere@example.com")
    tokens = []
    for _ in range(2):
        async with connect() as c:
            await c.sign_in("everywhere@example.com", PASSWORD, remember_me=True)
            while (push := await c.next_push())["event"] != "cookies":
                pass
            tokens.append(push["value"])
    async with connect(cookie=tokens[0]) as c:
        assert (await c.next_push())["event"] == "signed_in"
        assert (await c.call("sign_out", everywhere=True))["event"] == "signed_out"
    async with connect(cookie=tokens[1]) as c:
        assert (await c.next_push())["event"] == "remember_me_failed"


async def test_api_key_life_cycle(connect, http, http_url) -> None:
    async with connect() as c:
        await signup(c, "keys@example.com")
        none_yet = await c.call("api_key", action="get", password=PASSWORD)
        assert none_yet["event"] == "success"
        missing = await c.call("api_key", action="get", raise_errors=False)
        assert missing["event"] == "error"
        made = await c.call("api_key", action="regenerate", password=PASSWORD)
        key = made["api_key"]
        assert key.startswith("sk_") and len(key) > 20
        shown = await c.call("api_key", action="get", password=PASSWORD)
        assert shown["api_key"] != key and shown["api_key"].endswith(key[-6:])
        ping = f"{http_url}/api/v1/log_client_error"
        async with http.post(ping, data={"error": "e"}, headers=basic_auth(key)) as r:
            assert r.status == 200
        again = await c.call("api_key", action="regenerate", password=PASSWORD)
        async with http.post(ping, data={"error": "e"}, headers=basic_auth(key)) as r:
            assert r.status == 401  # the old key stopped working at once
        async with http.post(ping, data={"error": "e"}, headers=basic_auth(again["api_key"])) as r:
            assert r.status == 200
        assert (await c.call("api_key", action="delete", password=PASSWORD))["event"] == "success"
        async with http.post(ping, data={"error": "e"}, headers=basic_auth(again["api_key"])) as r:
            assert r.status == 401


async def test_user_auth_token_impersonation(connect, http, http_url) -> None:
    async with connect() as c:
        signed = await signup(c, "imp@example.com", get_api_key="myapp")
        key = signed["api_key"]
    async with http.post(
        f"{http_url}/api/v1/user_auth",
        data={"account_id": signed["account_id"], "password": PASSWORD},
        headers=basic_auth(key),
    ) as r:
        body = await r.json()
    assert body["event"] == "user_auth_token", body
    assert len(body["auth_token"]) == 24
    async with http.get(
        f"{http_url}/auth/impersonate?auth_token={body['auth_token']}", allow_redirects=False
    ) as r:
        assert r.status == 302
        cookie = r.cookies["remember_me"].value
    async with connect(cookie=cookie) as c:
        pushed = await c.next_push()
        assert pushed["event"] == "signed_in"
        assert pushed["account_id"] == signed["account_id"]
    async with http.get(f"{http_url}/auth/impersonate?auth_token=nope") as r:
        assert r.status == 400


async def test_delete_account_frees_email_and_blocks_sign_in(connect) -> None:
    async with connect() as c:
        me = await signup(c, "gone@example.com")
        other = None
        async with connect() as c2:
            other = await signup(c2, "bystander@example.com")
        denied = await c.call("delete_account", account_id=other["account_id"], raise_errors=False)
        assert denied["event"] == "error"
        deleted = await c.call("delete_account", account_id=me["account_id"])
        assert deleted["event"] == "account_deleted"
    async with connect() as c:
        failed = await c.call("sign_in", email_address="gone@example.com", password=PASSWORD)
        assert failed["event"] == "sign_in_failed"
        again = await signup(c, "gone@example.com")
        assert again["event"] == "signed_in"
        assert again["account_id"] != me["account_id"]


async def test_racing_signups_exactly_one_wins(connect) -> None:
    async def attempt() -> str:
        async with connect() as c:
            return str((await signup(c, "race@example.com"))["event"])

    results = await asyncio.wait_for(asyncio.gather(*(attempt() for _ in range(6))), seconds(30))
    assert sorted(results) == ["account_creation_failed"] * 5 + ["signed_in"]
