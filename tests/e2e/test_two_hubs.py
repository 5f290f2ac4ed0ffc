"""Two `hub serve` processes on one PostgreSQL and one projects directory, three clients:
password on hub A, API key on hub B, a remember-me cookie moving from A to B; a write
through A reaches a feed on B; both hubs relay to one local hub at once; SIGTERM to A
leaves B serving, and A's client moves to B and resumes its feed without a gap."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from hub.client import HubClient
from tests.e2e.test_serve_process import free_port, wait_healthy
from tests.fixtures.hub import basic_auth, stop_projects
from tests.fixtures.timeouts import seconds

PASSWORD = "two-hubs-pass-1"


async def start_hub(dsn: str, data_dir: Path, log: Path) -> tuple[asyncio.subprocess.Process, str]:
    port = free_port()
    env = {**os.environ, "HUB_ARGON2_MEMORY_KIB": "8", "HUB_ARGON2_TIME_COST": "1"}
    argv = [sys.executable, "-m", "hub", "serve", "--port", str(port), "--data-dir", str(data_dir)]
    argv += ["--database-url", dsn, "--project-isolate-users", "off", "--hub-heartbeat-s", "0.5"]
    with log.open("wb") as log_file:  # the child keeps its own copy of the descriptor
        proc = await asyncio.create_subprocess_exec(
            *argv, env=env, stdout=subprocess.DEVNULL, stderr=log_file
        )
    url = f"http://127.0.0.1:{port}"
    await wait_healthy(url, proc, seconds(60))
    return proc, url


def ws(url: str) -> str:
    return url.replace("http://", "ws://") + "/hub"


async def feed_change(client: HubClient, feed_id: str) -> dict[str, Any]:
    async with asyncio.timeout(seconds(15)):
        while True:
            push = await client.next_push()
            if push.get("id") == feed_id:
                assert push.get("event") != "error", push
                return push


async def open_feed(client: HubClient, feed_id: str, pid: str, **extra: Any) -> dict[str, Any]:
    query = {"projects": {"project_id": pid, "title": None}}
    message = {"event": "query", "id": feed_id, "changes": True, "multi_response": True}
    await client.send({**message, "query": query, **extra})
    return await feed_change(client, feed_id)


async def set_title(client: HubClient, pid: str, title: str) -> None:
    await client.call("query", query={"projects": {"project_id": pid, "title": title}})


@pytest.mark.slow
async def test_two_hubs_one_database(dsn: str, tmp_path: Path) -> None:
    data = tmp_path / "shared-data"
    a, url_a = await start_hub(dsn, data, tmp_path / "a.log")
    b, url_b = await start_hub(dsn, data, tmp_path / "b.log")
    try:
        async with HubClient.connect(ws(url_a)) as first:
            me = await first.call(
                "create_account",
                email_address="two@example.com",
                password=PASSWORD,
                agreed_to_terms=True,
                get_api_key=True,
            )
            await first.call(
                "sign_in", email_address="two@example.com", password=PASSWORD, remember_me=True
            )
            cookie = ""
            while not cookie:
                push = await first.next_push(timeout=seconds(10))
                cookie = push.get("value", "") if push.get("event") == "cookies" else ""
            pid = (await first.call("create_project", title="shared"))["project_id"]
            seen = await open_feed(first, "feed-a", pid)
            assert seen["query"]["projects"]["title"] == "shared"

            # the cookie made on A signs in on B
            async with HubClient.connect(ws(url_b), cookie=cookie) as third:
                signed = await third.next_push(timeout=seconds(10))
                while signed["event"] != "signed_in":
                    signed = await third.next_push(timeout=seconds(10))
                assert signed["account_id"] == me["account_id"]
                await open_feed(third, "feed-b", pid)

                # a write through A reaches the feed on B (and A's own)
                await set_title(first, pid, "written on A")
                change_b = await feed_change(third, "feed-b")
                assert change_b["new_val"]["title"] == "written on A"
                last_seq_a = (await feed_change(first, "feed-a"))["seq"]

                # both hubs relay to the project's one local hub at the same time
                command = {"project_id": pid, "command": "cat", "args": [".smc/local-hub.pid"]}
                async with aiohttp.ClientSession() as http:

                    async def via_b() -> dict[str, Any]:
                        async with http.post(
                            f"{url_b}/api/v1/project_exec",
                            json=command,
                            headers=basic_auth(me["api_key"]),
                        ) as r:
                            assert r.status == 200
                            return dict(await r.json())

                    on_a, on_b = await asyncio.gather(
                        first.call("project_exec", **command), via_b()
                    )
                assert on_a["event"] == on_b["event"] == "project_exec_output"
                assert on_a["stdout"] == on_b["stdout"] and on_a["stdout"].strip().isdigit()

                # SIGTERM to A: its client is told to reconnect, A exits 0, B serves on
                a.send_signal(signal.SIGTERM)
                reconnect = await first.next_push(timeout=seconds(15))
                while reconnect["event"] not in ("reconnect", "error"):
                    reconnect = await first.next_push(timeout=seconds(15))
                assert reconnect["event"] == "reconnect"
                assert await asyncio.wait_for(a.wait(), seconds(30)) == 0
                await asyncio.wait_for(first.closed.wait(), seconds(10))
                await set_title(third, pid, "written on B while A's client moved")
                assert (await third.call("ping"))["event"] == "pong"

            # A's client comes back on B with its cookie and resumes its feed
            async with HubClient.connect(ws(url_b), cookie=cookie) as moved:
                resumed = await open_feed(moved, "feed-a", pid, options=[{"since": last_seq_a}])
                missed = resumed if "action" in resumed else await feed_change(moved, "feed-a")
                assert missed["action"] == "update"
                assert missed["new_val"]["title"] == "written on B while A's client moved"
                assert missed["seq"] > last_seq_a
    finally:
        for proc in (a, b):
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                await asyncio.wait_for(proc.wait(), seconds(30))
        from hub.config import Settings

        await stop_projects(Settings.load(environ={}, data_dir=data, database_url=dsn))
