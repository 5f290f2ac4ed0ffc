"""POST /api/v1/<event> from a curl-like client: statuses, bodies, keys, limits."""

from __future__ import annotations

import asyncio
import base64
import uuid
from typing import Any

import aiohttp
import pytest

from tests.fixtures.hub import basic_auth
from tests.fixtures.timeouts import seconds

PASSWORD = "correct horse 42"


async def new_account(http: aiohttp.ClientSession, url: str, email: str) -> dict[str, Any]:
    async with http.post(
        f"{url}/api/v1/create_account",
        data={
            "email_address": email,
            "password": PASSWORD,
            "first_name": "Ada",
            "last_name": "Lovelace",
            "agreed_to_terms": "true",
            "get_api_key": "true",
        },
    ) as r:
        assert r.status == 200, await r.text()
        body = await r.json()
    assert body["event"] == "account_created", body
    return body


async def test_ping_without_key_generates_an_id(http, http_url) -> None:
    async with http.post(f"{http_url}/api/v1/ping") as r:
        assert r.status == 200
        assert r.content_type == "application/json"
        body = await r.json()
    assert body["event"] == "pong"
    uuid.UUID(body["id"])
    assert body["now"].endswith("Z")


async def test_ping_echoes_form_and_json_ids(http, http_url) -> None:
    async with http.post(f"{http_url}/api/v1/ping", data={"id": "form-id"}) as r:
        assert (await r.json())["id"] == "form-id"
    async with http.post(f"{http_url}/api/v1/ping", json={"id": "json-id"}) as r:
        assert (await r.json())["id"] == "json-id"


async def test_unknown_and_non_api_events_are_404(http, http_url) -> None:
    async with http.post(f"{http_url}/api/v1/nonexistent") as r:
        assert r.status == 404
        assert await r.json() == {"error": "unknown endpoint 'nonexistent'"}
    async with http.post(f"{http_url}/api/v1/sign_in") as r:
        assert r.status == 404
        assert await r.json() == {"error": "endpoint 'sign_in' is not part of the HTTP API"}


async def test_missing_wrong_and_odd_keys_are_401(http, http_url) -> None:
    url = f"{http_url}/api/v1/log_client_error"
    async with http.post(url, data={"error": "x"}) as r:
        assert r.status == 401
        assert await r.json() == {"error": "You must provide authentication via an API key."}
    async with http.post(url, data={"error": "x"}, headers=basic_auth("sk_" + "a" * 24)) as r:
        assert r.status == 401
        assert "No account found" in (await r.json())["error"]
    async with http.post(url, data={"error": "x"}, headers={"Authorization": "Digest abc"}) as r:
        assert r.status == 401
        assert (await r.json())["error"] == "Unknown authorization type 'Digest'"


async def test_bad_parameters_are_400_naming_the_parameter(http, http_url) -> None:
    async with http.post(f"{http_url}/api/v1/ping", data={"nope": "1"}) as r:
        assert r.status == 400
        assert "unknown parameter 'nope'" in (await r.json())["error"]
    async with http.post(
        f"{http_url}/api/v1/ping", data=b"{not json", headers={"Content-Type": "application/json"}
    ) as r:
        assert r.status == 400
    async with http.post(f"{http_url}/api/v1/create_account", json={"email_address": 5}) as r:
        assert r.status == 400
        assert (await r.json())["error"].endswith("expected str, got int at $.email_address")
    async with http.post(f"{http_url}/api/v1/ping", json=[1, 2]) as r:
        assert r.status == 400


@pytest.mark.parametrize("hub_overrides", [{"api_max_body_bytes": 1000}])
async def test_body_over_the_limit_is_413(http, http_url) -> None:
    headers = {"Content-Type": "application/json"}
    at_limit = '{"id":"%s"}' % ("a" * (1000 - len('{"id":""}')))
    assert len(at_limit) == 1000
    async with http.post(f"{http_url}/api/v1/ping", data=at_limit, headers=headers) as r:
        assert r.status == 200
    over = '{"id":"%s"}' % ("a" * (1001 - len('{"id":""}')))
    async with http.post(f"{http_url}/api/v1/ping", data=over, headers=headers) as r:
        assert r.status == 413
        assert "larger than 1000 bytes" in (await r.json())["error"]


