"""The WebSocket at /hub from a client's side: framing, errors, ids, limits."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
import websockets

from tests.fixtures.timeouts import seconds


async def test_ping_replies_pong_with_same_id_and_iso_time(connect) -> None:
    async with connect() as c:
        reply = await c.call("ping", id="abc-123")
        assert reply["event"] == "pong"
        assert reply["id"] == "abc-123"
        assert reply["now"].endswith("Z")
        datetime.fromisoformat(reply["now"].replace("Z", "+00:00"))


async def test_first_push_without_cookie_is_remember_me_failed(connect) -> None:
    async with connect() as c:
        push = await c.next_push()
        assert push == {"event": "remember_me_failed", "reason": "no remember_me cookie"}


async def test_malformed_json_gets_error_and_connection_stays_usable(connect) -> None:
    async with connect() as c:
        await c.next_push()
        await c.conn.send('{"event": "ping", "id": ')
        err = await c.next_push()
        assert err["event"] == "error"
        assert "JSON" in err["error"]
        assert (await c.call("ping"))["event"] == "pong"


async def test_unknown_event_names_it_with_the_id(connect) -> None:
    async with connect() as c:
        reply = await c.call("no_such_thing", raise_errors=False)
        assert reply["error"] == "Hub does not know how to handle a 'no_such_thing' event."
        # a catalogue event the hub has no handler for is answered the same way
        reply = await c.call("pong", raise_errors=False)
        assert reply["error"] == "Hub does not know how to handle a 'pong' event."


async def test_wrong_types_name_the_field(connect) -> None:
    async with connect() as c:
        reply = await c.call("sign_in", email_address=5, password="x", raise_errors=False)
        assert reply["event"] == "error"
        assert reply["error"] == "expected str, got int at $.email_address"
        reply = await c.call("sign_in", email_address="a@b.c", raise_errors=False)
        assert reply["error"] == "missing required field 'password'"


async def test_non_object_frames_are_answered(connect) -> None:
    async with connect() as c:
        await c.next_push()
        for frame in ("[1,2,3]", '"ping"', "null", '{"id": "x"}'):
            await c.conn.send(frame)
            err = await c.next_push()
            assert err["event"] == "error", frame
        assert (await c.call("ping"))["event"] == "pong"


async def test_injection_and_unicode_strings_are_just_data(connect) -> None:
    async with connect() as c:
        weird = "'; DROP TABLE accounts; -- \u2028 \U0001f600 \x00"
        reply = await c.call(weird, id=weird, raise_errors=False)
        assert reply["id"] == weird
        assert weird in reply["error"]
        assert (await c.call("ping"))["event"] == "pong"


async def test_null_fields_count_as_absent(connect) -> None:
    async with connect() as c:
        await c.next_push()
        await c.conn.send(json.dumps({"event": "ping", "id": None}))
        reply = await c.next_push()
        assert reply["event"] == "pong"
        assert "id" not in reply


@pytest.mark.parametrize("hub_overrides", [{"max_message_bytes": 4096}])
async def test_oversized_frame_closes_1009_and_others_are_unaffected(connect, ws_url) -> None:
    async with connect() as bystander, connect() as big:
        await big.send({"event": "ping", "id": "x" * 5000})
        await big.closed.wait()
        assert big.conn.close_code == 1009
        assert (await bystander.call("ping"))["event"] == "pong"
        # exactly at the limit is still accepted
        frame = {"event": "ping", "id": ""}
        frame["id"] = "y" * (4096 - len(json.dumps(frame)))
        assert len(json.dumps(frame)) == 4096
        reply = await bystander.call("ping", id=frame["id"])
        assert reply["id"] == frame["id"]


async def test_binary_frames_are_refused_politely(connect) -> None:
    async with connect() as c:
        await c.next_push()
        await c.conn.send(b"\x01hello")
        err = await c.next_push()
        assert err["event"] == "error"
        assert (await c.call("ping"))["event"] == "pong"


async def test_plain_http_get_on_websocket_path_is_not_a_crash(http, http_url) -> None:
    async with http.get(f"{http_url}/hub") as response:
        assert response.status in (400, 426)


async def test_websockets_library_can_talk_directly(ws_url) -> None:
    async with websockets.connect(ws_url, open_timeout=seconds(5)) as ws:
        await ws.send('{"event":"ping","id":"1"}')
        seen = [json.loads(await ws.recv()) for _ in range(2)]
        assert {m["event"] for m in seen} == {"remember_me_failed", "pong"}


@pytest.mark.parametrize("hub_overrides", [{"allowed_origins": "https://app.example.com"}])
async def test_only_allowed_origins_may_open_the_websocket(ws_url) -> None:
    async with websockets.connect(ws_url, origin="https://app.example.com") as ws:
        await ws.send('{"event":"ping","id":"1"}')
        assert {json.loads(await ws.recv())["event"] for _ in range(2)} == {
            "remember_me_failed",
            "pong",
        }
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(ws_url, origin="https://evil.example.net"):
            pass
    assert refused.value.response.status_code == 403
    # scripts and servers send no Origin at all; they are not browsers acting for a user
    async with websockets.connect(ws_url) as ws:
        await ws.send('{"event":"ping","id":"2"}')
        assert {json.loads(await ws.recv())["event"] for _ in range(2)} == {
            "remember_me_failed",
            "pong",
        }
