"""The link against a real daemon: start-up files, handshake, several hubs, heartbeats, framing."""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import time
from pathlib import Path

import pytest

from hub.local_hub.framing import encode_json
from hub.local_hub.link import REFUSED_TEXT, Link, LinkClosed, LinkRefused, accept, keepalive
from tests.fixtures.local_hub import (
    HubSide,
    LocalHub,
    RunningDaemon,
    local_hub,
    local_hub_args,
    local_hub_daemon,
    process_gone,
    start_local_hub,
)
from tests.fixtures.timeouts import eventually, seconds

FIXTURES = (local_hub, local_hub_args, local_hub_daemon)  # until tests/conftest.py lists them


async def raw(hub: LocalHub) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(hub.host, hub.port)


async def read_to_eof(reader: asyncio.StreamReader, timeout: float = 10) -> bytes:
    async with asyncio.timeout(seconds(timeout)):
        return await reader.read()


# ----------------------------------------------------------------------------- start-up


async def test_start_up_files(local_hub: LocalHub) -> None:
    smc = local_hub.home / ".smc"
    assert stat.S_IMODE(smc.stat().st_mode) == 0o700
    token_file = smc / "secret_token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    token = token_file.read_text()
    assert len(token) == 64
    assert all(c.isalnum() or c in "-_" for c in token)
    assert int((smc / "hub-server.port").read_text()) == local_hub.port
    assert (smc / "local-hub.pid").read_text().strip().isdigit()


async def test_token_is_kept_across_restarts_and_port_file_removed_at_stop(
    tmp_path: Path,
) -> None:
    home = tmp_path / "p"
    async with start_local_hub(home) as first:
        token = first.hub.token
    assert not (home / ".smc" / "hub-server.port").exists()
    async with start_local_hub(home) as second:
        assert second.hub.token == token
        async with second.hub.client() as hub:
            assert (await hub.call({"event": "ping"}))["event"] == "pong"


async def test_a_second_daemon_on_the_same_home_exits_1(local_hub_daemon: RunningDaemon) -> None:
    import sys

    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hub.local_hub",
        "--home",
        str(local_hub_daemon.hub.home),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), seconds(10))
    assert proc.returncode == 1
    assert b"another local hub is serving" in err
    async with local_hub_daemon.hub.client() as hub:  # the first one is unharmed
        assert (await hub.call({"event": "ping"}))["event"] == "pong"


async def test_a_symlinked_smc_directory_is_refused(tmp_path: Path) -> None:
    import sys

    home = tmp_path / "p"
    home.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (home / ".smc").symlink_to(tmp_path / "elsewhere")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub.local_hub", "--home", str(home),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), seconds(10))
    assert proc.returncode == 1
    assert b"is a symbolic link" in err
    assert not os.listdir(tmp_path / "elsewhere")


# ----------------------------------------------------------------------------- handshake


async def test_handshake_and_ping(local_hub: LocalHub) -> None:
    async with local_hub.client() as hub:
        before = time.time()
        reply = await hub.call({"event": "ping", "id": "p-1"})
        assert reply["event"] == "pong"
        assert reply["id"] == "p-1"
        assert before - 1 <= reply["now"] <= time.time() + 1


async def test_wrong_token_is_refused(local_hub: LocalHub) -> None:
    with pytest.raises(LinkRefused) as caught:
        await Link.connect(local_hub.host, local_hub.port, "x" * 64, timeout=seconds(10))
    assert str(caught.value) == REFUSED_TEXT
    reader, writer = await raw(local_hub)
    writer.write(b"y" * len(local_hub.token))
    assert await read_to_eof(reader) == b"nInvalid secret token."
    writer.close()


async def test_short_token_then_close_is_not_accepted(local_hub: LocalHub) -> None:
    reader, writer = await raw(local_hub)
    writer.write(local_hub.token[:-1].encode())
    writer.write_eof()
    assert await read_to_eof(reader) == b""
    writer.close()


@pytest.mark.parametrize("local_hub_args", [("--handshake-timeout-s", "0.3")])
async def test_no_token_in_time_is_refused(local_hub: LocalHub) -> None:
    reader, writer = await raw(local_hub)
    assert await read_to_eof(reader) == b"nInvalid secret token."
    writer.close()