@pytest.mark.parametrize("hub_overrides", [{"api_rate_burst": 3, "api_rate_per_s": 0.01}])
async def test_rate_limit_is_429_at_the_edge(http, http_url) -> None:
    statuses = []
    for _ in range(4):
        async with http.post(f"{http_url}/api/v1/ping") as r:
            statuses.append(r.status)
    assert statuses == [200, 200, 200, 429]


async def test_key_as_basic_user_or_bearer_and_handler_errors_are_200(http, http_url, hub) -> None:
    account = await new_account(http, http_url, "Key.User@Example.com")
    key = account["api_key"]
    assert key.startswith("sk_")
    url = f"{http_url}/api/v1/log_client_error"
    async with http.post(url, data={"error": "from basic"}, headers=basic_auth(key)) as r:
        assert r.status == 200
        body = await r.json()
        assert body["event"] == "success"
    async with http.post(
        url, json={"id": "e1", "error": "from bearer"}, headers={"Authorization": f"Bearer {key}"}
    ) as r:
        assert await r.json() == {"event": "success", "id": "e1"}
    rows = await hub.db.fetch(
        "SELECT id, error, account_id::text FROM client_error_log ORDER BY time"
    )
    assert [(r["error"], r["account_id"]) for r in rows] == [
        ("from basic", account["account_id"]),
        ("from bearer", account["account_id"]),
    ]
    assert rows[1]["id"] == "e1"
    # a handler's error is a 200 with an error event and the id
    async with http.post(
        f"{http_url}/api/v1/query", json={"id": "q", "query": {}}, headers=basic_auth(key)
    ) as r:
        assert r.status == 200
        body = await r.json()
        assert body["event"] == "error" and body["id"] == "q"


async def test_form_values_are_coerced(http, http_url) -> None:
    # agreed_to_terms=false as a form string must be False, not a truthy string
    async with http.post(
        f"{http_url}/api/v1/create_account",
        data={
            "email_address": "coerce@example.com",
            "password": PASSWORD,
            "agreed_to_terms": "false",
        },
    ) as r:
        body = await r.json()
    assert body["event"] == "account_creation_failed"
    assert "agreed_to_terms" in body["reason"]


async def test_api_reference_is_served(http, http_url) -> None:
    async with http.get(f"{http_url}/api/v1") as r:
        assert r.status == 200
        ref = await r.json()
    assert "ping" in ref["events"]
    assert ref["events"]["project_exec"]["fields"]["command"]["required"] is True


async def test_duplicate_account_over_http(http, http_url) -> None:
    await new_account(http, http_url, "twice@example.com")
    async with http.post(
        f"{http_url}/api/v1/create_account",
        data={
            "email_address": "TWICE@example.com",
            "password": PASSWORD,
            "agreed_to_terms": "true",
        },
    ) as r:
        body = await r.json()
    assert body["event"] == "account_creation_failed"
    assert body["reason"] == {"email_address": "This e-mail address is already taken."}


async def test_basic_header_with_garbage_is_401(http, http_url) -> None:
    bad = base64.b64encode(b"\xff\xfe").decode()
    async with http.post(
        f"{http_url}/api/v1/log_client_error",
        data={"error": "x"},
        headers={"Authorization": f"Basic {bad}"},
    ) as r:
        assert r.status == 401


@pytest.mark.parametrize("hub_overrides", [{"api_body_timeout_s": 0.3}])
async def test_a_body_that_never_arrives_is_408(hub) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", hub.port)
    try:
        writer.write(
            b"POST /api/v1/ping HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"id":'
        )
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), seconds(10))
        assert b" 408 " in status_line
    finally:
        writer.close()


async def test_http_query_with_multi_response_is_400(http, http_url) -> None:
    account = await new_account(http, http_url, "feeds@example.com")
    async with http.post(
        f"{http_url}/api/v1/query",
        json={"query": {"accounts": {"account_id": None}}, "multi_response": True},
        headers=basic_auth(account["api_key"]),
    ) as r:
        assert r.status == 400
        assert await r.json() == {"error": "multi_response queries aren't supported"}
