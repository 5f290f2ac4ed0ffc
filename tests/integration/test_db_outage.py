"""PostgreSQL goes away and comes back: a server of this module's own, not the shared one.

Its data directory is long on purpose (the socket must move out of it) and is
reached through a relative path in one test.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from structlog.testing import capture_logs

from hub.config import Settings
from hub.db.database import Database
from hub.db.embedded import SOCKET_PATH_MAX, EmbeddedPostgres
from hub.db.migrate import load_migrations, migrate
from hub.errors import DatabaseDown
from tests.fixtures.db import new_server, server_tmpdir, wait_until
from tests.fixtures.timeouts import seconds

LONG_NAME = "a-data-directory-whose-path-is-too-long-for-a-unix-socket-" + "x" * 40


@dataclasses.dataclass
class OwnServer:
    server: EmbeddedPostgres
    base: Path  # a temporary directory
    data_dir: Path  # base / LONG_NAME
    dsn: str


@pytest.fixture(scope="module")
def own_server() -> Iterator[OwnServer]:
    base = server_tmpdir("hub-test-outage-")
    data_dir = base / LONG_NAME
    server = new_server()
    dsn = server.start(data_dir)
    try:
        yield OwnServer(server, base, data_dir, dsn)
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def outage_settings() -> Settings:
    return Settings(
        db_pool_min=2,
        db_pool_max=4,
        db_connect_timeout_s=seconds(3),
        db_statement_timeout_s=seconds(30),
        db_health_interval_s=0.1,
    )


def test_a_long_data_dir_gets_a_short_socket_dir(own_server: OwnServer) -> None:
    pgdata = own_server.server.pgdata
    assert pgdata == own_server.data_dir / "postgres"
    assert len(str(pgdata / ".s.PGSQL.5432")) > SOCKET_PATH_MAX
    assert "%2Fhub-pg-" in own_server.dsn
    assert (pgdata / "PG_VERSION").exists()


async def test_outage_fails_fast_and_recovers_by_itself(
    own_server: OwnServer, outage_settings: Settings
) -> None:
    server = own_server.server
    db = await Database.open(own_server.dsn, outage_settings, wait=False)
    db.start_health_monitor()
    try:
        # Several pooled connections open, all of which the stop will break.
        assert await asyncio.gather(*(db.fetchval("SELECT 1") for _ in range(4))) == [1] * 4
        with capture_logs() as logs:
            await asyncio.to_thread(server.stop)
            stopped = time.monotonic()

            # The first call fails within a couple of seconds, not a connect timeout.
            with pytest.raises(DatabaseDown, match=r"database is down \(please try later\)"):
                await db.fetchval("SELECT 1")
            first_failure_s = time.monotonic() - stopped
            assert first_failure_s < seconds(2)
            down_s = await wait_until(lambda: not db.is_up, seconds(2), what="is_up False")

            # While down, every call fails at once.
            t0 = time.monotonic()
            for _ in range(50):
                with pytest.raises(DatabaseDown):
                    await db.fetch("SELECT 1")
                with pytest.raises(DatabaseDown):
                    async with db.transaction():
                        pass  # pragma: no cover - never entered
            assert time.monotonic() - t0 < seconds(0.5)

            # Same data directory, same DSN: the Database sees it come back.
            started = time.monotonic()
            await asyncio.to_thread(server.start, own_server.data_dir)
            start_s = time.monotonic() - started
            up_s = await wait_until(lambda: db.is_up, seconds(10), what="is_up True")
            assert await db.fetchval("SELECT 41 + 1") == 42
            results = await asyncio.gather(*(db.fetchval("SELECT 1") for _ in range(8)))
            assert results == [1] * 8
            recovery_s = time.monotonic() - started
        transitions = [e for e in logs if e["event"] in ("database down", "database up")]
        assert [e["event"] for e in transitions] == ["database down", "database up"]
        assert transitions[0]["log_level"] == "warning"
        print(
            f"\noutage: first DatabaseDown {first_failure_s * 1000:.0f} ms after stop, "
            f"is_up False after {down_s * 1000:.0f} ms; "
            f"recovery: server start took {start_s * 1000:.0f} ms, is_up True "
            f"{up_s * 1000:.0f} ms later; queries work {recovery_s * 1000:.0f} ms after start()"
        )
    finally:
        await db.close()


async def test_open_waits_until_the_database_is_reachable(
    own_server: OwnServer, outage_settings: Settings
) -> None:
    server = own_server.server
    await asyncio.to_thread(server.stop)
    with capture_logs() as logs:
        opening = asyncio.create_task(Database.open(own_server.dsn, outage_settings))
        try:
            await wait_until(
                lambda: any(e["event"] == "database unreachable" for e in logs),
                seconds(5),
                what="a logged failed attempt",
            )
            assert not opening.done()
        except BaseException:
            opening.cancel()
            raise
        finally:
            await asyncio.to_thread(server.start, own_server.data_dir)  # the next tests need it
    async with asyncio.timeout(seconds(15)):
        db = await opening
    try:
        assert db.is_up
        assert await db.fetchval("SELECT 1") == 1
    finally:
        await db.close()


async def test_a_second_holder_attaches_through_a_relative_path(
    own_server: OwnServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(own_server.base)
    second = new_server()
    dsn = await asyncio.to_thread(second.start, Path(LONG_NAME))
    assert dsn == own_server.dsn
    assert not second.started_server
    await asyncio.to_thread(second.stop)  # not the last holder: the server keeps running
    conn = await asyncpg.connect(own_server.dsn, timeout=seconds(5))
    try:
        assert await conn.fetchval("SELECT 1") == 1
    finally:
        await conn.close()


async def test_migrate_waits_for_a_server_that_is_starting(own_server: OwnServer) -> None:
    server = own_server.server
    await asyncio.to_thread(server.stop)
    with capture_logs() as logs:
        migrating = asyncio.create_task(migrate(own_server.dsn, connect_timeout_s=seconds(20)))
        try:
            await wait_until(
                lambda: any(e["event"] == "database unreachable" for e in logs),
                seconds(5),
                what="a logged failed attempt",
            )
            assert not migrating.done()
        except BaseException:
            migrating.cancel()
            raise
        finally:
            await asyncio.to_thread(server.start, own_server.data_dir)
        async with asyncio.timeout(seconds(20)):
            applied = await migrating
    assert applied == [m.name for m in load_migrations()]
