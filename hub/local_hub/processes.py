"""Inspecting and signalling processes through /proc and pidfds, so that a recycled
pid is never mistaken for the daemon it once was."""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import signal
from dataclasses import dataclass
from pathlib import Path

import structlog

log = structlog.get_logger()


@dataclass(frozen=True, slots=True)
class ProcStat:
    state: str
    pgid: int
    start_ticks: int


def parse_proc_stat(text: str) -> ProcStat:
    """Fields of `/proc/<pid>/stat` after the command name (which may hold spaces or `)`)."""
    rest = text[text.rindex(")") + 2 :].split()
    return ProcStat(state=rest[0], pgid=int(rest[2]), start_ticks=int(rest[19]))


def proc_stat(pid: int) -> ProcStat | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
        return parse_proc_stat(text)
    except (OSError, ValueError, IndexError):
        return None


def start_ticks(pid: int) -> int | None:
    """The process's start time, if it lives (a zombie counts as dead)."""
    st = proc_stat(pid)
    if st is None or st.state in ("Z", "X", "x"):
        return None
    return st.start_ticks


def proc_cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [os.fsdecode(part) for part in raw.split(b"\0")[:-1]]


def proc_uids(pid: int) -> tuple[int, ...]:
    """Real, effective and saved uid of a process; empty if it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return ()
    for line in text.splitlines():
        if line.startswith("Uid:"):
            return tuple(int(v) for v in line.split()[1:4])
    return ()


def exited(pidfd: int) -> bool:
    """A pidfd turns readable when its process exits."""
    if pidfd < 0:
        return True
    readable, _, _ = select.select([pidfd], [], [], 0)
    return bool(readable)


async def wait_exit(pidfd: int, timeout: float) -> bool:
    """Wait until the pidfd's process exits; False after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    exited = loop.create_future()

    def on_readable() -> None:
        if not exited.done():
            exited.set_result(None)

    loop.add_reader(pidfd, on_readable)
    try:
        async with asyncio.timeout(timeout):
            await exited
        return True
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(pidfd)


def signal_group(pidfd: int, pid: int, sig: signal.Signals) -> None:
    """Signal the daemon's process group (its pid, as a session leader) and the daemon."""
    if exited(pidfd):
        return
    st = proc_stat(pid)
    if st is not None and st.pgid == pid:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)
    with contextlib.suppress(ProcessLookupError):
        signal.pidfd_send_signal(pidfd, sig)


async def kill_user_processes(uid: int) -> None:
    """SIGKILL every process running under `uid` (a project's own user) until none is left."""
    for _ in range(100):
        victims = [
            pid for pid in all_pids() if uid in proc_uids(pid) and start_ticks(pid) is not None
        ]
        if not victims:
            return
        for pid in victims:
            try:
                pidfd = os.pidfd_open(pid)
            except OSError:
                continue
            try:
                if uid in proc_uids(pid):
                    signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            except ProcessLookupError:
                pass
            finally:
                os.close(pidfd)
        await asyncio.sleep(0.01)
    log.error("processes of a project user survive SIGKILL", uid=uid)


def all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]
