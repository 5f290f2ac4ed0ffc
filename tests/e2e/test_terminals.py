"""Terminals end to end: a real hub, real local hubs, real ptys, binary WebSocket frames."""

from __future__ import annotations

import asyncio
import json
import struct
import time
import uuid
from typing import Any

import pytest

from hub.app import Hub
from hub.client import HubClient
from tests.e2e.raw_ws import RawWebSocket
from tests.e2e.test_projects import PASSWORD, account, close, new_project
from tests.fixtures.timeouts import eventually, seconds


async def start(c: HubClient, pid: str, **fields: Any) -> dict[str, Any]:
    reply = await c.call("start_session", type="console", project_id=pid, **fields)
    assert reply["event"] == "session_started", reply
    return reply


async def read_until(c: HubClient, channel: int, needle: bytes, timeout: float = 10) -> bytes:
    """Everything the terminal on `channel` sent, up to and including `needle`."""
    seen = b""
    async with asyncio.timeout(seconds(timeout)):
        while needle not in seen:
            got, data = await c.next_binary()
            if got == channel:
                seen += data
    return seen


async def pushed(c: HubClient, event: str, timeout: float = 10) -> dict[str, Any]:
    """The next push of `event` (a connection's greeting pushes are skipped)."""
    async with asyncio.timeout(seconds(timeout)):
        while True:
            msg = await c.next_push()
            if msg["event"] == event:
                return msg
            assert msg["event"] in ("remember_me_failed", "version"), msg


async def type_in(c: HubClient, channel: int, text: str) -> None:
    await c.send_binary(channel, text.encode())


async def test_echo_then_reattach_replays_scrollback(connect) -> None:
    c, _ = await account(connect, "term-echo@example.com")
    try:
        pid = await new_project(c)
        started = await start(c, pid)
        tid, channel = started["session_uuid"], started["data_channel"]
        assert str(uuid.UUID(tid)) == tid and channel == 1
        limits = started["limits"]
        assert limits["scrollback_bytes"] == 256 * 1024 and limits["max_input_bytes"] == 65536
        await type_in(c, channel, "echo hi$((40+2))\n")
        await read_until(c, channel, b"hi42")
    finally:
        await close(c)
    async with connect() as again:
        await again.sign_in("term-echo@example.com", PASSWORD)
        started = await start(again, pid, session_uuid=tid)
        assert started["session_uuid"] == tid and started["data_channel"] == 1
        replay = await read_until(again, 1, b"hi42")  # the scrollback comes first
        await type_in(again, 1, "echo again$((1+1))\n")
        rest = await read_until(again, 1, b"again2")
        assert (replay + rest).count(b"hi42") == 1  # no duplicate between replay and live


async def test_two_clients_see_output_and_either_can_type(connect) -> None:
    owner, _ = await account(connect, "term-own@example.com")
    friend, friend_me = await account(connect, "term-friend@example.com")
    try:
        pid = await new_project(owner)
        await owner.call("invite_collaborator", project_id=pid, account_id=friend_me["account_id"])
        a = await start(owner, pid)
        tid = a["session_uuid"]
        b = await start(friend, pid, session_uuid=tid)
        await type_in(friend, b["data_channel"], "echo from$((2+3))friend\n")
        await read_until(owner, a["data_channel"], b"from5friend")
        await read_until(friend, b["data_channel"], b"from5friend")
        await type_in(owner, a["data_channel"], "echo from$((3+4))owner\n")
        await read_until(owner, a["data_channel"], b"from7owner")
        await read_until(friend, b["data_channel"], b"from7owner")
        # one client detaching leaves the other attached
        assert (await friend.call("terminal_detach", session_uuid=tid))["event"] == "success"
        await type_in(owner, a["data_channel"], "echo solo$((4+4))\n")
        await read_until(owner, a["data_channel"], b"solo8")
        err = await friend.call("terminal_detach", session_uuid=tid, raise_errors=False)
        assert err["error"] == f"this connection is not attached to terminal '{tid}'"
    finally:
        await close(owner)
        await close(friend)


