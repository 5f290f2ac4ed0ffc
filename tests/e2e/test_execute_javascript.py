"""`execute_javascript` sent by a process in a project reaches the browsers working in
that project through this hub, and nobody else."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from tests.e2e.test_projects import account, close, new_project
from tests.fixtures.timeouts import seconds


def send_javascript(pid: str, code: str, *extra: str) -> dict[str, Any]:
    """project_exec fields that run the project's own send_javascript program."""
    return {
        "project_id": pid,
        "command": sys.executable,
        "args": ["-m", "hub.local_hub.send_javascript", code, *extra],
        "timeout": 20,
    }


async def next_javascript(client: Any, timeout: float) -> dict[str, Any]:
    """The next execute_javascript push (the remember_me_failed push at connect is skipped)."""
    async with asyncio.timeout(timeout):
        while True:
            push = await client.next_push()
            if push.get("event") == "execute_javascript":
                return push


async def no_push_within(client: Any, wait_s: float) -> None:
    try:
        push = await next_javascript(client, wait_s)
    except TimeoutError:
        return
    raise AssertionError(f"unexpected push {push}")


async def test_reaches_the_project_users_and_no_one_else(connect) -> None:
    owner, _ = await account(connect, "js-owner@example.com")
    friend, friend_me = await account(connect, "js-friend@example.com")
    stranger, _ = await account(connect, "js-stranger@example.com")
    try:
        pid = await new_project(owner)
        await owner.call("invite_collaborator", project_id=pid, account_id=friend_me["account_id"])
        # the friend works in the project; the stranger works in a project of their own
        await friend.call("project_exec", project_id=pid, command="true")
        await stranger.call("project_exec", project_id=await new_project(stranger), command="true")

        ran = await owner.call(
            "project_exec", **send_javascript(pid, "alert(obj.n)", "--obj", '{"n": 7}')
        )
        assert ran["exit_code"] == 0, ran

        for client in (owner, friend):
            push = await next_javascript(client, seconds(10))
            assert push == {"event": "execute_javascript", "code": "alert(obj.n)", "obj": {"n": 7}}
        await no_push_within(stranger, seconds(0.5))
    finally:
        for c in (owner, friend, stranger):
            await close(c)


async def test_a_removed_collaborator_gets_nothing(connect) -> None:
    owner, _ = await account(connect, "js-owner2@example.com")
    friend, friend_me = await account(connect, "js-friend2@example.com")
    try:
        pid = await new_project(owner)
        await owner.call("invite_collaborator", project_id=pid, account_id=friend_me["account_id"])
        await friend.call("project_exec", project_id=pid, command="true")
        await owner.call("remove_collaborator", project_id=pid, account_id=friend_me["account_id"])

        ran = await owner.call("project_exec", **send_javascript(pid, "1+1"))
        assert ran["exit_code"] == 0, ran
        assert (await next_javascript(owner, seconds(10)))["code"] == "1+1"
        await no_push_within(friend, seconds(0.5))
    finally:
        for c in (owner, friend):
            await close(c)


async def test_a_named_terminal_nobody_holds_reaches_no_one(connect) -> None:
    owner, _ = await account(connect, "js-owner3@example.com")
    try:
        pid = await new_project(owner)
        ran = await owner.call(
            "project_exec",
            **send_javascript(pid, "x()", "--session-uuid", "8c4e2c1e-0000-4000-8000-000000000000"),
        )
        assert ran["exit_code"] == 0, ran
        await no_push_within(owner, seconds(0.5))
    finally:
        await close(owner)


async def test_bad_obj_is_refused_before_sending(connect) -> None:
    owner, _ = await account(connect, "js-owner4@example.com")
    try:
        pid = await new_project(owner)
        ran = await owner.call(
            "project_exec", raise_errors=False, **send_javascript(pid, "x()", "--obj", "{nope")
        )
        assert ran["event"] == "error"
        assert "exited with nonzero code 2" in ran["error"]
        assert "--obj is not JSON" in ran["error"]
    finally:
        await close(owner)