async def test_frames_pipelined_behind_the_token(local_hub: LocalHub) -> None:
    reader, writer = await raw(local_hub)
    writer.write(local_hub.token.encode() + encode_json(b'{"event":"ping","id":"early"}'))
    link = Link(reader, writer)
    async with asyncio.timeout(seconds(10)):
        assert await reader.readexactly(1) == b"y"
        frame = await link.receive()
    assert b'"id":"early"' in frame.payload  # type: ignore[union-attr]
    await link.wait_closed()


async def test_connection_refused_is_a_link_error(tmp_path: Path) -> None:
    from hub.local_hub.link import LinkError

    with pytest.raises(LinkError, match="cannot connect"):
        await Link.connect("127.0.0.1", 1, "t" * 64, timeout=seconds(5))


# ----------------------------------------------------------------------------- several hubs


async def test_two_hubs_at_once(local_hub: LocalHub) -> None:
    async with local_hub.client() as a, local_hub.client() as b:
        ra, rb = await asyncio.gather(
            a.call({"event": "project_exec", "id": "same", "command": "echo", "args": ["a"]}),
            b.call({"event": "project_exec", "id": "same", "command": "echo", "args": ["b"]}),
        )
        assert (ra["stdout"], rb["stdout"]) == ("a\n", "b\n")
        await a.close()
        assert (await b.call({"event": "ping"}))["event"] == "pong"


async def test_concurrent_calls_on_one_link_are_matched_by_id(local_hub: LocalHub) -> None:
    async with local_hub.client() as hub:
        calls = [
            {
                "event": "project_exec",
                "id": f"call-{i}",
                "command": f"sleep 0.{(7 * i) % 10}; echo {i}",
            }
            for i in range(20)
        ]
        ids = [await hub.send(c) for c in calls]
        replies = await asyncio.gather(*(hub.next_reply(i) for i in ids))
        for i, reply in enumerate(replies):
            assert reply["id"] == f"call-{i}"
            assert reply["stdout"] == f"{i}\n"


@pytest.mark.parametrize("local_hub_args", [("--max-concurrent-requests", "2")])
async def test_requests_beyond_the_limit_are_refused_at_once(local_hub: LocalHub) -> None:
    async with local_hub.client() as hub:
        slow = {"event": "project_exec", "command": "sleep 0.5; echo done"}
        first, second = await hub.send(dict(slow)), await hub.send(dict(slow))
        reply = await hub.call({"event": "ping"}, timeout=5)
        assert reply["error"] == "too many requests running on this link (at most 2)"
        assert (await hub.next_reply(first))["stdout"] == "done\n"
        assert (await hub.next_reply(second))["stdout"] == "done\n"
        assert (await hub.call({"event": "ping"}))["event"] == "pong"


# ----------------------------------------------------------------------------- heartbeats


@pytest.mark.parametrize("local_hub_args", [("--heartbeat-s", "0.3")])
async def test_a_silent_hub_is_dropped(local_hub: LocalHub) -> None:
    reader, writer = await raw(local_hub)
    writer.write(local_hub.token.encode())
    assert await reader.readexactly(1) == b"y"
    started = time.monotonic()
    rest = await read_to_eof(reader)
    silent_for = time.monotonic() - started
    assert rest.count(b"heartbeat") >= 1  # it told us it was alive meanwhile
    assert 0.4 <= silent_for <= seconds(3)
    writer.close()


@pytest.mark.parametrize("local_hub_args", [("--heartbeat-s", "0.5")])
async def test_a_hub_that_sends_heartbeats_stays(local_hub: LocalHub) -> None:
    async with local_hub.client() as hub:
        # Our own heartbeats every 0.2 s; we are patient about the daemon's (every 0.5 s).
        beat = asyncio.ensure_future(keepalive(hub.link, 0.2, silent_after_s=seconds(10)))
        try:
            await eventually(lambda: len(hub.unsolicited) >= 3, 10)  # 2 silence windows
            assert all(m == {"event": "heartbeat"} for m in hub.unsolicited)
            assert not hub.closed.is_set()
            assert (await hub.call({"event": "ping"}))["event"] == "pong"
        finally:
            beat.cancel()


