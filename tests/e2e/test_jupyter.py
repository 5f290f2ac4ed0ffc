"""Jupyter from a user's side: real hub, real local hubs, real ipykernel kernels,
over the WebSocket and the HTTP API."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from hub.db import projects as project_table
from hub.live.jupyter import request_hash
from tests.e2e.test_projects import account, close, new_project
from tests.fixtures.hub import basic_auth
from tests.fixtures.timeouts import eventually

SHARED = {"jupyter_api_enabled": True}


def kernel_pids(home: Path) -> list[int]:
    out = subprocess.run(
        ["pgrep", "-f", f"{home}/.smc/jupyter/kernel-"], capture_output=True, text=True
    )
    return [int(p) for p in out.stdout.split()]


def home_of(hub: Any, pid: str) -> Path:
    return Path(hub.state.runner.home(uuid.UUID(pid)))


async def execute(client: Any, **fields: Any) -> dict[str, Any]:
    fields.setdefault("kernel", "python3")
    fields.setdefault("raise_errors", False)
    result: dict[str, Any] = await client.call("jupyter_execute", **fields)
    return result


async def test_kernels_and_outputs(connect) -> None:
    c, _ = await account(connect, "jup@example.com")
    try:
        pid = await new_project(c)
        kernels = await c.call("jupyter_kernels", project_id=pid)
        assert "python3" in [k["name"] for k in kernels["kernels"]]

        reply = await execute(c, project_id=pid, input="1+1")
        assert reply["event"] == "jupyter_execute_response"
        assert reply["output"] == [
            {
                "output_type": "execute_result",
                "data": {"text/plain": "2"},
                "metadata": {},
                "execution_count": 1,
            }
        ]
        assert reply["total_time_s"] > 0 and reply["time"]

        printed = await execute(c, project_id=pid, input="print('hello')")
        assert printed["output"] == [{"output_type": "stream", "name": "stdout", "text": "hello\n"}]

        plot = "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()"
        image = await execute(c, project_id=pid, input=plot)
        [shown] = image["output"]
        assert shown["output_type"] == "display_data"
        assert shown["data"]["image/png"].startswith("iVBORw0KGgo")  # base64 of the PNG magic

        err = await execute(c, project_id=pid, input="undefined_name")
        [failed] = err["output"]
        assert failed["output_type"] == "error" and failed["ename"] == "NameError"
        assert any("undefined_name" in line for line in failed["traceback"])

        hist = await execute(c, project_id=pid, history=["a = 20", "b = a + 1"], input="a * b")
        assert hist["output"][0]["data"]["text/plain"] == "420"
        assert hist["output"][0]["execution_count"] == 3
    finally:
        await close(c)


async def test_identical_requests_come_from_the_cache(connect, hub) -> None:
    c, me = await account(connect, "cache@example.com")
    try:
        pid = await new_project(c)
        code = "import random; random.random()"
        first = await execute(c, project_id=pid, input=code, history=["x = 1"])
        key = request_hash(
            history=["x = 1"], input=code, kernel="python3", project_id=uuid.UUID(pid), path=None
        )
        row = await hub.state.db.fetchrow(
            "SELECT project_id, account_id, output FROM jupyter_execute_cache WHERE hash = $1", key
        )
        assert row["output"] == first["output"]
        assert str(row["account_id"]) == me["account_id"]
        # mark the stored result: the next identical request must return the mark
        marked = [{"output_type": "stream", "name": "stdout", "text": "from the cache"}]
        await hub.state.db.execute(
            "UPDATE jupyter_execute_cache SET output = $1 WHERE hash = $2", marked, key
        )
        second = await execute(c, project_id=pid, input=code, history=["x = 1"])
        assert second["output"] == marked
        assert second["time"] == first["time"]
        by_hash = await execute(c, hash=key)
        assert by_hash["output"] == marked
        # another history is another computation
        other = await execute(c, project_id=pid, input=code, history=["x = 2"])
        assert other["output"] != marked
        # a run that hit a limit is not stored
        await execute(
            c, project_id=pid, input="while True: pass", limits={"timeout_ms_per_cell": 500}
        )
        count = await hub.state.db.fetchval("SELECT count(*) FROM jupyter_execute_cache")
        assert count == 2
        unknown = await execute(c, hash="0" * 40)
        assert unknown["error"] == f"jupyter_execute: no cached result for hash '{'0' * 40}'"
    finally:
        await close(c)


async def test_pooled_kernel_is_used(connect, hub) -> None:
    c, _ = await account(connect, "pool@example.com")
    try:
        pid = await new_project(c)
        cold = await execute(c, project_id=pid, input="'cold'")
        assert cold["pooled"] is False
        pool = await c.call("jupyter_start_pool", project_id=pid, kernels=1)
        assert pool == {"event": "success", "id": pool["id"], "pool": {"python3": 1}}
        warm = await execute(c, project_id=pid, input="'warm'")
        assert warm["pooled"] is True
        assert warm["output"][0]["data"]["text/plain"] == "'warm'"
        # recycled: a fresh kernel replaces the one used
        home = home_of(hub, pid)
        await eventually(lambda: len(kernel_pids(home)) == 1, 15)
        again = await execute(c, project_id=pid, input="'again'")
        assert again["pooled"] is True
        bad = await c.call(
            "jupyter_start_pool", project_id=pid, kernels="nonsense", raise_errors=False
        )
        assert bad["error"].startswith("jupyter_execute: no kernel named 'nonsense'")
        bad = await c.call("jupyter_start_pool", project_id=pid, kernels=[{}], raise_errors=False)
        assert bad["error"].startswith("jupyter_start_pool: kernels must be a count")
    finally:
        await close(c)


@pytest.mark.parametrize(
    "hub_overrides", [{"jupyter_cell_timeout_s": 1.0, "jupyter_max_output_bytes": 20_000}]
)
async def test_limits(connect, hub) -> None:
    c, _ = await account(connect, "limits@example.com")
    try:
        pid = await new_project(c)
        home = home_of(hub, pid)
        # a request cannot raise the settings' limits
        spin = await execute(
            c, project_id=pid, input="while True: pass", limits={"timeout_ms_per_cell": 10**9}
        )
        assert spin["error"] == "jupyter_execute: cell took longer than 1 second"
        await eventually(lambda: kernel_pids(home) == [], 5)
        flood = await execute(c, project_id=pid, input="while True: print('x' * 1000)")
        assert flood["error"] == "jupyter_execute: output exceeded 20000 bytes"
        lower = await execute(
            c, project_id=pid, input="print('x' * 600)", limits={"max_output": 500}
        )
        assert lower["error"] == "jupyter_execute: output exceeded 500 bytes"
        bad = await execute(c, project_id=pid, input="1", limits={"timeout_ms": -1})
        assert bad["error"] == "jupyter_execute: limits.timeout_ms must be a positive number"
        await eventually(lambda: kernel_pids(home) == [], 5)
    finally:
        await close(c)


async def test_access_and_paths(connect, hub) -> None:
    owner, _ = await account(connect, "jowner@example.com")
    other, other_me = await account(connect, "jother@example.com")
    try:
        pid = await new_project(owner)
        denied = await execute(other, project_id=pid, input="1")
        assert denied["error"] == (
            f"User {other_me['account_id']} does not have write access to project {pid}"
        )
        denied = await other.call("jupyter_kernels", project_id=pid, raise_errors=False)
        assert "does not have read access" in denied["error"]
        denied = await other.call(
            "jupyter_start_pool", project_id=pid, kernels=1, raise_errors=False
        )
        assert "does not have write access" in denied["error"]
        await project_table.add_user(
            hub.db, uuid.UUID(pid), uuid.UUID(other_me["account_id"]), project_table.VIEWER
        )
        viewer = await execute(other, project_id=pid, input="1")
        assert "does not have write access" in viewer["error"]

        for path in ("../../../../etc/passwd", "/etc/x.ipynb", ".smc/x.ipynb"):
            refused = await execute(owner, project_id=pid, input="1", path=path)
            assert refused["event"] == "error", path
        await owner.call("write_text_file_to_project", project_id=pid, path="w/a.txt", content="A")
        inside = await execute(
            owner, project_id=pid, input="open('a.txt').read()", path="w/n.ipynb"
        )
        assert inside["output"][0]["data"]["text/plain"] == "'A'"
        missing = await execute(owner, project_id=pid, input="1", kernel="nope")
        assert missing["error"].startswith("jupyter_execute: no kernel named 'nope'")
        no_input = await owner.call("jupyter_execute", project_id=pid, raise_errors=False)
        assert no_input["error"] == "jupyter_execute: input must be given"
    finally:
        await close(owner)
        await close(other)


async def test_shared_pool_disabled(connect) -> None:
    c, _ = await account(connect, "nopool@example.com")
    try:
        for event, fields in (
            ("jupyter_kernels", {}),
            ("jupyter_execute", {"input": "1", "kernel": "python3"}),
            ("jupyter_start_pool", {"kernels": 1}),
        ):
            reply = await c.call(event, raise_errors=False, **fields)
            assert reply["error"] == (
                "the Jupyter API is not enabled on this server (jupyter_api_enabled)"
            )
    finally:
        await close(c)


@pytest.mark.parametrize("hub_overrides", [SHARED])
async def test_shared_pool_over_http(connect, hub, http, http_url) -> None:
    c, me = await account(connect, "shared@example.com")
    try:
        kernels = await c.call("jupyter_kernels")
        assert "python3" in [k["name"] for k in kernels["kernels"]]
        auth = basic_auth(me["api_key"])
        async with http.post(
            f"{http_url}/api/v1/jupyter_execute",
            json={"input": "print(6 * 7)", "kernel": "python3"},
            headers=auth,
        ) as r:
            body = await r.json()
        assert body["event"] == "jupyter_execute_response", body
        assert body["output"] == [{"output_type": "stream", "name": "stdout", "text": "42\n"}]
        pid = await new_project(c)
        async with http.post(
            f"{http_url}/api/v1/jupyter_execute",
            json={"input": "2**10", "kernel": "python3", "project_id": pid},
            headers=auth,
        ) as r:
            body = await r.json()
        assert body["output"][0]["data"]["text/plain"] == "1024"
        async with http.post(
            f"{http_url}/api/v1/jupyter_kernels", json={"project_id": pid}, headers=auth
        ) as r:
            assert "python3" in [k["name"] for k in (await r.json())["kernels"]]
        async with http.post(
            f"{http_url}/api/v1/jupyter_start_pool", json={"kernels": 1}, headers=auth
        ) as r:
            assert (await r.json())["pool"] == {"python3": 1}
        home = Path(hub.state.runner.home(uuid.UUID(hub.settings.jupyter_pool_project_id)))
        assert len(kernel_pids(home)) == 1
        async with http.post(f"{http_url}/api/v1/jupyter_execute", json={"input": "1"}) as r:
            assert r.status == 401 or (await r.json())["event"] == "error"
    finally:
        await close(c)
