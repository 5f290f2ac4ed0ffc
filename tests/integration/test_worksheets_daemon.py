"""Worksheets in a real daemon with real worker processes, seen from a hub's side of the link."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.local_hub import (
    HubSide,
    LocalHub,
    local_hub,
    local_hub_args,
    local_hub_daemon,
    process_gone,
    start_local_hub,
)
from tests.fixtures.timeouts import eventually, seconds

FIXTURES = (local_hub, local_hub_args, local_hub_daemon)


def execute(path: str, code: str, **fields: Any) -> dict[str, Any]:
    return {"event": "sagews_execute_code", "path": path, "code": code, **fields}


def text(parts: list[dict[str, Any]], key: str = "stdout") -> str:
    return "".join(str(p["output"].get(key, "")) for p in parts)


async def test_cell_streams_and_namespace_persists(local_hub: LocalHub) -> None:
    async with local_hub.client() as side:
        start = await side.call({"event": "sagews_start", "path": "a.sagews"})
        assert start["event"] == "success"
        parts = await side.stream(execute("a.sagews", "x = 41\nprint('hi')\nx + 1"))
        assert parts[-1]["output"] == {"done": True}
        assert "multi_response" not in parts[-1]
        assert all(p["multi_response"] for p in parts[:-1])
        assert text(parts) == "hi\n42\n"
        assert all(p["event"] == "sagews_output" and p["path"] == "a.sagews" for p in parts)
        parts = await side.stream(execute("a.sagews", "import os\nprint(x, os.getcwd())"))
        assert text(parts) == f"41 {local_hub.home}\n"


async def test_error_traceback_and_helpers(local_hub: LocalHub) -> None:
    (local_hub.home / "sub").mkdir()
    (local_hub.home / "sub" / "pic.bin").write_bytes(b"\x00\x01data")
    async with local_hub.client() as side:
        parts = await side.stream(execute("sub/w.sagews", "def f():\n    1/0\nf()"))
        err = text(parts, "stderr")
        assert "ZeroDivisionError" in err and "f()" in err and "worksheet_worker" not in err
        code = "html('<b>x</b>'); md('*m*'); tex('x^2'); show_file('pic.bin')\nimport os"
        parts = await side.stream(execute("sub/w.sagews", code))
        outputs = [p["output"] for p in parts]
        assert {"html": "<b>x</b>"} in outputs and {"md": "*m*"} in outputs
        assert {"tex": {"tex": "x^2", "display": False}} in outputs
        (file,) = [o["file"] for o in outputs if "file" in o]
        assert file["filename"] == "pic.bin" and file["show"] is True
        await eventually(lambda: bytes(side.blobs.get(file["uuid"], b"")) == b"\x00\x01data", 5)
        parts = await side.stream(execute("sub/w.sagews", "show_file('/etc/hostname')"))
        assert "outside the project" in text(parts, "stderr")


async def test_subprocess_output_reaches_the_cell(local_hub: LocalHub) -> None:
    async with local_hub.client() as side:
        parts = await side.stream(execute("w.sagews", "import os\nos.system('echo from-shell')"))
        assert "from-shell" in text(parts)


async def test_flow_control_window_and_ack(local_hub: LocalHub) -> None:
    code = "import time\nfor i in range(100):\n    print(i)\n    time.sleep(0.002)"
    async with local_hub.client() as side:
        id_ = await side.send(execute("w.sagews", code, window=4))
        got = [await side.next_reply(id_) for _ in range(4)]
        assert all(p["multi_response"] for p in got)
        with pytest.raises(TimeoutError):
            await side.next_reply(id_, timeout=0.5)
        await side.link.send({"event": "sagews_output_ack", "call_id": id_})
        got.append(await side.next_reply(id_))
        while got[-1].get("multi_response"):
            if side.queue(id_).empty():
                await side.link.send({"event": "sagews_output_ack", "call_id": id_})
            got.append(await side.next_reply(id_))
        assert text(got) == "".join(f"{i}\n" for i in range(100))


def proc_stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    fields = proc_stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def test_a_cell_without_acks_is_held_and_uses_no_cpu(local_hub: LocalHub) -> None:
    async with local_hub.client() as side:
        pid = int(text(await side.stream(execute("w.sagews", "import os\nprint(os.getpid())"))))
        code = "while True:\n    print('x' * 1000)"
        id_ = await side.send(execute("w.sagews", code, window=2))
        await side.next_reply(id_)
        await side.next_reply(id_)
        # held: the worker blocks in a write to its full pipe, the daemon reads no more
        await eventually(lambda: proc_stat(pid)[0] == "S", 5)
        before = cpu_seconds(pid)
        await asyncio.sleep(0.5)  # a measurement interval, not a synchronisation
        assert cpu_seconds(pid) - before < 0.1
        assert side.queue(id_).empty()
        await side.call({"event": "sagews_interrupt", "path": "w.sagews"})


async def test_interrupt_keeps_namespace_even_when_paused(local_hub: LocalHub) -> None:
    async with local_hub.client() as side:
        await side.stream(execute("w.sagews", "kept = 'yes'"))
        id_ = await side.send(execute("w.sagews", "while True:\n    print('spam')", window=2))
        await side.next_reply(id_)
        reply = await side.call({"event": "sagews_interrupt", "path": "w.sagews"})
        assert reply["event"] == "success"
        parts = [await side.next_reply(id_)]
        while parts[-1].get("multi_response"):
            parts.append(await side.next_reply(id_))
        assert parts[-1]["output"]["done"] is True
        assert "KeyboardInterrupt" in text(parts, "stderr")
        parts = await side.stream(execute("w.sagews", "print(kept)"))
        assert text(parts) == "yes\n"


async def test_quit_errors_queued_cells_and_restarts(local_hub: LocalHub) -> None:
    async with local_hub.client() as side:
        await side.stream(execute("w.sagews", "v = 1"))
        running = await side.send(execute("w.sagews", "import time\nprint('go')\ntime.sleep(60)"))
        assert (await side.next_reply(running))["output"]["stdout"].startswith("go")
        queued = await side.send(execute("w.sagews", "print('never')"))
        assert (await side.call({"event": "sagews_quit", "path": "w.sagews"}))["event"] == "success"
        last = await side.next_reply(running)
        assert last["output"]["done"] is True and "stopped" in last["output"]["stderr"]
        err = await side.next_reply(queued)
        assert err["event"] == "error" and "ended before this cell ran" in err["error"]
        parts = await side.stream(execute("w.sagews", "print('v' in dir())"))
        assert text(parts) == "False\n"


async def test_quit_while_waiting_for_acks(local_hub: LocalHub) -> None:
    async with local_hub.client() as side:
        id_ = await side.send(execute("w.sagews", "while True:\n    print('x')", window=1))
        await side.next_reply(id_)
        reply = await side.call({"event": "sagews_quit", "path": "w.sagews"})
        assert reply["event"] == "success"
        parts = [await side.next_reply(id_)]
        while parts[-1].get("multi_response"):
            parts.append(await side.next_reply(id_))
        assert "stopped (sagews_quit)" in parts[-1]["output"]["stderr"]


async def test_crash_reports_and_restarts(local_hub: LocalHub) -> None:
    async with local_hub.client() as side:
        parts = await side.stream(execute("w.sagews", "import os\nos._exit(3)"))
        assert parts[-1]["output"]["done"] is True
        assert "ended unexpectedly (exit code 3)" in parts[-1]["output"]["stderr"]
        parts = await side.stream(execute("w.sagews", "import os\nprint(os.getpid())"))
        pid = int(text(parts))
        os.kill(pid, signal.SIGKILL)
        await eventually(lambda: process_gone(pid), 5)
        parts = await side.stream(execute("w.sagews", "print(1)"))
        assert text(parts) == "1\n"


async def test_two_worksheets_run_in_parallel(local_hub: LocalHub) -> None:
    async with local_hub.client() as side:
        slow = await side.send(
            execute("a.sagews", "import time\nprint('started', flush=True)\ntime.sleep(30)")
        )
        # the slow cell is running (not still waiting for its worker) before b starts
        assert (await side.next_reply(slow))["output"]["stdout"] == "started\n"
        parts = await side.stream(execute("b.sagews", "print('fast')"), timeout=10)
        assert text(parts) == "fast\n"
        await side.call({"event": "sagews_quit", "path": "a.sagews"})
        assert (await side.next_reply(slow))["output"]["done"] is True


async def test_paths_outside_the_project_are_refused(local_hub: LocalHub) -> None:
    async with local_hub.client() as side:
        for path in ("../../etc/x.sagews", "/etc/x.sagews", ".smc/x.sagews", ""):
            for event in ("sagews_start", "sagews_execute_code", "sagews_quit"):
                reply = await side.call({"event": event, "path": path, "code": "1"})
                assert reply["event"] == "error", (path, event, reply)


@pytest.mark.parametrize("local_hub_args", [("--worksheet-max-output-bytes", "1000")])
async def test_output_cap_per_cell(local_hub: LocalHub) -> None:
    async with local_hub.client() as side:
        exact = await side.stream(execute("w.sagews", "print('x' * 999)", window=1000))
        assert text(exact) == "x" * 999 + "\n"
        code = "print('y' * 1001)\nwhile True:\n    print('z' * 100)"
        id_ = await side.send(execute("w.sagews", code))
        notice = await side.next_reply(id_)
        assert "stopped at 1000 bytes" in notice["output"].get("stderr", ""), notice
        with pytest.raises(TimeoutError):  # held once its pipe is full
            await side.next_reply(id_, timeout=0.5)
        await side.call({"event": "sagews_interrupt", "path": "w.sagews"})
        last = await side.next_reply(id_)
        assert last["output"]["done"] is True and "KeyboardInterrupt" in last["output"]["stderr"]


@pytest.mark.parametrize("local_hub_args", [("--max-worksheets", "1")])
async def test_worker_limit(local_hub: LocalHub) -> None:
    async with local_hub.client() as side:
        assert (await side.call({"event": "sagews_start", "path": "a.sagews"}))[
            "event"
        ] == "success"
        reply = await side.call({"event": "sagews_start", "path": "b.sagews"})
        assert reply["event"] == "error" and "at most 1" in reply["error"]


async def test_execute_javascript_is_broadcast(local_hub: LocalHub) -> None:
    async with local_hub.client() as one, local_hub.client() as two:
        await one.stream(execute("w.sagews", "execute_javascript('alert(1)', {'a': 1})"))
        for side in (one, two):
            await eventually(lambda s=side: bool(s.unsolicited), 5)
            assert {"event": "execute_javascript", "code": "alert(1)", "obj": {"a": 1}} in (
                side.unsolicited
            )


async def test_daemon_stop_ends_workers(tmp_path: Path) -> None:
    async with start_local_hub(tmp_path / "p") as daemon, daemon.hub.client() as side:
        parts = await side.stream(execute("w.sagews", "import os\nprint(os.getpid())"))
        pid = int(text(parts))
    await eventually(lambda: process_gone(pid), seconds(5))


async def test_link_drop_detaches_a_paused_cell(local_hub: LocalHub) -> None:
    side = HubSide(await local_hub.connect())
    id_ = await side.send(execute("w.sagews", "for i in range(10000):\n    print(i)", window=1))
    await side.next_reply(id_)
    await side.close()
    async with local_hub.client() as again:
        parts = await again.stream(execute("w.sagews", "print(i)"), timeout=20)
        assert text(parts) == "9999\n"
        await asyncio.sleep(0)


@pytest.mark.parametrize("local_hub_args", [("--worksheet-max-output-bytes", "100000")])
async def test_a_detached_cell_printing_forever_is_held_after_the_cap(local_hub: LocalHub) -> None:
    side = HubSide(await local_hub.connect())
    code = "import os\nprint(os.getpid())\nwhile True:\n    print('x' * 1000)"
    id_ = await side.send(execute("w.sagews", code, window=1))
    pid = int((await side.next_reply(id_))["output"]["stdout"].split()[0])
    await side.close()  # the hub went away: the output is dropped up to the cap, then held
    await eventually(lambda: proc_stat(pid)[0] == "S", 10)
    before = cpu_seconds(pid)
    await asyncio.sleep(0.5)  # a measurement interval, not a synchronisation
    assert cpu_seconds(pid) - before < 0.1
    async with local_hub.client() as again:
        quit_ = await again.call({"event": "sagews_quit", "path": "w.sagews"})
        assert quit_["event"] == "success"
    await eventually(lambda: process_gone(pid), 5)