async def test_keepalive_drops_a_silent_daemon() -> None:
    token = b"s" * 32

    async def silent_daemon(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        link = await accept(r, w, token)
        with contextlib.suppress(LinkClosed):
            while True:  # read, never write
                await link.receive()
        await link.wait_closed()

    server = await asyncio.start_server(silent_daemon, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        link = await Link.connect("127.0.0.1", port, token, timeout=seconds(5))
        started = time.monotonic()
        assert await asyncio.wait_for(keepalive(link, 0.2), seconds(5)) == "silent"
        assert time.monotonic() - started >= 0.29
        assert link.closed
        with pytest.raises(LinkClosed):
            await link.receive()
    finally:
        server.close()
        await server.wait_closed()


# ----------------------------------------------------------------------------- messages


async def test_unknown_event_names_the_project(local_hub: LocalHub) -> None:
    async with local_hub.client() as hub:
        reply = await hub.call({"event": "stripe_get_customer", "project_id": "p-123"})
        assert reply["error"] == (
            "Project p-123 does not implement handling mesg with event='stripe_get_customer'"
        )
        reply = await hub.call({"event": "nonsense"})
        assert reply["event"] == "error"
        assert reply["error"] == (
            f"Project {local_hub.home} does not implement handling mesg with event='nonsense'"
        )


async def test_invalid_json_is_answered_and_skipped(local_hub: LocalHub) -> None:
    async with local_hub.client() as hub:
        await hub.link.send(b"{not json")
        await hub.link.send(b'{"event":"error","id":"x","error":"from the hub"}')
        assert (await hub.call({"event": "ping"}))["event"] == "pong"
        await eventually(lambda: bool(hub.unsolicited), 5)
        assert hub.unsolicited == [{"event": "error", "error": "invalid JSON message"}]
        assert hub.queue("x").empty()  # an error is never answered


async def test_a_known_event_with_bad_fields(local_hub: LocalHub) -> None:
    async with local_hub.client() as hub:
        reply = await hub.call({"event": "project_exec", "args": ["x"]})
        assert reply["event"] == "error"
        assert reply["error"].startswith("invalid 'project_exec' message:")
        assert "command" in reply["error"]


@pytest.mark.parametrize("local_hub_args", [("--max-frame-bytes", "1000")])
async def test_an_oversized_frame_closes_only_that_link(local_hub: LocalHub) -> None:
    async with local_hub.client() as good:
        reader, writer = await raw(local_hub)
        writer.write(local_hub.token.encode() + (1001).to_bytes(4, "big") + b"j")
        assert (await read_to_eof(reader)).startswith(b"y")
        writer.close()
        assert (await good.call({"event": "ping"}))["event"] == "pong"
        await good.link.send(b'{"event":"ping","id":"' + b"9" * 900 + b'"}')  # 925 bytes
        assert (await good.next_reply("9" * 900))["event"] == "pong"


async def _start_sleeper(hub: HubSide, home: Path) -> int:
    await hub.send(
        {"event": "project_exec", "command": "echo $$ > pid; exec sleep 100", "timeout": 60}
    )
    await eventually(lambda: (home / "pid").exists() and bool((home / "pid").read_text()), 10)
    return int((home / "pid").read_text())


async def test_closing_the_link_kills_its_running_commands(local_hub: LocalHub) -> None:
    async with local_hub.client() as hub:
        pid = await _start_sleeper(hub, local_hub.home)
    await eventually(lambda: process_gone(pid), 10)


async def test_stopping_the_daemon_kills_running_commands(tmp_path: Path) -> None:
    home = tmp_path / "p"
    async with start_local_hub(home) as daemon:
        hub = HubSide(await daemon.hub.connect())
        pid = await _start_sleeper(hub, home)
    await eventually(lambda: process_gone(pid), 10)
    await asyncio.wait_for(hub.closed.wait(), seconds(5))
    await hub.close()
