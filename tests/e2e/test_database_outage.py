"""The hub keeps answering while PostgreSQL is down, and recovers by itself."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path

import aiohttp
import pytest

from hub.app import Hub
from hub.client import HubClient
from hub.config import Settings
from hub.db.embedded import EmbeddedPostgres
from tests.fixtures.hub import FAST_HASHING
from tests.fixtures.timeouts import eventually, seconds


@pytest.fixture
async def own_postgres(tmp_path: Path) -> AsyncIterator[tuple[EmbeddedPostgres, str, Path]]:
    pg = EmbeddedPostgres()
    dsn = await asyncio.to_thread(pg.start, tmp_path)
    try:
        yield pg, dsn, tmp_path
    finally:
        await asyncio.to_thread(pg.stop)


async def _is(status: Awaitable[int], expected: int) -> bool:
    return await status == expected


async def health(http: aiohttp.ClientSession, url: str) -> int:
    async with http.get(f"{url}/healthz") as r:
        return r.status


@pytest.mark.slow
async def test_outage_gives_prompt_errors_and_503_then_recovers(own_postgres) -> None:
    pg, dsn, data_dir = own_postgres
    from hub.db.migrate import migrate

    await migrate(dsn)
    settings = Settings.load(
        environ={},
        port=0,
        database_url=dsn,
        data_dir=data_dir,
        db_health_interval_s=0.2,
        **FAST_HASHING,
    )
    hub = Hub(settings)
    await hub.start()
    url = f"http://127.0.0.1:{hub.port}"
    try:
        async with (
            aiohttp.ClientSession() as http,
            HubClient.connect(f"ws://127.0.0.1:{hub.port}/hub", timeout=seconds(10)) as c,
        ):
            assert await health(http, url) == 200
            created = await c.call(
                "create_account",
                email_address="up@example.com",
                password="password1",
                agreed_to_terms=True,
            )
            assert created["event"] == "signed_in"

            await asyncio.to_thread(pg.stop)
            started = time.monotonic()
            reply = await c.call("log_client_error", error="during outage", raise_errors=False)
            assert reply["error"] == "database is down (please try later)"
            assert time.monotonic() - started < seconds(5)
            await eventually(lambda: _is(health(http, url), 503), 10)
            # fast failure once the hub knows the database is down
            started = time.monotonic()
            reply = await c.call("log_client_error", error="still down", raise_errors=False)
            assert reply["error"] == "database is down (please try later)"
            assert time.monotonic() - started < seconds(1)
            # the connection itself is fine
            assert (await c.call("ping"))["event"] == "pong"

            await asyncio.to_thread(pg.start, data_dir)
            await eventually(lambda: _is(health(http, url), 200), 20)
            reply = await c.call("log_client_error", error="after outage")
            assert reply["event"] == "success"
    finally:
        await hub.stop()