async def test_resize_and_start_size(connect) -> None:
    c, _ = await account(connect, "term-size@example.com")
    try:
        pid = await new_project(c)
        started = await start(c, pid, params={"rows": 30, "cols": 100})
        tid, ch = started["session_uuid"], started["data_channel"]
        await type_in(c, ch, "stty size\n")
        await read_until(c, ch, b"30 100")
        reply = await c.call("terminal_resize", session_uuid=tid, rows=33, cols=91)
        assert reply["event"] == "success"
        await type_in(c, ch, "stty size\n")
        await read_until(c, ch, b"33 91")
        bad = await c.call("terminal_resize", session_uuid=tid, rows=0, cols=5, raise_errors=False)
        assert bad["error"] == "rows and cols must be between 1 and 1000"
    finally:
        await close(c)


async def test_exit_tells_the_client_and_frees_the_channel(connect) -> None:
    c, _ = await account(connect, "term-exit@example.com")
    try:
        pid = await new_project(c)
        started = await start(c, pid)
        tid, ch = started["session_uuid"], started["data_channel"]
        await type_in(c, ch, "exit 3\n")
        assert await pushed(c, "terminal_exited") == {
            "event": "terminal_exited",
            "session_uuid": tid,
            "data_channel": ch,
            "exit_code": 3,
        }
        await type_in(c, ch, "echo nobody\n")
        err = await pushed(c, "error")
        assert err == {"event": "error", "error": f"no terminal on data channel {ch}"}
        again = await start(c, pid)  # the channel is free again
        assert again["data_channel"] == ch and again["session_uuid"] != tid
    finally:
        await close(c)


@pytest.mark.parametrize("hub_overrides", [{"terminal_max_input_bytes": 16}])
async def test_bad_binary_frames(connect) -> None:
    c, _ = await account(connect, "term-bin@example.com")
    try:
        await c.send_binary(7, b"ls\n")  # before any start_session
        assert await pushed(c, "error") == {
            "event": "error",
            "error": "no terminal on data channel 7",
        }
        await c.conn.send(b"")
        assert (await pushed(c, "error"))["error"] == (
            "a binary frame must start with a data channel byte"
        )
        pid = await new_project(c)
        ch = (await start(c, pid))["data_channel"]
        await type_in(c, ch + 1, "ls\n")
        assert (await pushed(c, "error"))["error"] == f"no terminal on data channel {ch + 1}"
        await type_in(c, ch, "echo ok$((5+5))+\n")  # 17 bytes: one too many
        assert (await pushed(c, "error"))["error"] == (
            f"binary frame too large: 17 bytes of input on data channel {ch} (at most 16)"
        )
        await type_in(c, ch, "echo ok$((5+5))\n")  # 16 bytes: at the limit
        await read_until(c, ch, b"ok10")
        assert (await c.call("ping"))["event"] == "pong"  # the connection lived through it all
    finally:
        await close(c)


async def test_start_session_refusals(connect) -> None:
    owner, _ = await account(connect, "term-owner@example.com")
    stranger, _ = await account(connect, "term-stranger@example.com")
    try:
        pid = await new_project(owner)
        tid = (await start(owner, pid))["session_uuid"]
        for fields in ({}, {"session_uuid": tid}):
            err = await stranger.call(
                "start_session", type="console", project_id=pid, raise_errors=False, **fields
            )
            assert err["event"] == "error" and "write" in err["error"], err
        await type_in(stranger, 1, "echo intruder\n")  # the owner's channel number
        assert (await pushed(stranger, "error"))["error"] == "no terminal on data channel 1"

        async def refused(**fields: Any) -> str:
            reply = await owner.call("start_session", raise_errors=False, **fields)
            assert reply["event"] == "error", reply
            return str(reply["error"])

        assert await refused(type="console", project_id=pid, params={"path": "../"}) == (
            "path '../' is outside the project"
        )
        assert await refused(type="sage", project_id=pid) == (
            "unknown session type 'sage' (only 'console')"
        )
        assert await refused(type="console") == "start_session needs a project_id"
        assert await refused(type="console", project_id=pid, session_uuid="nope") == (
            "session_uuid 'nope' is not a uuid"
        )
        assert await refused(type="console", project_id=pid, session_uuid=tid) == (
            f"this connection is already attached to terminal '{tid}' (data channel 1)"
        )
    finally:
        await close(owner)
        await close(stranger)
    async with connect() as anonymous:
        reply = await anonymous.call(
            "start_session", type="console", project_id=pid, raise_errors=False
        )
        assert reply["event"] == "error"


