"""Migrations on the real embedded server: apply, re-run, concurrent hubs, failure."""

from __future__ import annotations

import asyncio
import time
import uuid

import asyncpg
import pytest

from hub.config import Settings
from hub.db.database import Database
from hub.db.migrate import MIGRATION_LOCK_KEY, Migration, load_migrations, migrate
from tests.fixtures.timeouts import seconds

FOUNDATION_TABLES = {
    "accounts",
    "api_keys",
    "remember_me",
    "auth_tokens",
    "client_error_log",
    "webapp_errors",
    "user_tracking",
    "central_log",
}


async def _tables(dsn: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {r["tablename"] for r in rows}
    finally:
        await conn.close()


async def _recorded(dsn: str) -> list[tuple[int, str]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT version, name FROM schema_migrations ORDER BY version")
        return [(r["version"], r["name"]) for r in rows]
    finally:
        await conn.close()


def test_migration_files_are_numbered_and_shipped() -> None:
    migrations = load_migrations()
    assert migrations[0].name == "0001_foundation"
    assert [m.version for m in migrations] == sorted({m.version for m in migrations})
    assert all(m.sql.strip() for m in migrations)


async def test_migrate_applies_every_file_on_an_empty_database(empty_dsn: str) -> None:
    assert await _tables(empty_dsn) == set()
    applied = await migrate(empty_dsn)
    assert applied == [m.name for m in load_migrations()]
    assert FOUNDATION_TABLES | {"schema_migrations"} <= await _tables(empty_dsn)
    assert await _recorded(empty_dsn) == [(m.version, m.name) for m in load_migrations()]


async def test_rerun_applies_nothing(dsn: str) -> None:
    before = await _recorded(dsn)
    assert before == [(m.version, m.name) for m in load_migrations()]
    assert await migrate(dsn) == []
    assert await migrate(dsn) == []
    assert await _recorded(dsn) == before


async def test_concurrent_migrations_apply_each_file_once(empty_dsn: str) -> None:
    names = [m.name for m in load_migrations()]
    results = await asyncio.gather(*(migrate(empty_dsn) for _ in range(4)))
    applied = [name for result in results for name in result]
    assert sorted(applied) == sorted(names)  # every file once, by exactly one of them
    assert [r for r in results if r] == [names]
    assert await _recorded(empty_dsn) == [(m.version, m.name) for m in load_migrations()]


async def test_a_failing_migration_rolls_back_and_releases_the_lock(empty_dsn: str) -> None:
    broken = Migration(9001, "9001_broken", "CREATE TABLE half_done (x int); SELECT 1/0;")
    with pytest.raises(asyncpg.DivisionByZeroError):
        await migrate(empty_dsn, migrations=[*load_migrations(), broken])
    assert await _recorded(empty_dsn) == [(m.version, m.name) for m in load_migrations()]
    assert "half_done" not in await _tables(empty_dsn)
    conn = await asyncpg.connect(empty_dsn)
    try:
        assert await conn.fetchval("SELECT pg_try_advisory_lock($1)", MIGRATION_LOCK_KEY)
    finally:
        await conn.close()


async def test_migrate_gives_up_on_an_unreachable_database_after_its_timeout() -> None:
    unreachable = "postgresql://postgres@/postgres?host=/nonexistent-hub-test-dir&port=5432"
    t0 = time.monotonic()
    with pytest.raises(OSError):
        await migrate(unreachable, connect_timeout_s=0.5)
    assert 0.25 < time.monotonic() - t0 < seconds(3)


async def test_migrate_on_a_connection_leaves_it_as_it_was(empty_dsn: str) -> None:
    conn = await asyncpg.connect(empty_dsn, server_settings={"statement_timeout": "1234"})
    try:
        applied = await migrate(conn)
        assert applied == [m.name for m in load_migrations()]
        assert await conn.fetchval("SHOW statement_timeout") == "1234ms"
        assert not await conn.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
        )
    finally:
        await conn.close()


async def test_migrate_through_a_pool_connection(empty_dsn: str, db_settings: Settings) -> None:
    database = await Database.open(empty_dsn, db_settings, wait=False)
    try:
        async with database.transaction() as conn:
            assert await migrate(conn) == [m.name for m in load_migrations()]
        assert await database.fetchval("SELECT count(*) FROM schema_migrations") == len(
            load_migrations()
        )
    finally:
        await database.close()


# --- the foundation schema ----------------------------------------------------------


async def test_accounts_defaults_and_case_insensitive_email(db: Database) -> None:
    account_id = await db.fetchval(
        "INSERT INTO accounts (email_address, created_by) VALUES ($1, $2) RETURNING account_id",
        "a@example.com",
        "10.1.2.3",
    )
    assert isinstance(account_id, uuid.UUID)
    row = await db.fetchrow("SELECT * FROM accounts WHERE account_id = $1", account_id)
    assert row is not None
    assert row["groups"] == []
    assert row["deleted"] is False and row["banned"] is False
    assert row["created"] is not None and row["created"].tzinfo is not None
    with pytest.raises(asyncpg.UniqueViolationError):
        await db.execute("INSERT INTO accounts (email_address) VALUES ('A@Example.com')")
    # Several accounts without an address are fine.
    await db.execute("INSERT INTO accounts (email_address) VALUES (NULL), (NULL)")


async def test_account_deletion_cascades_to_keys_and_tokens(db: Database) -> None:
    account_id = await db.fetchval("INSERT INTO accounts DEFAULT VALUES RETURNING account_id")
    await db.execute(
        "INSERT INTO api_keys (account_id, trunc, hash) VALUES ($1, 'sk_abc...xyz', $2)",
        account_id,
        b"\x01" * 32,
    )
    await db.execute(
        "INSERT INTO remember_me (hash, account_id, expire) VALUES ($1, $2, now() + '1 day')",
        b"\x02" * 32,
        account_id,
    )
    await db.execute(
        "INSERT INTO auth_tokens (hash, account_id, expire) VALUES ($1, $2, now() + '1 hour')",
        b"\x03" * 32,
        account_id,
    )
    with pytest.raises(asyncpg.UniqueViolationError):
        await db.execute(
            "INSERT INTO api_keys (account_id, trunc, hash) VALUES ($1, 'other', $2)",
            account_id,
            b"\x01" * 32,
        )
    await db.execute("DELETE FROM accounts WHERE account_id = $1", account_id)
    for table in ("api_keys", "remember_me", "auth_tokens"):
        assert await db.fetchval(f"SELECT count(*) FROM {table}") == 0


async def test_log_tables_take_rows_with_defaults(db: Database) -> None:
    await db.execute("INSERT INTO client_error_log (id, error) VALUES ('x', 'boom')")
    assert await db.fetchval("SELECT event FROM client_error_log") == "error"
    await db.execute("INSERT INTO webapp_errors (name, line_number) VALUES ('TypeError', 3)")
    await db.execute(
        "INSERT INTO user_tracking (account_id, event, value) VALUES ($1, 'open', '{\"a\": 1}')",
        uuid.uuid4(),
    )
    await db.execute("INSERT INTO central_log (event, value) VALUES ('start', '[]')")
    for table in ("webapp_errors", "user_tracking", "central_log"):
        row = await db.fetchrow(f"SELECT id, time FROM {table}")
        assert row is not None and row["id"] == 1 and row["time"] is not None
