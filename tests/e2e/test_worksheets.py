"""Worksheets over the WebSocket: a real hub, real local hubs, real worker processes."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from typing import Any

import pytest

from tests.e2e.test_projects import account, close, new_project
from tests.fixtures.hub import basic_auth
from tests.fixtures.timeouts import seconds

LOOP = "import time\nfor i in range(5):\n    print(i)\n    time.sleep(0.4)"


class Stream:
    """One sagews_execute_code call read part by part (acking each part unless told not to)."""

    def __init__(self, client: Any, pid: str, path: str, code: str, ack: bool = True) -> None:
        self.client = client
        self.pid = pid
        self.id = str(uuid.uuid4())
        self.ack = ack
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        client._waiting[self.id] = self.queue
        self.message = {
            "event": "sagews_execute_code",
            "id": self.id,
            "project_id": pid,
            "path": path,
            "code": code,
        }

    async def send(self) -> Stream:
        await self.client.send(self.message)
        return self

    async def next(self, timeout: float = 20) -> dict[str, Any]:
        part = await asyncio.wait_for(self.queue.get(), seconds(timeout))
        if self.ack and part.get("multi_response"):
            await self.send_ack()
        return part

    async def send_ack(self) -> None:
        await self.client.send(
            {"event": "sagews_output_ack", "id": self.id, "project_id": self.pid}
        )

    async def rest(self, timeout: float = 20) -> list[dict[str, Any]]:
        parts = [await self.next(timeout)]
        while parts[-1].get("multi_response"):
            parts.append(await self.next(timeout))
        self.client._waiting.pop(self.id, None)
        return parts


async def run(client: Any, pid: str, path: str, code: str) -> list[dict[str, Any]]:
    return await (await Stream(client, pid, path, code).send()).rest()


def text(parts: list[dict[str, Any]], key: str = "stdout") -> str:
    return "".join(str(p.get("output", {}).get(key, "")) for p in parts)


async def test_streaming_order_and_first_output_before_the_loop_ends(connect) -> None:
    c, _ = await account(connect, "ws-stream@example.com")
    try:
        pid = await new_project(c)
        started = await c.call("sagews_start", project_id=pid, path="w.sagews")
        assert started == {"event": "success", "id": started["id"]}
        t0 = time.monotonic()
        stream = await Stream(c, pid, "w.sagews", LOOP).send()
        first = await stream.next()
        first_at = time.monotonic() - t0
        assert first["event"] == "sagews_output" and first["multi_response"] is True
        assert first["id"] == stream.id and first["path"] == "w.sagews"
        assert first["output"]["stdout"].startswith("0")
        parts = [first, *(await stream.rest())]
        total = time.monotonic() - t0
        assert first_at < total - 1.0  # the first number came while the loop still ran
        assert text(parts) == "0\n1\n2\n3\n4\n"
        assert parts[-1]["output"] == {"done": True} and "multi_response" not in parts[-1]
    finally:
        await close(c)


async def test_namespace_persists_and_cells_run_in_order(connect) -> None:
    c, _ = await account(connect, "ws-order@example.com")
    try:
        pid = await new_project(c)
        await run(c, pid, "w.sagews", "seen = []")
        slow = await Stream(c, pid, "w.sagews", "import time\ntime.sleep(1)\nseen.append(1)").send()
        fast = await Stream(c, pid, "w.sagews", "seen.append(2)\nprint(seen)").send()
        assert (await slow.rest())[-1]["output"]["done"] is True
        assert text(await fast.rest()) == "[1, 2]\n"
    finally:
        await close(c)


async def test_two_worksheets_run_in_parallel(connect) -> None:
    c, _ = await account(connect, "ws-parallel@example.com")
    try:
        pid = await new_project(c)
        code = "import time\nprint('sleeping')\ntime.sleep(30)"
        sleeper = await Stream(c, pid, "a.sagews", code).send()
        assert (await sleeper.next())["output"]["stdout"].startswith("sleeping")
        t0 = time.monotonic()
        assert text(await run(c, pid, "b.sagews", "print('b')")) == "b\n"
        assert time.monotonic() - t0 < 10
        await c.call("sagews_quit", project_id=pid, path="a.sagews")
        last = (await sleeper.rest())[-1]
        assert "stopped" in last["output"]["stderr"], last
    finally:
        await close(c)


async def test_interrupt_keeps_the_namespace(connect) -> None:
    c, _ = await account(connect, "ws-interrupt@example.com")
    try:
        pid = await new_project(c)
        await run(c, pid, "w.sagews", "x = 'kept'")
        stream = await Stream(c, pid, "w.sagews", "import time\nprint('in')\ntime.sleep(60)").send()
        await stream.next()
        reply = await c.call("sagews_interrupt", project_id=pid, path="w.sagews")
        assert reply["event"] == "success"
        parts = await stream.rest()
        assert "KeyboardInterrupt" in text(parts, "stderr") and parts[-1]["output"]["done"]
        assert text(await run(c, pid, "w.sagews", "print(x)")) == "kept\n"
    finally:
        await close(c)


async def test_quit_then_restart_and_crash_then_restart(connect) -> None:
    c, _ = await account(connect, "ws-quit@example.com")
    try:
        pid = await new_project(c)
        await run(c, pid, "w.sagews", "y = 1")
        assert (await c.call("sagews_quit", project_id=pid, path="w.sagews"))["event"] == "success"
        assert text(await run(c, pid, "w.sagews", "print('y' in dir())")) == "False\n"
        parts = await run(c, pid, "w.sagews", "import os\nos._exit(1)")
        assert parts[-1]["output"]["done"] is True
        assert "ended unexpectedly (exit code 1)" in parts[-1]["output"]["stderr"]
        assert (await c.call("sagews_start", project_id=pid, path="w.sagews"))["event"] == "success"
        assert text(await run(c, pid, "w.sagews", "print(2 + 2)")) == "4\n"
    finally:
        await close(c)


@pytest.mark.parametrize(
    "hub_overrides", [{"max_concurrent_handlers": 3, "worksheet_output_window": 2}]
)
async def test_acks_pass_cells_queued_in_every_handler_slot(connect) -> None:
    c, _ = await account(connect, "ws-slots@example.com")
    try:
        pid = await new_project(c)
        code = "import time\nfor i in range(6):\n    print(i)\n    time.sleep(0.01)"
        streams = [await Stream(c, pid, "w.sagews", code).send() for _ in range(5)]
        for stream in streams:
            parts = await stream.rest()
            assert text(parts) == "".join(f"{i}\n" for i in range(6))
    finally:
        await close(c)


@pytest.mark.parametrize(
    "hub_overrides", [{"max_concurrent_handlers": 4, "worksheet_cells_per_client": 2}]
)
async def test_cells_per_client_leave_room_for_an_interrupt(connect) -> None:
    c, _ = await account(connect, "ws-cells@example.com")
    try:
        pid = await new_project(c)
        code = "import time\nprint('go')\ntime.sleep(60)"
        running = await Stream(c, pid, "w.sagews", code).send()
        await running.next()
        queued = await Stream(c, pid, "w.sagews", "print('next')").send()
        refused = await Stream(c, pid, "w.sagews", "1").send()
        error = await refused.next()
        assert error["event"] == "error" and "at most 2" in error["error"]
        assert (await c.call("sagews_interrupt", project_id=pid, path="w.sagews"))["event"] == (
            "success"
        )
        assert "KeyboardInterrupt" in text(await running.rest(), "stderr")
        assert text(await queued.rest()) == "next\n"
        assert text(await run(c, pid, "w.sagews", "print('again')")) == "again\n"
    finally:
        await close(c)


@pytest.mark.parametrize("hub_overrides", [{"worksheet_output_window": 5}])
async def test_flow_control_window_and_ack(connect) -> None:
    c, _ = await account(connect, "ws-flow@example.com")
    try:
        pid = await new_project(c)
        code = "import time\nfor i in range(40):\n    print(i)\n    time.sleep(0.005)"
        stream = await Stream(c, pid, "w.sagews", code, ack=False).send()
        got = [await stream.next() for _ in range(5)]
        assert all(p["multi_response"] for p in got)
        with pytest.raises(TimeoutError):
            await stream.next(timeout=0.7)
        await stream.send_ack()
        got.append(await stream.next())  # more arrive after the ack
        stream.ack = True
        await stream.send_ack()
        got += await stream.rest()
        assert text(got) == "".join(f"{i}\n" for i in range(40))
    finally:
        await close(c)


async def test_matplotlib_figure_is_a_downloadable_blob(connect, http, http_url) -> None:
    c, me = await account(connect, "ws-plot@example.com")
    other, other_me = await account(connect, "ws-plot-other@example.com")
    try:
        pid = await new_project(c)
        code = "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nprint('plotted')"
        parts = await run(c, pid, "plots/../w.sagews", code)
        (file,) = [p["output"]["file"] for p in parts if "file" in p["output"]]
        assert file["filename"] == "figure-1.png" and file["url"] == f"/blobs/{file['uuid']}"
        async with http.get(f"{http_url}{file['url']}", headers=basic_auth(me["api_key"])) as r:
            assert r.status == 200
            assert (await r.read()).startswith(b"\x89PNG\r\n\x1a\n")
        async with http.get(
            f"{http_url}{file['url']}", headers=basic_auth(other_me["api_key"])
        ) as r:
            assert r.status == 404
        # the figure was closed: the next cell shows none
        parts = await run(c, pid, "w.sagews", "print(len(plt.get_fignums()))")
        assert text(parts) == "0\n"
    finally:
        await close(c)
        await close(other)


async def next_javascript(client: Any, timeout: float) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            push = await client.next_push()
            if push.get("event") == "execute_javascript":
                return push


async def test_execute_javascript_reaches_project_users_only(connect) -> None:
    owner, _ = await account(connect, "ws-js-owner@example.com")
    friend, friend_me = await account(connect, "ws-js-friend@example.com")
    stranger, _ = await account(connect, "ws-js-stranger@example.com")
    try:
        pid = await new_project(owner)
        await owner.call("invite_collaborator", project_id=pid, account_id=friend_me["account_id"])
        await friend.call("sagews_start", project_id=pid, path="f.sagews")
        await run(stranger, await new_project(stranger), "s.sagews", "1")
        await run(owner, pid, "w.sagews", "execute_javascript('alert(obj.n)', {'n': 7})")
        for client in (owner, friend):
            push = await next_javascript(client, seconds(10))
            assert push == {"event": "execute_javascript", "code": "alert(obj.n)", "obj": {"n": 7}}
        with pytest.raises(TimeoutError):
            await next_javascript(stranger, seconds(0.5))
    finally:
        for c in (owner, friend, stranger):
            await close(c)


# ----------------------------------------------------------------------------- break-in


@pytest.mark.parametrize(
    "hub_overrides", [{"stream_max_messages_per_s": 50, "stream_max_bytes_per_s": 100_000}]
)
async def test_a_cell_that_prints_forever(connect) -> None:
    c, _ = await account(connect, "ws-forever@example.com")
    try:
        pid = await new_project(c)
        await run(c, pid, "w.sagews", "z = 5")
        stream = await Stream(c, pid, "w.sagews", "while True:\n    print('spam' * 50)").send()
        parts: list[dict[str, Any]] = []
        t0 = time.monotonic()
        with contextlib.suppress(TimeoutError):  # the project's cap per cell may end it sooner
            while time.monotonic() - t0 < 1.5:
                parts.append(await stream.next(timeout=1))
        elapsed = time.monotonic() - t0
        count = sum("stdout" in p["output"] for p in parts)
        assert 0 < count <= 50 * (1 + elapsed) + 1  # one second's burst, then the rate
        assert "output truncated" in text(parts, "stderr")
        reply = await c.call("sagews_interrupt", project_id=pid, path="w.sagews")
        assert reply["event"] == "success"
        parts = await stream.rest()
        assert parts[-1]["output"]["done"] is True
        assert "KeyboardInterrupt" in text(parts, "stderr")
        assert text(await run(c, pid, "w.sagews", "print(z)")) == "5\n"
    finally:
        await close(c)


async def test_paths_outside_the_project_and_missing_project(connect) -> None:
    c, _ = await account(connect, "ws-paths@example.com")
    try:
        pid = await new_project(c)
        for path in ("../../etc/x.sagews", "/etc/x.sagews", "/tmp/x.sagews"):
            for event in ("sagews_start", "sagews_execute_code"):
                reply = await c.call(event, project_id=pid, path=path, code="1", raise_errors=False)
                assert reply["event"] == "error" and "outside the project" in reply["error"]
                assert "id" in reply
        reply = await c.call("sagews_start", path="w.sagews", raise_errors=False)
        assert reply["event"] == "error" and reply["error"] == "project_id is required"
        reply = await c.call("sagews_execute_code", path="w.sagews", code="1", raise_errors=False)
        assert reply["error"] == "project_id is required"
        await c.send({"event": "sagews_execute_code", "project_id": pid, "path": "w", "code": "1"})
        reply = await c.next_push()
        while reply.get("event") != "error":
            reply = await c.next_push()
        assert reply["error"] == "sagews_execute_code needs an id"
    finally:
        await close(c)


async def test_a_non_collaborator_is_refused(connect) -> None:
    owner, _ = await account(connect, "ws-own@example.com")
    other, other_me = await account(connect, "ws-other@example.com")
    try:
        pid = await new_project(owner)
        for event in ("sagews_start", "sagews_execute_code", "sagews_interrupt", "sagews_quit"):
            reply = await other.call(
                event, project_id=pid, path="w.sagews", code="1", raise_errors=False
            )
            assert reply["error"] == (
                f"User {other_me['account_id']} does not have write access to project {pid}"
            )
    finally:
        await close(owner)
        await close(other)