@pytest.mark.parametrize("hub_overrides", [{"terminals_per_client": 2}])
async def test_terminals_per_connection_limit(connect) -> None:
    c, _ = await account(connect, "term-many@example.com")
    try:
        pid = await new_project(c)
        assert [(await start(c, pid))["data_channel"] for _ in range(2)] == [1, 2]
        err = await c.call("start_session", type="console", project_id=pid, raise_errors=False)
        assert err["error"] == "too many terminals on this connection (at most 2)"
    finally:
        await close(c)


@pytest.mark.parametrize("hub_overrides", [{"stream_max_bytes_per_s": 4000.0}])
async def test_flood_is_truncated_with_a_notice(connect) -> None:
    c, _ = await account(connect, "term-flood@example.com")
    try:
        pid = await new_project(c)
        ch = (await start(c, pid))["data_channel"]
        await type_in(c, ch, "seq 1 100000\n")  # about 600 KB: 150 s at the limit
        seen = await read_until(c, ch, b" bytes per second]\r\n", timeout=15)
        notice = seen[seen.index(b"\r\n[output truncated: ") :]
        assert notice.endswith(
            b" dropped; the limit is 1000 messages and 4000 bytes per second]\r\n"
        )
        await type_in(c, ch, "\x03")
    finally:
        await close(c)


# ------------------------------------------------------------------ a client that never reads


