"""`Database` on the real embedded server: queries, transactions, timeouts, failures."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest
from structlog.testing import capture_logs

from hub.config import Settings
from hub.db.database import Database, is_connection_error, pool_options
from hub.errors import DatabaseDown, Timeout
from tests.fixtures.db import wait_until
from tests.fixtures.timeouts import seconds

UNREACHABLE = "postgresql://postgres@/postgres?host=/nonexistent-hub-test-dir&port=5432"


async def test_fetch_fetchrow_fetchval_execute(db: Database) -> None:
    assert await db.execute("CREATE TABLE t (k int PRIMARY KEY, v text)") == "CREATE TABLE"
    assert await db.execute("INSERT INTO t VALUES ($1, $2), ($3, $4)", 1, "a", 2, "b") == (
        "INSERT 0 2"
    )
    rows = await db.fetch("SELECT k, v FROM t ORDER BY k")
    assert [tuple(r) for r in rows] == [(1, "a"), (2, "b")]
    row = await db.fetchrow("SELECT v FROM t WHERE k = $1", 2)
    assert row is not None and row["v"] == "b"
    assert await db.fetchrow("SELECT v FROM t WHERE k = $1", 3) is None
    assert await db.fetchval("SELECT count(*) FROM t") == 2
    assert db.is_up


async def test_transaction_commits_or_rolls_back(db: Database) -> None:
    await db.execute("CREATE TABLE t (k int)")
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO t VALUES (1)")
        assert conn.is_in_transaction()
    with pytest.raises(RuntimeError, match="mine"):
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO t VALUES (2)")
            raise RuntimeError("mine")
    assert [r["k"] for r in await db.fetch("SELECT k FROM t")] == [1]


async def test_errors_of_the_callers_own_pass_through(db: Database) -> None:
    with pytest.raises(asyncpg.UndefinedTableError):
        await db.fetch("SELECT * FROM no_such_table")
    with pytest.raises(FileNotFoundError):
        async with db.transaction():
            raise FileNotFoundError("not the database's")
    with pytest.raises(TimeoutError):
        async with db.transaction():
            raise TimeoutError
    assert db.is_up
    assert await db.fetchval("SELECT 1") == 1


async def test_pool_settings_reach_every_connection(dsn: str, db_settings: Settings) -> None:
    settings = dataclasses.replace(db_settings, db_pool_min=2, db_pool_max=3)
    database = await Database.open(dsn, settings, wait=False)
    try:
        assert database.pool.get_min_size() == 2
        assert database.pool.get_max_size() == 3
        values = await asyncio.gather(
            *(database.fetchval("SELECT current_setting('statement_timeout')") for _ in range(6))
        )
        assert set(values) == {f"{round(settings.db_statement_timeout_s)}s"}
    finally:
        await database.close()


def test_command_timeout_is_slightly_above_statement_timeout() -> None:
    options = pool_options(Settings(db_statement_timeout_s=30.0, db_connect_timeout_s=2.5))
    assert options["server_settings"]["statement_timeout"] == "30000"
    assert 30.0 < options["command_timeout"] <= 35.0
    assert options["timeout"] == 2.5
    off = pool_options(Settings(db_statement_timeout_s=0))
    assert "statement_timeout" not in off["server_settings"]
    assert off["command_timeout"] is None


async def test_statement_timeout_cancels_a_long_query(dsn: str, db_settings: Settings) -> None:
    settings = dataclasses.replace(db_settings, db_statement_timeout_s=0.2)
    database = await Database.open(dsn, settings, wait=False)
    database.start_health_monitor()
    try:
        assert await database.fetchval("SHOW statement_timeout") == "200ms"
        t0 = time.monotonic()
        with pytest.raises(Timeout, match=r"longer than 0\.2 s"):
            await database.fetchval("SELECT pg_sleep(10)")
        assert time.monotonic() - t0 < seconds(2)
        with pytest.raises(Timeout, match=r"longer than 0\.2 s"):
            async with database.transaction() as conn:
                await conn.execute("SELECT pg_sleep(10)")
        # A slow query is not an outage.
        assert database.is_up
        assert await database.fetchval("SELECT 1") == 1
    finally:
        await database.close()


async def test_a_killed_connection_is_down_then_up_again_at_once(db: Database, dsn: str) -> None:
    # Whatever kills a connection (here pg_terminate_backend, the same 57P01 as a
    # shutdown) fails that call with DatabaseDown; the monitor looks at once and
    # finds the database up, so the next calls work without waiting an interval.
    pid = await db.fetchval("SELECT pg_backend_pid()")

    async def running() -> bool:
        async with other_connection(dsn) as other:
            sql = "SELECT state FROM pg_stat_activity WHERE pid = $1"
            return bool(await other.fetchval(sql, pid) == "active")

    with capture_logs() as logs:
        query = asyncio.create_task(db.fetchval("SELECT pg_sleep(30)"))
        await wait_until(running, seconds(5), what="the long query to start")
        async with other_connection(dsn) as other:
            assert await other.fetchval("SELECT pg_terminate_backend($1)", pid)
        with pytest.raises(DatabaseDown, match="database is down"):
            await query
        took = await wait_until(lambda: db.is_up, seconds(2), what="database up again")
        assert await db.fetchval("SELECT 1") == 1
    assert took < seconds(1)
    events = [e["event"] for e in logs if e["event"].startswith("database ")]
    assert events == ["database down", "database up"]


@contextlib.asynccontextmanager
async def other_connection(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection outside the pool, to the same database."""
    conn = await asyncpg.connect(dsn, timeout=seconds(5))
    try:
        yield conn
    finally:
        await conn.close()


