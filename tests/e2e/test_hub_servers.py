"""Hubs register in `hub_servers`: two hubs on one database see each other, renew their
rows with their client counts, show them on /metrics and in `hub status`, and leave."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any

import aiohttp
import pytest

from hub.app import Hub
from hub.config import Settings
from hub.db import hub_servers
from tests.fixtures.hub import FAST_HASHING
from tests.fixtures.timeouts import eventually


@pytest.fixture
def hub_overrides() -> dict[str, Any]:
    return {"hub_heartbeat_s": 0.2, "advertise_host": "hub-a.example"}


async def second_hub(dsn: str, tmp_path: Any) -> Hub:
    settings = Settings.load(
        environ={},
        host="127.0.0.1",
        port=0,
        data_dir=tmp_path / "data-b",
        database_url=dsn,
        hub_heartbeat_s=0.2,
        **FAST_HASHING,
    )
    other = Hub(settings)
    await other.start()
    return other


async def test_two_hubs_see_each_other_and_leave(hub, dsn, connect, tmp_path) -> None:
    other = await second_hub(dsn, tmp_path)
    try:
        rows = {h.hub_id: h for h in await hub_servers.alive(hub.db)}
        assert set(rows) == {hub.state.hub_id, other.state.hub_id}
        a = rows[hub.state.hub_id]
        assert (a.host, a.port) == ("hub-a.example", hub.port)
        assert rows[other.state.hub_id].host == "127.0.0.1"

        # the client count arrives with the next heartbeats, on both hubs' lists
        async with connect(), connect():

            async def counted() -> bool:
                peers = {p.hub_id: p for p in other.registration.peers}
                mine = peers.get(hub.state.hub_id)
                return mine is not None and mine.clients == 2

            await eventually(counted, timeout=10)

            async with aiohttp.ClientSession() as http, http.get(f"{hub.url}/metrics") as response:
                text = await response.text()
            assert "hub_servers 2.0" in text
            assert f'hub_id="{hub.state.hub_id}",port="{hub.port}",this_hub="1"' in text

        await other.stop()
        assert {h.hub_id for h in await hub_servers.alive(hub.db)} == {hub.state.hub_id}
    finally:
        await other.stop()


async def test_a_silent_hub_drops_out_and_a_renewed_row_comes_back(hub) -> None:
    await hub.db.execute(
        "INSERT INTO hub_servers (hub_id, host, port, pid, expire)"
        " VALUES ('crashed', 'h', 1, 1, now() - interval '1 second')"
    )
    assert "crashed" not in {h.hub_id for h in await hub_servers.alive(hub.db)}
    # our own row deleted (say, as expired while the database was away): the next
    # heartbeat registers again
    await hub.db.execute("DELETE FROM hub_servers WHERE hub_id = $1", hub.state.hub_id)

    async def back() -> bool:
        return hub.state.hub_id in {h.hub_id for h in await hub_servers.alive(hub.db)}

    await eventually(back, timeout=10)


async def test_hub_status_lists_the_hubs(hub, dsn) -> None:
    def status(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hub", "status", "--database-url", dsn, *extra],
            capture_output=True,
            text=True,
            timeout=60,
        )

    done = await asyncio.to_thread(status, "--json")
    assert done.returncode == 0, done.stderr
    hubs = json.loads(done.stdout)["hubs"]
    assert [(h["hub_id"], h["port"]) for h in hubs] == [(hub.state.hub_id, hub.port)]
    table = await asyncio.to_thread(status)
    assert table.returncode == 0
    assert table.stdout.startswith("1 hub(s) serving, 0 client(s)")
    assert f"hub-a.example:{hub.port}" in table.stdout
