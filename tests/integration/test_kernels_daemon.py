"""jupyter_* against a real daemon with real ipykernel kernels: outputs, limits, pool, cleanup."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.fixtures.local_hub import (
    LocalHub,
    kill_hard,
    local_hub,
    local_hub_args,
    local_hub_daemon,
    start_local_hub,
)
from tests.fixtures.timeouts import eventually

FIXTURES = (local_hub, local_hub_args, local_hub_daemon)


def kernel_pids(home: Path) -> list[int]:
    """Kernels of this project: their command line names a connection file in HOME/.smc."""
    out = subprocess.run(
        ["pgrep", "-f", f"{home}/.smc/jupyter/kernel-"], capture_output=True, text=True
    )
    return [int(p) for p in out.stdout.split()]


async def execute(hub: LocalHub, timeout: float = 30, **fields: Any) -> dict[str, Any]:
    fields.setdefault("kernel", "python3")
    async with hub.client() as side:
        return await side.call({"event": "jupyter_execute", **fields}, timeout=timeout)


async def test_kernels_lists_python3(local_hub: LocalHub) -> None:
    async with local_hub.client() as side:
        reply = await side.call({"event": "jupyter_kernels", "id": "k"})
    names = {k["name"]: k for k in reply["kernels"]}
    assert "python3" in names
    assert names["python3"]["language"] == "python"
    assert names["python3"]["display_name"]


async def test_outputs_in_nbformat_shape(local_hub: LocalHub) -> None:
    reply = await execute(local_hub, input="print('hi')\n1+1", history=["x = 20", "print('h')"])
    assert reply["event"] == "jupyter_execute_response"
    assert reply["output"] == [
        {"output_type": "stream", "name": "stdout", "text": "hi\n"},
        {
            "output_type": "execute_result",
            "data": {"text/plain": "2"},
            "metadata": {},
            "execution_count": 3,
        },
    ]
    assert reply["pooled"] is False
    err = await execute(local_hub, input="1/0")
    [out] = err["output"]
    assert out["output_type"] == "error" and out["ename"] == "ZeroDivisionError"
    assert any("ZeroDivisionError" in line for line in out["traceback"])
    assert kernel_pids(local_hub.home) == []


async def test_cwd_is_the_directory_of_path_and_confined(local_hub: LocalHub) -> None:
    (local_hub.home / "sub").mkdir()
    reply = await execute(local_hub, input="import os; os.getcwd()", path="sub/nb.ipynb")
    assert reply["output"][0]["data"]["text/plain"] == repr(str(local_hub.home / "sub"))
    home = await execute(local_hub, input="import os; os.getcwd()")
    assert home["output"][0]["data"]["text/plain"] == repr(str(local_hub.home))
    for bad in ("../../etc/x.ipynb", "/etc/passwd", ".smc/x.ipynb"):
        refused = await execute(local_hub, input="1", path=bad)
        assert refused["event"] == "error", bad
        assert "outside the project" in refused["error"] or ".smc" in refused["error"]
    missing = await execute(local_hub, input="1", path="nope/x.ipynb")
    assert missing["error"] == "jupyter_execute: directory 'nope' does not exist"
    unknown = await execute(local_hub, input="1", kernel="cobol")
    assert unknown["error"].startswith("jupyter_execute: no kernel named 'cobol'")


async def test_cell_timeout_kills_the_kernel(local_hub: LocalHub) -> None:
    started = time.monotonic()
    reply = await execute(local_hub, input="while True: pass", limits={"timeout_ms_per_cell": 1000})
    assert reply == {
        "event": "error",
        "id": reply["id"],
        "error": "jupyter_execute: cell took longer than 1 second",
    }
    assert time.monotonic() - started < 10
    await eventually(lambda: kernel_pids(local_hub.home) == [], 5)
    total = await execute(
        local_hub,
        input="import time; time.sleep(0.5)",
        history=["import time; time.sleep(0.5)"],
        limits={"timeout_ms": 8000, "timeout_ms_per_cell": 2000},
    )
    assert total["event"] == "jupyter_execute_response"  # each cell < 2 s, in all < 8 s


async def test_total_time_limit(local_hub: LocalHub) -> None:
    reply = await execute(
        local_hub,
        input="import time; time.sleep(1)",
        history=["import time; time.sleep(1)"] * 4,
        limits={"timeout_ms": 4000, "timeout_ms_per_cell": 3000},
    )
    assert reply["error"] == "jupyter_execute: took longer than 4 seconds in total"


async def test_output_limits_at_their_edge(local_hub: LocalHub) -> None:
    # one stream output of n characters is {"output_type":"stream","name":"stdout","text":"..."}
    overhead = len('{"output_type":"stream","name":"stdout","text":""}')
    n = 1000
    fits = await execute(
        local_hub,
        input=f"print('x' * {n - 1})",  # print adds the newline, escaped as two bytes
        limits={"max_output": n + overhead + 1},
    )
    assert fits["event"] == "jupyter_execute_response", fits
    over = await execute(
        local_hub, input=f"print('x' * {n})", limits={"max_output": n + overhead + 1}
    )
    assert over["error"] == f"jupyter_execute: output exceeded {n + overhead + 1} bytes"
    cell = await execute(
        local_hub,
        input="import time\nwhile True: print('y' * 1000); time.sleep(0.005)",
        limits={"max_output_per_cell": 50_000},
    )
    assert cell["error"] == "jupyter_execute: a cell's output exceeded 50000 bytes"
    await eventually(lambda: kernel_pids(local_hub.home) == [], 5)


async def test_a_kernel_that_dies_is_reported(local_hub: LocalHub) -> None:
    reply = await execute(local_hub, input="import os; os._exit(1)")
    assert reply["event"] == "error"
    assert "kernel died" in reply["error"]


async def test_pool_is_used_recycled_and_culled(local_hub: LocalHub) -> None:
    async with local_hub.client() as side:
        pool = await side.call(
            {
                "event": "jupyter_start_pool",
                "kernels": {"python3": 2},
                "pool_options": {"idle_s": 3600, "max_kernels": 3},
            },
            timeout=30,
        )
        assert pool["pool"] == {"python3": 2}
        assert len(kernel_pids(local_hub.home)) == 2
        reply = await side.call(
            {"event": "jupyter_execute", "kernel": "python3", "input": "1+1"}, timeout=30
        )
        assert reply["pooled"] is True
        assert reply["output"][0]["data"]["text/plain"] == "2"
        # the used kernel is gone and a new one replaces it
        await eventually(lambda: len(kernel_pids(local_hub.home)) == 2, 20)
        # a pooled kernel moves to the request's directory
        (local_hub.home / "d").mkdir()
        moved = await side.call(
            {
                "event": "jupyter_execute",
                "kernel": "python3",
                "input": "import os; os.getcwd()",
                "path": "d/n.ipynb",
            },
            timeout=30,
        )
        assert moved["pooled"] is True
        assert moved["output"][0]["data"]["text/plain"] == repr(str(local_hub.home / "d"))
        # the bound: asking for 10 gives at most max_kernels
        bounded = await side.call(
            {"event": "jupyter_start_pool", "kernels": {"python3": 10}}, timeout=30
        )
        assert bounded["pool"] == {"python3": 3}
        # idle kernels are culled and not replaced
        culled = await side.call(
            {
                "event": "jupyter_start_pool",
                "kernels": {"python3": 0},
                "pool_options": {"idle_s": 0.2},
            },
            timeout=30,
        )
        assert culled["event"] == "jupyter_start_pool"
        await eventually(lambda: kernel_pids(local_hub.home) == [], 10)
        bad = await side.call({"event": "jupyter_start_pool", "kernels": {"cobol": 1}})
        assert bad["error"].startswith("jupyter_execute: no kernel named 'cobol'")


async def test_stop_shuts_every_kernel_down(tmp_path: Path) -> None:
    home = tmp_path / "p"
    async with start_local_hub(home) as daemon, daemon.hub.client() as side:
        await side.call({"event": "jupyter_start_pool", "kernels": {"python3": 2}}, timeout=30)
        # one running a cell when the daemon stops
        await side.send(
            {
                "event": "jupyter_execute",
                "kernel": "python3",
                "input": "import time; time.sleep(60)",
            }
        )
        await eventually(lambda: len(kernel_pids(home)) == 3, 20)
        pids = kernel_pids(home)
    await eventually(lambda: all(not os.path.exists(f"/proc/{p}") for p in pids), 10)
    assert kernel_pids(home) == []


async def test_running_kernels_are_bounded(local_hub: LocalHub) -> None:
    async with local_hub.client() as side:
        sleep = {
            "event": "jupyter_execute",
            "kernel": "python3",
            "input": "import time; time.sleep(30)",
            "pool_options": {"max_running": 2},
        }
        first, second = await side.send(dict(sleep)), await side.send(dict(sleep))
        await eventually(lambda: len(kernel_pids(local_hub.home)) == 2, 20)
        third = await side.call({**sleep, "input": "1"})
        assert third["error"] == (
            "jupyter_execute: too many kernels running in this project (at most 2); try again later"
        )
    # the link closed: both running cells were cancelled and their kernels killed
    await eventually(lambda: kernel_pids(local_hub.home) == [], 10)
    assert first != second

    async def room_again() -> bool:
        reply = await execute(local_hub, input="1")
        return reply["event"] == "jupyter_execute_response"

    await eventually(room_again, 10)  # the killed kernels leave the count once reaped


async def test_kernels_exit_when_the_daemon_is_killed(tmp_path: Path) -> None:
    home = tmp_path / "p"
    async with start_local_hub(home) as daemon, daemon.hub.client() as side:
        await side.call({"event": "jupyter_start_pool", "kernels": {"python3": 2}}, timeout=30)
        assert len(kernel_pids(home)) == 2
        kill_hard(daemon)  # no close(): the kernels notice their parent is gone
        await eventually(lambda: kernel_pids(home) == [], 10)


async def test_the_projects_own_kernelspecs_and_a_broken_one(local_hub: LocalHub) -> None:
    spec_dir = local_hub.home / ".local/share/jupyter/kernels/broken"
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [str(local_hub.home / "no-such-program"), "-f", "{connection_file}"],
        "display_name": "Broken",
        "language": "none",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    async with local_hub.client() as side:
        reply = await side.call({"event": "jupyter_kernels"})
    assert {"name": "broken", "display_name": "Broken", "language": "none"}.items() <= next(
        k for k in reply["kernels"] if k["name"] == "broken"
    ).items()
    failed = await execute(local_hub, input="1", kernel="broken")
    assert failed["error"].startswith("jupyter_execute: the kernel failed:")
    assert "no-such-program" in failed["error"]
    ok = await execute(local_hub, input="1")
    assert ok["event"] == "jupyter_execute_response"