async def test_open_without_wait_fails_fast_when_unreachable(db_settings: Settings) -> None:
    t0 = time.monotonic()
    with pytest.raises(DatabaseDown):
        await Database.open(UNREACHABLE, db_settings, wait=False)
    assert time.monotonic() - t0 < seconds(1)


async def test_open_with_wait_retries_and_logs_each_failure(db_settings: Settings) -> None:
    with capture_logs() as logs:
        opening = asyncio.create_task(Database.open(UNREACHABLE, db_settings))
        try:
            await wait_until(
                lambda: sum(e["event"] == "database unreachable" for e in logs) >= 3,
                seconds(5),
                what="three logged attempts",
            )
            assert not opening.done()
        finally:
            opening.cancel()
            with pytest.raises(asyncio.CancelledError):
                await opening
    attempts = [e for e in logs if e["event"] == "database unreachable"]
    assert [e["attempt"] for e in attempts[:3]] == [1, 2, 3]
    assert attempts[0]["log_level"] == "warning"
    assert "error" in attempts[0]


async def test_open_does_not_retry_a_configuration_error(dsn: str, db_settings: Settings) -> None:
    wrong = dsn.replace("/t_", "/no_such_db_", 1)
    with pytest.raises(asyncpg.InvalidCatalogNameError):
        await Database.open(wrong, db_settings)


async def test_a_closed_database_raises_database_down(dsn: str, db_settings: Settings) -> None:
    database = await Database.open(dsn, db_settings, wait=False)
    await database.close()
    await database.close()  # twice is fine
    with pytest.raises(DatabaseDown):
        await database.fetchval("SELECT 1")


def test_connection_errors_are_told_apart_from_query_errors() -> None:
    down = [
        ConnectionRefusedError(),
        FileNotFoundError(),
        ConnectionResetError(),
        TimeoutError(),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.InterfaceError("cannot perform operation: connection is closed"),
        asyncpg.InterfaceError("pool is closing"),
    ]
    not_down = [
        asyncpg.QueryCanceledError("canceling statement due to statement timeout"),
        asyncpg.UniqueViolationError("duplicate key"),
        asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
        ValueError("x"),
        DatabaseDown(),
    ]
    assert [e for e in down if not is_connection_error(e)] == []
    assert [e for e in not_down if is_connection_error(e)] == []
