"""Break-in attempts against live code that need a project of their own: a fork bomb."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from uuid import UUID

import pytest

from tests.e2e.test_projects import account, close, new_project
from tests.fixtures.timeouts import eventually, seconds

MAX_PROCESSES = 64
FORK_BOMB = ":(){ :|:& };:"


@pytest.fixture
def hub_overrides() -> dict[str, Any]:
    return {"project_max_processes": MAX_PROCESSES}


async def test_a_fork_bomb_stays_inside_its_project(hub, connect) -> None:
    limit = hub.state.runner.process_limit
    if limit.mechanism != "cgroup":
        pytest.skip(
            "no writable pids cgroup on this machine and projects run as root:"
            " the process cap cannot be enforced here (the hub warns at start)"
        )
    c, _ = await account(connect, "bomber@example.com")
    bystander, _ = await account(connect, "bystander@example.com")
    try:
        pid = await new_project(c)
        other = await new_project(bystander)
        await bystander.call("project_exec", project_id=other, command="true")
        await c.call("project_exec", project_id=pid, command="true")
        idle = limit.count(UUID(pid)) or 0  # the daemon's own threads
        assert 0 < idle < MAX_PROCESSES // 2

        bomb = asyncio.ensure_future(
            c.call(
                "project_exec",
                project_id=pid,
                command=FORK_BOMB,
                bash=True,
                timeout=4,
                raise_errors=False,
            )
        )
        peak = 0

        # while it runs: the cap holds, and another user's project and the hub still answer
        async def bombing() -> bool:
            nonlocal peak
            peak = max(peak, limit.count(UUID(pid)) or 0)
            return peak >= MAX_PROCESSES // 2

        await eventually(bombing, timeout=10)
        started = time.monotonic()
        out = await bystander.call("project_exec", project_id=other, command="echo", args=["ok"])
        assert out["stdout"] == "ok\n"
        assert (await bystander.call("ping"))["event"] == "pong"
        answered_in = time.monotonic() - started
        while not bomb.done():
            peak = max(peak, limit.count(UUID(pid)) or 0)
            await asyncio.sleep(0.05)
        assert peak <= MAX_PROCESSES
        reply = bomb.result()
        assert reply["event"] == "error", reply  # killed at its timeout

        # the whole bomb went with its command, and the project runs commands again
        async def drained() -> bool:
            return (limit.count(UUID(pid)) or 0) <= idle

        await eventually(drained, timeout=30)
        out = await c.call("project_exec", project_id=pid, command="echo", args=["after"])
        assert out["stdout"] == "after\n"
        assert answered_in < seconds(10)
    finally:
        await close(c)
        await close(bystander)
