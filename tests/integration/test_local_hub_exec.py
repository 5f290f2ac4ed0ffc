"""project_exec against a real daemon: texts, modes, limits, timeouts, streaming, aggregate."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.local_hub import (
    LocalHub,
    local_hub,
    local_hub_args,
    local_hub_daemon,
    process_gone,
    start_local_hub,
)
from tests.fixtures.timeouts import eventually

FIXTURES = (local_hub, local_hub_args, local_hub_daemon)  # until tests/conftest.py lists them


async def run(hub: LocalHub, **fields: Any) -> dict[str, Any]:
    async with hub.client() as side:
        return await side.call({"event": "project_exec", **fields}, timeout=20)


def gone(pid_file: Path) -> bool:
    return process_gone(int(pid_file.read_text()))


# ----------------------------------------------------------------------------- basics


async def test_command_with_args(local_hub: LocalHub) -> None:
    reply = await run(local_hub, id="e1", command="echo", args=["hello", "world"])
    assert reply == {
        "event": "project_exec_output",
        "id": "e1",
        "stdout": "hello world\n",
        "stderr": "",
        "exit_code": 0,
    }


async def test_numbers_in_args_are_written_as_javascript_would(local_hub: LocalHub) -> None:
    reply = await run(local_hub, command="echo", args=[1, 2.5, 3.0, True])
    assert reply["stdout"] == "1 2.5 3 true\n"


async def test_whitespace_without_args_runs_under_bash_in_home(local_hub: LocalHub) -> None:
    reply = await run(local_hub, command="echo $HOME; pwd; echo oops >&2")
    home = str(local_hub.home)
    assert reply["stdout"] == f"{home}\n{home}\n"
    assert reply["stderr"] == "oops\n"


async def test_bash_true_quotes_command_and_args(local_hub: LocalHub) -> None:
    reply = await run(local_hub, command="echo", args=["a  b", "$HOME", "'q'"], bash=True)
    assert reply["stdout"] == "a  b $HOME 'q'\n"


async def test_path_is_the_working_directory(local_hub: LocalHub) -> None:
    (local_hub.home / "sub").mkdir()
    assert (await run(local_hub, command="pwd", path="sub"))["stdout"] == (
        f"{local_hub.home}/sub\n"
    )
    assert (await run(local_hub, command="pwd", path="/tmp"))["stdout"] == "/tmp\n"


async def test_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_DATABASE_URL", "postgres://secret")
    monkeypatch.setenv("SOMETHING_ELSE", "kept")
    async with start_local_hub(tmp_path / "p") as daemon:
        reply = await run(daemon.hub, command="env")
    env = dict(line.split("=", 1) for line in reply["stdout"].splitlines() if "=" in line)
    home = str(daemon.hub.home)
    assert env["HOME"] == home
    assert env["PATH"].startswith(f"{home}/bin:{home}/.local/bin:")
    assert env["SOMETHING_ELSE"] == "kept"
    assert not any(k.startswith("HUB_") for k in env)


async def test_output_that_is_not_utf8_is_replaced(local_hub: LocalHub) -> None:
    reply = await run(local_hub, command="printf 'a\\xffb'")
    assert reply["stdout"] == "a\ufffdb"


async def test_smc_jupyter_is_refused(local_hub: LocalHub) -> None:
    reply = await run(local_hub, command="smc-jupyter")
    assert reply["error"] == "do not run smc-jupyter directly"


# ----------------------------------------------------------------------------- errors


async def test_nonzero_exit_is_an_error_naming_command_code_and_stderr(
    local_hub: LocalHub,
) -> None:
    reply = await run(local_hub, id="e2", command="ls", args=["-d", "/nonexistent"])
    assert reply["event"] == "error"
    assert reply["id"] == "e2"
    assert reply["error"] == (
        "Error executing command 'ls' with args '-d,/nonexistent' -- command 'ls' "
        "(args=-d /nonexistent) exited with nonzero code 2 -- stderr='ls: cannot access "
        "'/nonexistent': No such file or directory\n'"
    )


async def test_err_on_exit_false_returns_the_code(local_hub: LocalHub) -> None:
    reply = await run(local_hub, command="echo out; echo err >&2; exit 3", err_on_exit=False)
    assert reply == {
        "event": "project_exec_output",
        "id": reply["id"],
        "stdout": "out\n",
        "stderr": "err\n",
        "exit_code": 3,
    }


async def test_death_by_signal_is_exit_code_1(local_hub: LocalHub) -> None:
    reply = await run(local_hub, command="kill -9 $$", err_on_exit=False)
    assert reply["exit_code"] == 1


async def test_stderr_in_the_error_is_cut_to_1024(local_hub: LocalHub) -> None:
    reply = await run(local_hub, command="printf 'x%.0s' $(seq 3000) >&2; exit 1")
    assert reply["error"].endswith("exited with nonzero code 1 -- stderr='" + "x" * 1024 + "'")


async def test_a_missing_program_could_not_run(local_hub: LocalHub) -> None:
    reply = await run(local_hub, command="no-such-program-xyz", args=["a"])
    assert reply["error"].startswith(
        "Error executing command 'no-such-program-xyz' with args 'a' -- command "
        "'no-such-program-xyz' was not able to run -- stderr='"
    )
    assert "No such file or directory" in reply["error"]


async def test_a_missing_working_directory_could_not_run(local_hub: LocalHub) -> None:
    reply = await run(local_hub, command="pwd", path="nowhere", err_on_exit=False)
    assert reply["error"].startswith(
        "Error executing command 'pwd' with args '' -- command 'pwd' was not able to run"
    )


# ----------------------------------------------------------------------------- limits


async def test_max_output_as_documented(local_hub: LocalHub) -> None:
    reply = await run(local_hub, command="echo hello world", max_output=5)
    assert reply["stdout"] == "hello (truncated at 5 characters)"
    reply = await run(local_hub, command="printf abc; printf 123456 >&2", max_output=3)
    assert reply["stdout"] == "abc (truncated at 3 characters)"  # length >= N: CoCalc's rule
    assert reply["stderr"] == "123 (truncated at 3 characters)"
    reply = await run(local_hub, command="printf ab", max_output=3)
    assert reply["stdout"] == "ab"


async def test_max_output_counts_characters_not_bytes(local_hub: LocalHub) -> None:
    reply = await run(local_hub, command="printf 'ééééé☃☃'", max_output=6)
    assert reply["stdout"] == "ééééé☃ (truncated at 6 characters)"


async def test_huge_output_is_capped_at_10_mib_by_default(local_hub: LocalHub) -> None:
    reply = await run(local_hub, command="head -c 40000000 /dev/zero | tr '\\0' a")
    cap = 10 * 1024 * 1024
    assert reply["stdout"] == "a" * cap + f" (truncated at {cap} characters)"
    assert reply["exit_code"] == 0


@pytest.mark.parametrize("local_hub_args", [("--max-output-bytes", "300000")])
async def test_the_output_budget_is_shared_and_given_back(local_hub: LocalHub) -> None:
    cmd = "head -c 1000000 /dev/zero | tr '\\0' a; sleep 0.2"
    async with local_hub.client() as hub:
        first, second = await asyncio.gather(
            hub.call({"event": "project_exec", "command": cmd}),
            hub.call({"event": "project_exec", "command": cmd + " "}),
        )
        kept = [r["stdout"].split(" (truncated")[0] for r in (first, second)]
        assert sum(len(k) for k in kept) <= 300000
        assert all(" (truncated at " in r["stdout"] for r in (first, second))
        again = await hub.call({"event": "project_exec", "command": "echo fine"})
        assert again["stdout"] == "fine\n"


# ----------------------------------------------------------------------------- timeouts


async def test_timeout_kills_a_group_that_ignores_sigterm(local_hub: LocalHub) -> None:
    script = (
        "trap '' TERM; sleep 1000 & echo $! > child.pid; echo $$ > parent.pid; "
        "while true; do sleep 1; done"
    )
    reply = await run(local_hub, command=script, timeout=0.5)
    assert reply["event"] == "error"
    assert reply["error"] == (
        f"Error executing command '{script}' with args '' -- killed command '{script}'"
    )
    await eventually(lambda: gone(local_hub.home / "parent.pid"), 5)
    await eventually(lambda: gone(local_hub.home / "child.pid"), 5)


async def test_timeout_text_for_a_command_with_args(local_hub: LocalHub) -> None:
    reply = await run(local_hub, command="sleep", args=["30"], timeout=0.2)
    assert (
        reply["error"]
        == "Error executing command 'sleep' with args '30' -- killed command 'sleep 30'"
    )


async def test_a_background_child_holding_the_output_runs_into_the_timeout(
    local_hub: LocalHub,
) -> None:
    reply = await run(local_hub, command="sleep 1000 & echo $! > bg.pid; echo started", timeout=0.5)
    assert "killed command" in reply["error"]
    await eventually(lambda: gone(local_hub.home / "bg.pid"), 5)


async def test_a_detached_background_job_is_left_running(local_hub: LocalHub) -> None:
    reply = await run(
        local_hub, command="nohup sleep 1000 >/dev/null 2>&1 & echo $! > bg.pid; echo ok"
    )
    assert reply["stdout"] == "ok\n"
    pid = int((local_hub.home / "bg.pid").read_text())
    assert not process_gone(pid)
    os.kill(pid, 9)


# ----------------------------------------------------------------------------- streaming


async def test_streamed_output_in_chunks_of_at_most_64_kib(local_hub: LocalHub) -> None:
    async with local_hub.client() as hub:
        replies = await hub.stream(
            {
                "event": "project_exec",
                "command": "head -c 300000 /dev/zero | tr '\\0' x; echo done >&2",
                "stream": True,
            }
        )
    *chunks, last = replies
    assert last == {
        "event": "project_exec_output",
        "id": last["id"],
        "stdout": "",
        "stderr": "",
        "exit_code": 0,
    }
    assert all(c["multi_response"] is True for c in chunks)
    assert all(len(c["stdout"]) + len(c["stderr"]) <= 65536 for c in chunks)
    assert "".join(c["stdout"] for c in chunks) == "x" * 300000
    assert "".join(c["stderr"] for c in chunks) == "done\n"
    assert len(chunks) >= 5


async def test_streamed_multibyte_characters_are_never_split(local_hub: LocalHub) -> None:
    async with local_hub.client() as hub:
        replies = await hub.stream(
            {
                "event": "project_exec",
                "command": "for i in $(seq 30000); do printf 'é☃'; done",
                "stream": True,
            }
        )
    assert "".join(r["stdout"] for r in replies) == "é☃" * 30000


async def test_streamed_nonzero_exit_ends_with_an_error(local_hub: LocalHub) -> None:
    async with local_hub.client() as hub:
        replies = await hub.stream(
            {
                "event": "project_exec",
                "command": "echo partial; echo bad >&2; exit 4",
                "stream": True,
            }
        )
    assert replies[-1]["event"] == "error"
    assert replies[-1]["error"].endswith("exited with nonzero code 4 -- stderr='bad\n'")
    assert "".join(r.get("stdout", "") for r in replies[:-1]) == "partial\n"


async def test_streamed_timeout(local_hub: LocalHub) -> None:
    async with local_hub.client() as hub:
        replies = await hub.stream(
            {
                "event": "project_exec",
                "command": "echo one; sleep 30",
                "stream": True,
                "timeout": 0.5,
            }
        )
    assert replies[0]["stdout"] == "one\n"
    assert replies[-1]["error"].endswith("killed command 'echo one; sleep 30'")


async def test_streamed_max_output(local_hub: LocalHub) -> None:
    async with local_hub.client() as hub:
        replies = await hub.stream(
            {"event": "project_exec", "command": "seq 100000", "stream": True, "max_output": 10}
        )
    assert "".join(r["stdout"] for r in replies) == "1\n2\n3\n4\n5\n (truncated at 10 characters)"


async def test_a_slow_reader_gets_every_streamed_byte_in_order(local_hub: LocalHub) -> None:
    async with local_hub.client() as hub:
        id_ = await hub.send(
            {"event": "project_exec", "command": "seq 1 400000", "stream": True, "timeout": 30}
        )
        await asyncio.sleep(0.3)  # let the daemon run into backpressure (not a sync point)
        replies = [await hub.next_reply(id_)]
        while replies[-1].get("multi_response"):
            replies.append(await hub.next_reply(id_))
    text = "".join(r["stdout"] for r in replies)
    assert text == "".join(f"{i}\n" for i in range(1, 400001))


# ----------------------------------------------------------------------------- aggregate


async def test_aggregate_shares_one_run(local_hub: LocalHub) -> None:
    cmd = "echo run >> runs.txt; sleep 0.3; wc -l < runs.txt"
    async with local_hub.client() as hub:

        async def call(value: Any) -> dict[str, Any]:
            return await hub.call({"event": "project_exec", "command": cmd, "aggregate": value})

        first, second = await asyncio.gather(call(5), call(3))
        assert first["stdout"] == second["stdout"] == "1\n"
        assert first["id"] != second["id"]
        assert (await call(7))["stdout"] == "2\n"  # a larger value runs again
        assert (await call(6))["stdout"] == "2\n"  # covered by the finished run
        assert (await call({"value": "x"}))["stdout"] == "3\n"
        assert (await call({"value": "x"}))["stdout"] == "3\n"
        plain = await hub.call({"event": "project_exec", "command": cmd})
        assert plain["stdout"] == "4\n"
    assert (local_hub.home / "runs.txt").read_text().count("run") == 4
