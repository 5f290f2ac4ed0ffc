"""A relayed stream over its rate: parts are dropped, the client sees a truncation
notice, the last part still arrives, and nothing is held back in the hub."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.test_projects import account, close, new_project

RATE = 20


@pytest.fixture
def hub_overrides() -> dict[str, Any]:
    return {"stream_max_messages_per_s": RATE}


async def test_a_noisy_stream_is_truncated_with_a_notice(connect) -> None:
    c, _ = await account(connect, "noisy@example.com")
    try:
        pid = await new_project(c)
        parts = []
        async for reply in c.stream(
            "local_hub",
            project_id=pid,
            multi_response=True,
            message={
                "event": "project_exec",
                "command": "for i in $(seq 400); do echo $i; sleep 0.002; done",
                "stream": True,
                "timeout": 30,
            },
        ):
            parts.append(reply)
        notices = [p for p in parts if p["event"] == "output"]
        output = [p for p in parts if p["event"] == "project_exec_output"]
        assert notices, "no truncation notice"
        assert all(n["stderr"].startswith("[output truncated: ") for n in notices)
        assert all(n["multi_response"] is True and n["id"] == parts[0]["id"] for n in notices)
        dropped = sum(int(n["stderr"].split()[2]) for n in notices)
        printed = "".join(p.get("stdout", "") for p in output).split()
        assert dropped > 0 and printed[0] == "1"
        assert parts[-1]["event"] == "project_exec_output" and parts[-1]["exit_code"] == 0
        assert "multi_response" not in parts[-1]
    finally:
        await close(c)


async def test_a_quiet_stream_loses_nothing(connect) -> None:
    c, _ = await account(connect, "quiet@example.com")
    try:
        pid = await new_project(c)
        parts = []
        async for reply in c.stream(
            "local_hub",
            project_id=pid,
            multi_response=True,
            message={
                "event": "project_exec",
                "command": "for i in 1 2 3 4 5; do echo $i; sleep 0.1; done",
                "stream": True,
                "timeout": 30,
            },
        ):
            parts.append(reply)
        assert all(p["event"] == "project_exec_output" for p in parts)
        assert "".join(p.get("stdout", "") for p in parts) == "1\n2\n3\n4\n5\n"
    finally:
        await close(c)
