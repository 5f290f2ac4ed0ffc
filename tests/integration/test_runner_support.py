"""Helpers shared by the runner tests (no tests here): handshakes, finding and killing
the daemons a test started."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
from pathlib import Path

from hub.local_hub.runner_protocol import ProjectAddress
from tests.fixtures.timeouts import eventually, seconds


async def handshake(address: ProjectAddress, token: str | None = None) -> bytes:
    """Connect, send the token (the right one by default), return the daemon's first byte."""
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(address.host, address.port), seconds(5)
    )
    try:
        writer.write((address.secret_token if token is None else token).encode())
        await writer.drain()
        return await asyncio.wait_for(reader.readexactly(1), seconds(5))
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [os.fsdecode(p) for p in raw.split(b"\0")[:-1]]


def is_running(pid: int) -> bool:
    """Alive and not a zombie."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return text[text.rindex(")") + 2] not in "ZX"


def daemons_under(root: Path) -> list[int]:
    """Pids of live processes started with `--home <something under root>`."""
    prefix = str(root) + "/"
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        argv = cmdline(int(name))
        for flag, value in itertools.pairwise(argv):
            if flag == "--home" and value.startswith(prefix) and is_running(int(name)):
                found.append(int(name))
    return found


def daemons_for(home: Path) -> list[int]:
    return [pid for pid in daemons_under(home.parent) if str(home) in cmdline(pid)]


async def kill_daemons_under(root: Path) -> None:
    """Clean-up: SIGKILL every daemon a test left under `root`, and wait until they are gone."""
    for pid in daemons_under(root):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    await eventually(lambda: not daemons_under(root), 10)
