"""`LocalProcessRunner` with real daemon processes, all running as the hub's user.

Isolation between projects (one Unix user each) is in test_runner_isolation.py.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import signal
import stat
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from hub.errors import Timeout
from hub.local_hub.runner import LocalProcessRunner, RunnerRecord
from hub.local_hub.runner_protocol import ProjectRunner, ProjectStartFailed
from tests.fixtures.timeouts import eventually, seconds
from tests.integration.test_runner_support import (
    daemons_for,
    daemons_under,
    handshake,
    is_running,
    kill_daemons_under,
)

MakeRunner = Callable[..., LocalProcessRunner]


@pytest.fixture
async def make_runner(tmp_path: Path) -> AsyncIterator[MakeRunner]:
    """Runners on one pair of directories (as after a hub restart); all cleaned up after."""
    runners: list[LocalProcessRunner] = []

    def make(**overrides: Any) -> LocalProcessRunner:
        options: dict[str, Any] = {
            "isolate_users": False,
            "start_timeout_s": seconds(15),
            "stop_grace_s": seconds(5),
        }
        options.update(overrides)
        runner = LocalProcessRunner(tmp_path / "projects", tmp_path / "state", **options)
        runners.append(runner)
        return runner

    try:
        yield make
    finally:
        for runner in runners:
            await runner.close()
        await kill_daemons_under(tmp_path / "projects")


def _ticks(pid: int) -> int:
    text = Path(f"/proc/{pid}/stat").read_text()
    return int(text[text.rindex(")") + 2 :].split()[19])


async def test_start_serves_the_handshake(make_runner: MakeRunner) -> None:
    runner = make_runner()
    project = uuid.uuid4()
    assert (await runner.status(project)).state == "stopped"

    address = await runner.address(project)
    assert await handshake(address) == b"y"
    assert await handshake(address, "x" * len(address.secret_token)) == b"n"
    assert address.secret_token not in repr(address)

    status = await runner.status(project)
    assert status.state == "running"
    assert status.address == address
    assert status.pid is not None and daemons_for(runner.home(project)) == [status.pid]
    assert status.since is not None and status.since.tzinfo is not None

    home = runner.home(project)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE(runner.projects_dir.stat().st_mode) == 0o711
    assert stat.S_IMODE(runner.state_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(runner.state_path(project).stat().st_mode) == 0o600
    # The daemon leads its own session (its own process group), apart from the hub's.
    assert os.getsid(status.pid) == status.pid != os.getsid(0)


async def test_start_is_idempotent(make_runner: MakeRunner) -> None:
    runner = make_runner()
    project = uuid.uuid4()
    first = await runner.start(project)
    pid = (await runner.status(project)).pid
    assert await runner.start(project) == first
    assert await runner.address(project) == first
    assert (await runner.status(project)).pid == pid
    assert daemons_for(runner.home(project)) == [pid]


async def test_concurrent_address_calls_start_one_process(make_runner: MakeRunner) -> None:
    runner = make_runner()
    project = uuid.uuid4()
    calls = [runner.address(project) for _ in range(20)] + [runner.start(project)]
    addresses = await asyncio.gather(*calls)
    assert len(set(addresses)) == 1
    assert len(daemons_for(runner.home(project))) == 1
    assert await handshake(addresses[0]) == b"y"


async def test_a_cancelled_caller_does_not_cancel_the_start(make_runner: MakeRunner) -> None:
    runner = make_runner()
    project = uuid.uuid4()
    impatient = asyncio.create_task(runner.address(project))
    await eventually(lambda: runner._starts.get(project) is not None, 5)
    impatient.cancel()
    address = await runner.address(project)
    assert impatient.cancelled()
    assert await handshake(address) == b"y"
    assert len(daemons_for(runner.home(project))) == 1


async def test_stop(make_runner: MakeRunner) -> None:
    runner = make_runner()
    project = uuid.uuid4()
    await runner.stop(project)  # never started: nothing to do
    address = await runner.address(project)
    pid = (await runner.status(project)).pid
    assert pid is not None

    await runner.stop(project)
    assert not is_running(pid)
    status = await runner.status(project)
    assert status.state == "stopped" and status.pid is None and status.since is not None
    with pytest.raises(OSError):
        await handshake(address)
    await runner.stop(project)  # stopped already: nothing to do

    again = await runner.address(project)
    assert await handshake(again) == b"y"
    assert (await runner.status(project)).pid != pid


async def test_stop_during_a_start_waits_for_it_then_stops(make_runner: MakeRunner) -> None:
    runner = make_runner()
    project = uuid.uuid4()
    start = asyncio.create_task(runner.address(project))
    await eventually(lambda: runner._starts.get(project) is not None, 5)
    await runner.stop(project)
    address = await start
    assert (await runner.status(project)).state == "stopped"
    with pytest.raises(OSError):
        await handshake(address)
    assert daemons_for(runner.home(project)) == []


async def test_a_start_waits_while_another_hub_process_holds_the_project(
    make_runner: MakeRunner,
) -> None:
    runner = make_runner()
    project = uuid.uuid4()
    runner.state_dir.mkdir(parents=True)
    other_hub = os.open(runner.state_dir / f"{project}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(other_hub, fcntl.LOCK_EX)
        start = asyncio.create_task(runner.address(project))
        await eventually(lambda: runner.home(project).exists(), 5)  # now at the lock
        assert not start.done() and daemons_for(runner.home(project)) == []
    finally:
        os.close(other_hub)
    assert await handshake(await start) == b"y"


async def test_stop_kills_a_daemon_that_ignores_sigterm(
    make_runner: MakeRunner, tmp_path: Path
) -> None:
    stubborn = _fake_python(tmp_path, "trap '' TERM")
    runner = make_runner(python=str(stubborn), start_timeout_s=0.5, stop_grace_s=0.2)
    project = uuid.uuid4()
    started = time.monotonic()
    with pytest.raises(Timeout, match="did not start within"):
        await runner.address(project)
    assert time.monotonic() - started < seconds(5)
    assert daemons_under(runner.projects_dir) == []
    assert (await runner.status(project)).state == "stopped"


async def test_status_is_starting_while_the_daemon_starts(
    make_runner: MakeRunner, tmp_path: Path
) -> None:
    slow = _fake_python(tmp_path, "")
    runner = make_runner(python=str(slow), start_timeout_s=seconds(1), stop_grace_s=1)
    project = uuid.uuid4()
    start = asyncio.create_task(runner.address(project))
    await eventually(lambda: daemons_for(runner.home(project)) != [], 5)
    assert (await runner.status(project)).state == "starting"
    with pytest.raises(Timeout):
        await start
    assert (await runner.status(project)).state == "stopped"


async def test_a_daemon_that_cannot_start_fails_fast(make_runner: MakeRunner) -> None:
    runner = make_runner(python="/nonexistent/python3", start_timeout_s=seconds(20))
    project = uuid.uuid4()
    started = time.monotonic()
    with pytest.raises(ProjectStartFailed, match="could not be started"):
        await runner.address(project)
    assert time.monotonic() - started < seconds(5)
    assert (await runner.status(project)).state == "stopped"
    assert "/nonexistent/python3" in runner.log_path(project).read_text()


async def test_idle_projects_are_stopped(make_runner: MakeRunner) -> None:
    runner = make_runner(idle_timeout_s=0.3, reap_interval_s=0.05)
    idle, upgraded = uuid.uuid4(), uuid.uuid4()
    runner.set_idle_timeout(upgraded, 3600)
    await asyncio.gather(runner.address(idle), runner.address(upgraded))
    idle_pid = (await runner.status(idle)).pid
    assert idle_pid is not None
    runner.start_reaper()

    async def stopped() -> bool:
        return (await runner.status(idle)).state == "stopped"

    await eventually(stopped, 10)
    await eventually(lambda: not is_running(idle_pid), 5)  # it may still be exiting
    assert (await runner.status(upgraded)).state == "running"

    runner.set_idle_timeout(upgraded, None)  # back to the default of 0.3 s

    async def upgraded_stopped() -> bool:
        return (await runner.status(upgraded)).state == "stopped"

    await eventually(upgraded_stopped, 10)


async def test_touch_keeps_a_project_running(make_runner: MakeRunner) -> None:
    runner = make_runner(idle_timeout_s=3600, reap_interval_s=3600)
    project = uuid.uuid4()
    await runner.address(project)
    runner.set_idle_timeout(project, 0.2)
    runner.touch(project)
    assert await runner.reap_once() == []  # touched just now
    deadline = time.monotonic() + 0.25
    await eventually(lambda: time.monotonic() > deadline, 5)
    assert await runner.reap_once() == [project]
    assert (await runner.status(project)).state == "stopped"


async def test_a_crashed_daemon_is_noticed_and_restarted(make_runner: MakeRunner) -> None:
    runner = make_runner()
    project = uuid.uuid4()
    await runner.address(project)
    pid = (await runner.status(project)).pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)

    async def stopped() -> bool:
        return (await runner.status(project)).state == "stopped"

    await eventually(stopped, 5)
    assert await runner.reap_once() == []  # forgets it; nothing left to stop
    address = await runner.address(project)
    assert await handshake(address) == b"y"
    new_pid = (await runner.status(project)).pid
    assert new_pid is not None and new_pid != pid
    assert daemons_for(runner.home(project)) == [new_pid]


async def test_a_new_runner_finds_running_projects(make_runner: MakeRunner) -> None:
    first = make_runner()
    project = uuid.uuid4()
    address = await first.address(project)
    pid = (await first.status(project)).pid
    await first.close()  # the hub exits; its projects keep running
    assert pid is not None and is_running(pid)

    second = make_runner()
    status = await second.status(project)
    assert status.state == "running" and status.pid == pid and status.address == address
    started = time.monotonic()
    assert await second.address(project) == address
    found_in = time.monotonic() - started
    assert found_in < seconds(0.5)
    assert daemons_for(second.home(project)) == [pid]
    assert await handshake(address) == b"y"

    await second.stop(project)  # not its child: stopped through the pid all the same
    assert not is_running(pid)


async def test_a_restarted_hub_reaps_projects_it_did_not_start(make_runner: MakeRunner) -> None:
    first = make_runner()
    project = uuid.uuid4()
    await first.address(project)
    await first.close()

    second = make_runner(idle_timeout_s=0.2, reap_interval_s=0.05)
    second.start_reaper()

    async def stopped() -> bool:
        return (await second.status(project)).state == "stopped"

    await eventually(stopped, 10)
    assert daemons_under(second.projects_dir) == []


async def test_a_forged_pid_is_never_signalled(make_runner: MakeRunner) -> None:
    """A state file naming another process (even with its start time) is not trusted."""
    runner = make_runner()
    project = uuid.uuid4()
    bystander = subprocess.Popen(  # noqa: ASYNC220 - returns at once; killed below
        ["sleep", "600"], start_new_session=True
    )
    try:
        runner.state_dir.mkdir(parents=True)
        forged = RunnerRecord(
            project_id=str(project),
            home=str(runner.home(project)),
            uid=os.geteuid(),
            gid=os.getegid(),
            pid=bystander.pid,
            start_ticks=_ticks(bystander.pid),
            port=1,
            started_at=time.time(),
        )
        runner._write_record(forged)

        assert (await runner.status(project)).state == "stopped"
        await runner.stop(project)
        assert bystander.poll() is None

        address = await runner.address(project)  # starts a real daemon instead
        assert await handshake(address) == b"y"
        assert (await runner.status(project)).pid != bystander.pid
        await runner.stop(project)
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


async def test_another_projects_daemon_is_never_signalled(make_runner: MakeRunner) -> None:
    runner = make_runner()
    victim, forger = uuid.uuid4(), uuid.uuid4()
    address = await runner.address(victim)
    victim_record = runner._read_record(victim)
    assert victim_record is not None
    stolen = RunnerRecord(**{**_fields(victim_record), "project_id": str(forger)})
    runner._write_record(stolen)

    assert (await runner.status(forger)).state == "stopped"
    await runner.stop(forger)
    assert victim_record.pid is not None and is_running(victim_record.pid)
    assert await handshake(address) == b"y"


async def test_close_leaves_projects_running(make_runner: MakeRunner) -> None:
    runner = make_runner(reap_interval_s=0.01, idle_timeout_s=3600)
    project = uuid.uuid4()
    await runner.address(project)
    runner.start_reaper()
    await runner.close()
    pid = (await runner.status(project)).pid
    assert pid is not None and is_running(pid)
    with pytest.raises(RuntimeError, match="closed"):
        await runner.start(uuid.uuid4())


def test_local_process_runner_is_a_project_runner(tmp_path: Path) -> None:
    runner: ProjectRunner = LocalProcessRunner(tmp_path / "p", tmp_path / "s", isolate_users=False)
    for name in ("start", "stop", "status", "address", "touch", "set_idle_timeout", "close"):
        assert callable(getattr(runner, name))


def _fake_python(tmp_path: Path, body: str) -> Path:
    """An executable in the interpreter's place that keeps the daemon's arguments and never
    listens."""
    path = tmp_path / "fake-python"
    path.write_text(f"#!/bin/sh\n{body}\nexec python3 -c 'import time; time.sleep(600)' \"$@\"\n")
    path.chmod(0o755)
    return path


def _fields(record: RunnerRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in record.__struct_fields__}
