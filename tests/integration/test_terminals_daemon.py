"""Terminals in a real daemon over a real link: pty, scrollback, several links, exit."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.fixtures.local_hub import (
    HubSide,
    LocalHub,
    local_hub,
    local_hub_args,
    local_hub_daemon,
)
from tests.fixtures.timeouts import eventually

FIXTURES = (local_hub, local_hub_args, local_hub_daemon)


def output(side: HubSide, session_uuid: str) -> bytes:
    return bytes(side.blobs.get(session_uuid, b""))


async def start(side: HubSide, session_uuid: str, **params: Any) -> tuple[dict[str, Any], bytes]:
    """start_session; the reply and the scrollback blob (named by the call id)."""
    call_id = str(uuid.uuid4())
    reply = await side.call(
        {
            "event": "start_session",
            "id": call_id,
            "type": "console",
            "session_uuid": session_uuid,
            "params": params,
        }
    )
    return reply, bytes(side.blobs.pop(call_id, b""))


async def type_in(side: HubSide, session_uuid: str, text: str) -> None:
    await side.link.send_blob(session_uuid, text.encode())


async def test_echo_scrollback_and_second_link(local_hub: LocalHub) -> None:
    tid = str(uuid.uuid4())
    async with local_hub.client() as a:
        reply, scrollback = await start(a, tid, command="bash", args=["--norc", "-i"])
        assert reply["event"] == "session_started" and reply["session_uuid"] == tid
        assert reply["limits"]["scrollback_bytes"] == 256 * 1024
        await type_in(a, tid, "echo hi$((20+22))\n")
        await eventually(lambda: b"hi42" in output(a, tid), 10)
        async with local_hub.client() as b:
            reply, scrollback = await start(b, tid)
            assert reply["event"] == "session_started"
            assert b"hi42" in scrollback  # replayed to the new link
            await type_in(b, tid, "echo from$((1+1))b\n")
            await eventually(lambda: b"from2b" in output(a, tid), 10)
            await eventually(lambda: b"from2b" in output(b, tid), 10)
            assert b"hi42" not in output(b, tid)  # only in the scrollback, not twice
        # b's link is gone; a still gets output
        await type_in(a, tid, "echo still$((2+2))\n")
        await eventually(lambda: b"still4" in output(a, tid), 10)


async def test_resize_exit_and_reuse(local_hub: LocalHub) -> None:
    tid = str(uuid.uuid4())
    async with local_hub.client() as a:
        reply, _ = await start(a, tid, command="bash", args=["--norc", "-i"], rows=30, cols=100)
        await type_in(a, tid, "stty size\n")
        await eventually(lambda: b"30 100" in output(a, tid), 10)
        resized = await a.call(
            {"event": "terminal_resize", "session_uuid": tid, "rows": 40, "cols": 120}
        )
        assert resized["event"] == "success"
        await type_in(a, tid, "stty size\n")
        await eventually(lambda: b"40 120" in output(a, tid), 10)
        bad = await a.call({"event": "terminal_resize", "session_uuid": tid, "rows": 0, "cols": 5})
        assert bad["error"] == "rows and cols must be between 1 and 1000"
        await type_in(a, tid, "exit 7\n")
        await eventually(lambda: any(m["event"] == "terminal_exit" for m in a.unsolicited), 10)
        exit_msg = next(m for m in a.unsolicited if m["event"] == "terminal_exit")
        assert exit_msg == {"event": "terminal_exit", "session_uuid": tid, "exit_code": 7}
        # late input for the ended terminal is swallowed; the uuid can start a new one
        await type_in(a, tid, "ignored\n")
        reply, scrollback = await start(a, tid, command="echo", args=["again"])
        assert reply["event"] == "session_started" and b"hi" not in scrollback


async def test_bad_requests(local_hub: LocalHub) -> None:
    async with local_hub.client() as a:
        reply, _ = await start(a, str(uuid.uuid4()), path="..")
        assert reply["error"] == "path '..' is outside the project"
        reply, _ = await start(a, str(uuid.uuid4()), path=".smc")
        assert "private .smc directory" in reply["error"]
        reply, _ = await start(a, str(uuid.uuid4()), command="/no/such/program")
        assert reply["error"].startswith("could not start '/no/such/program'")
        reply, _ = await start(a, "short")
        assert reply["error"] == "session_uuid must be a uuid (36 ASCII characters)"
        reply = await a.call(
            {"event": "start_session", "id": str(uuid.uuid4()), "type": "sage", "session_uuid": "x"}
        )
        assert reply["error"] == "unknown session type 'sage' (only 'console')"
        reply = await a.call(
            {"event": "terminal_resize", "session_uuid": "x", "rows": 1, "cols": 1}
        )
        assert reply["error"] == "no terminal session 'x'"


@pytest.mark.parametrize("local_hub_args", [("--max-terminals", "1")])
async def test_max_terminals(local_hub: LocalHub) -> None:
    async with local_hub.client() as a:
        reply, _ = await start(a, str(uuid.uuid4()), command="sleep", args=["30"])
        assert reply["event"] == "session_started"
        reply, _ = await start(a, str(uuid.uuid4()), command="sleep", args=["30"])
        assert reply["error"] == "too many terminals in this project (at most 1)"


@pytest.mark.parametrize("local_hub_args", [("--terminal-scrollback-bytes", "1000")])
async def test_scrollback_is_bounded(local_hub: LocalHub) -> None:
    tid = str(uuid.uuid4())
    async with local_hub.client() as a:
        await start(a, tid, command="bash", args=["-c", "seq 1 5000; echo END; sleep 30"])
        await eventually(lambda: b"END" in output(a, tid), 10)
    async with local_hub.client() as b:
        _, scrollback = await start(b, tid)
        assert len(scrollback) == 1000 and scrollback.endswith(b"END\r\n")


async def test_detach_stops_output_to_that_link(local_hub: LocalHub) -> None:
    tid = str(uuid.uuid4())
    async with local_hub.client() as a:
        await start(a, tid, command="bash", args=["--norc", "-i"])
        detached = await a.call({"event": "terminal_detach", "session_uuid": tid})
        assert detached["event"] == "success"
        seen = len(output(a, tid))
        async with local_hub.client() as b:
            await start(b, tid)
            await type_in(b, tid, "echo after$((3+3))\n")
            await eventually(lambda: b"after6" in output(b, tid), 10)
        assert (await a.call({"event": "ping"}))["event"] == "pong"
        assert b"after6" not in output(a, tid) and len(output(a, tid)) == seen
