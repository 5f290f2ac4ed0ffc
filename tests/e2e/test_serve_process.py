"""`hub serve` as a user runs it: a real process on an embedded PostgreSQL, SIGTERM to stop."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from hub.client import HubClient
from tests.fixtures.hub import basic_auth
from tests.fixtures.timeouts import seconds

HUB = [sys.executable, "-m", "hub"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_healthy(url: str, proc: asyncio.subprocess.Process, timeout: float) -> None:
    async with aiohttp.ClientSession() as http:
        async with asyncio.timeout(timeout):
            while True:
                assert proc.returncode is None, "hub exited during start-up"
                try:
                    async with http.get(f"{url}/healthz") as r:
                        if r.status == 200:
                            return
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.1)


@pytest.mark.slow
async def test_serve_account_cli_api_and_graceful_sigterm(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data_dir = tmp_path / "data"
    env = {**os.environ, "HUB_LOG_FORMAT": "json", "HUB_ARGON2_MEMORY_KIB": "8"}
    proc = await asyncio.create_subprocess_exec(
        *HUB,
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        await wait_healthy(url, proc, seconds(60))
        # the shell command works while the hub runs on the same data dir
        made = await asyncio.create_subprocess_exec(
            *HUB,
            "account",
            "create",
            "--email",
            "Admin@Example.com",
            "--password",
            "admin-password",
            "--admin",
            "--api-key",
            "--data-dir",
            str(data_dir),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(made.communicate(), seconds(60))
        assert made.returncode == 0, err.decode()
        created = json.loads(out)
        assert created["api_key"].startswith("sk_")
        async with aiohttp.ClientSession() as http:
            async with http.post(
                f"{url}/api/v1/log_client_error",
                data={"error": "hello"},
                headers=basic_auth(created["api_key"]),
            ) as r:
                assert r.status == 200
                assert (await r.json())["event"] == "success"
            async with http.get(f"{url}/metrics") as r:
                assert "hub_websocket_connections" in await r.text()
        async with HubClient.connect(f"ws://127.0.0.1:{port}/hub") as c:
            signed = await c.sign_in("admin@example.com", "admin-password")
            assert signed["account_id"] == created["account_id"]
            proc.send_signal(signal.SIGTERM)
            pushes = []
            while (push := await c.next_push(seconds(20)))["event"] != "reconnect":
                pushes.append(push)
            await asyncio.wait_for(c.closed.wait(), seconds(20))
            assert c.conn.close_code == 1001
        assert await asyncio.wait_for(proc.wait(), seconds(60)) == 0
        stderr = (await proc.stderr.read()).decode() if proc.stderr else ""
        assert "admin-password" not in stderr
        assert created["api_key"] not in stderr
        events = [json.loads(line)["event"] for line in stderr.splitlines() if line.startswith("{")]
        assert "hub stopped" in events
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_api_docs_prints_markdown() -> None:
    out = subprocess.run([*HUB, "api-docs"], capture_output=True, text=True, check=True).stdout
    assert "/api/v1/ping" in out
    assert "project_exec" in out
    as_json = subprocess.run(
        [*HUB, "api-docs", "--json"], capture_output=True, text=True, check=True
    ).stdout
    assert "ping" in json.loads(as_json)["events"]