async def _read_frame(raw: RawWebSocket) -> tuple[int, bytes]:
    head = await raw.reader.readexactly(2)
    n = head[1] & 0x7F
    if n == 126:
        n = struct.unpack("!H", await raw.reader.readexactly(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", await raw.reader.readexactly(8))[0]
    return head[0] & 0x0F, await raw.reader.readexactly(n)


async def _raw_until(raw: RawWebSocket, event: str) -> dict[str, Any]:
    async with asyncio.timeout(seconds(10)):
        while True:
            opcode, data = await _read_frame(raw)
            if opcode == 1 and json.loads(data).get("event") == event:
                return dict(json.loads(data))


# a small outbound queue fills fast for the client that stops reading; the output
# rate keeps the reading client (a Python test client on a busy machine) well ahead
@pytest.mark.parametrize(
    "hub_overrides", [{"outbound_queue": 64, "stream_max_messages_per_s": 200}]
)
async def test_client_that_never_reads_is_closed_others_keep_output(hub: Hub, connect) -> None:
    c, _ = await account(connect, "term-slow@example.com")
    raw = await RawWebSocket.open("127.0.0.1", hub.port, rcvbuf=4096)
    try:
        pid = await new_project(c)
        started = await start(c, pid)
        tid, ch = started["session_uuid"], started["data_channel"]
        raw.send_text(
            json.dumps(
                {"event": "sign_in", "email_address": "term-slow@example.com", "password": PASSWORD}
            )
        )
        await _raw_until(raw, "signed_in")
        start_msg = {"event": "start_session", "type": "console", "project_id": pid}
        raw.send_text(json.dumps({**start_msg, "id": "s1", "session_uuid": tid}))
        await _raw_until(raw, "session_started")
        # from now on the raw client reads nothing
        await type_in(c, ch, "yes\n")
        slow = hub.state.metrics.errors.labels("slow_consumer")
        last = time.monotonic()
        longest_gap = 0.0
        async with asyncio.timeout(seconds(15)):
            while slow._value.get() < 1:
                await c.next_binary()
                now = time.monotonic()
                longest_gap, last = max(longest_gap, now - last), now
        assert longest_gap < seconds(2)  # the reading client kept getting output
        await type_in(c, ch, "\x03")
        # let `yes` die and its backlog pass, so the rate limit has room for the echo
        async with asyncio.timeout(seconds(20)):
            while True:
                try:
                    await asyncio.wait_for(c.next_binary(), 0.5)
                except TimeoutError:
                    break
        await type_in(c, ch, "echo after$((6+6))\n")
        await read_until(c, ch, b"after12", timeout=10)
        # the stuck client gets, once it reads again, its backlog and then close code 4008
        async with asyncio.timeout(seconds(10)):
            while True:
                opcode, data = await _read_frame(raw)
                if opcode == 8:
                    assert struct.unpack("!H", data[:2])[0] == 4008
                    break
        await eventually(lambda: len(hub.sessions) == 1, 10)
    finally:
        raw.close()
        await close(c)


# ------------------------------------------------------------------ endings of an attachment


async def test_terminal_outlives_its_clients_and_the_link(hub: Hub, connect) -> None:
    c, _ = await account(connect, "term-life@example.com")
    try:
        pid = await new_project(c)
        started = await start(c, pid)
        tid, ch = started["session_uuid"], started["data_channel"]
        async with connect() as other:
            await other.sign_in("term-life@example.com", PASSWORD)
            och = (await start(other, pid, session_uuid=tid))["data_channel"]
            await type_in(other, och, "X=21\n")
        # the other connection closed: only it was detached
        await type_in(c, ch, "echo x$((X*2))\n")
        await read_until(c, ch, b"x42")
        # the hub loses its link to the project: the client is told, the shell runs on
        conn = await hub.state.projects.get(uuid.UUID(pid))
        await conn.close()
        detached = await pushed(c, "terminal_detached")
        assert detached["session_uuid"] == tid and detached["data_channel"] == ch
        assert "lost the connection to project" in detached["reason"]
        again = await start(c, pid, session_uuid=tid)
        await type_in(c, again["data_channel"], "echo y$((X*3))\n")
        await read_until(c, again["data_channel"], b"y63")
        await type_in(c, again["data_channel"], "sleep 0.3; echo late$((X+1))\n")
    finally:
        await close(c)
    # nobody is attached while it prints; a new connection finds it in the scrollback
    async with connect() as back:
        await back.sign_in("term-life@example.com", PASSWORD)
        ch = (await start(back, pid, session_uuid=tid))["data_channel"]
        await read_until(back, ch, b"late22")


@pytest.mark.parametrize("hub_overrides", [{"project_access_cache_s": 0.0}])
async def test_signed_out_or_removed_clients_are_detached(connect) -> None:
    owner, _ = await account(connect, "term-rm-own@example.com")
    friend, friend_me = await account(connect, "term-rm-friend@example.com")
    try:
        pid = await new_project(owner)
        await owner.call("invite_collaborator", project_id=pid, account_id=friend_me["account_id"])
        a = await start(owner, pid)
        tid, ach = a["session_uuid"], a["data_channel"]
        fch = (await start(friend, pid, session_uuid=tid))["data_channel"]
        await owner.call("remove_collaborator", project_id=pid, account_id=friend_me["account_id"])
        await type_in(owner, ach, "echo gone$((1+1))\n")
        await read_until(owner, ach, b"gone2")
        detached = await pushed(friend, "terminal_detached")
        assert detached == {
            "event": "terminal_detached",
            "session_uuid": tid,
            "data_channel": fch,
            "reason": "no write access to the project",
        }
        await type_in(friend, fch, "echo sneaky\n")
        assert (await pushed(friend, "error"))["error"] == f"no terminal on data channel {fch}"
        # signing out ends the owner's attachment too
        await owner.call("sign_out")
        await type_in(owner, ach, "echo after sign-out\n")
        assert (await pushed(owner, "terminal_detached"))["reason"] == "signed out"
        assert (await pushed(owner, "error"))["error"] == f"no terminal on data channel {ach}"
    finally:
        await close(owner)
        await close(friend)


async def test_clients_on_two_hubs_share_a_terminal(hub: Hub, connect) -> None:
    c, _ = await account(connect, "term-two-hubs@example.com")
    second = Hub(hub.state.settings)  # same database and projects, another port
    await second.start()
    try:
        pid = await new_project(c)
        started = await start(c, pid)
        tid, ch = started["session_uuid"], started["data_channel"]
        await type_in(c, ch, "echo one$((0+1))\n")
        await read_until(c, ch, b"one1")
        url = f"ws://127.0.0.1:{second.port}/hub"
        async with HubClient.connect(url, timeout=seconds(10)) as other:
            await other.sign_in("term-two-hubs@example.com", PASSWORD)
            och = (await start(other, pid, session_uuid=tid))["data_channel"]
            await read_until(other, och, b"one1")  # the scrollback, through the other hub
            await type_in(other, och, "echo two$((1+1))\n")
            await read_until(other, och, b"two2")
            await read_until(c, ch, b"two2")
            await type_in(c, ch, "echo three$((1+2))\n")
            await read_until(other, och, b"three3")
    finally:
        await second.stop()
        await close(c)
