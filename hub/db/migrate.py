"""Numbered SQL migrations: `hub/db/migrations/NNNN_name.sql`, applied in order, once.

Each file runs in its own transaction and is recorded in `schema_migrations`, so
re-running `migrate()` applies only what is new. The whole run holds one session
advisory lock, so several hubs starting at once apply each file exactly once:
the others wait, then find everything recorded.

    asyncio.run(migrate(dsn))      # what `hub migrate` does
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

import asyncpg
import structlog

from hub.db.database import Connection, is_connection_error

log = structlog.get_logger(__name__)

MIGRATION_LOCK_KEY = 0x6875_6200_6D69_6772  # b"hub\0migr": pg_advisory_lock key for the run
_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str  # the file's stem, e.g. "0001_foundation"
    sql: str


def load_migrations() -> list[Migration]:
    """Every `NNNN_name.sql` shipped in `hub.db/migrations`, by version."""
    found: dict[int, Migration] = {}
    for entry in resources.files("hub.db").joinpath("migrations").iterdir():
        m = _FILE_NAME.match(entry.name)
        if m is None:
            continue
        version = int(m.group(1))
        if version in found:
            raise RuntimeError(f"two migrations numbered {version}: {entry.name}")
        stem = entry.name.removesuffix(".sql")
        found[version] = Migration(version, stem, entry.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


async def migrate(
    conn_or_dsn: str | asyncpg.Connection | Connection,
    *,
    migrations: Sequence[Migration] | None = None,
    connect_timeout_s: float = 30.0,
) -> list[str]:
    """Apply the migrations not yet recorded; return the names applied, in order.

    Takes a DSN (connects, retrying for up to `connect_timeout_s` while the database
    cannot be reached, and closes afterwards) or an open connection (left open, its
    settings as they were). `migrations` defaults to the shipped files.
    """
    todo = load_migrations() if migrations is None else list(migrations)
    if isinstance(conn_or_dsn, str):
        conn = await _connect(conn_or_dsn, connect_timeout_s)
        try:
            return await _migrate(conn, todo)
        finally:
            await conn.close()
    return await _migrate(conn_or_dsn, todo)


def migrate_sync(dsn: str) -> list[str]:
    """`migrate(dsn)` for synchronous callers such as the CLI."""
    return asyncio.run(migrate(dsn))


async def _connect(dsn: str, timeout_s: float) -> asyncpg.Connection:
    """Connect, retrying with backoff while the database is unreachable (e.g. starting)."""
    deadline = time.monotonic() + timeout_s
    delay = 0.1
    attempt = 0
    while True:
        attempt += 1
        remaining = deadline - time.monotonic()
        try:
            return await asyncpg.connect(dsn, timeout=max(0.1, min(remaining, 10.0)))
        except Exception as exc:
            if not is_connection_error(exc) or time.monotonic() + delay > deadline:
                raise
            log.warning(
                "database unreachable",
                attempt=attempt,
                retry_in_s=round(delay, 2),
                error=f"{type(exc).__name__}: {exc}",
            )
        await asyncio.sleep(delay)
        delay = min(delay * 2, 5.0)


async def _migrate(
    conn: asyncpg.Connection | Connection, migrations: Sequence[Migration]
) -> list[str]:
    # Migrations may run long, and waiting for another hub's run is expected.
    previous = await conn.fetchval("SELECT current_setting('statement_timeout')")
    await conn.execute("SET statement_timeout = 0")
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version    int PRIMARY KEY,
                   name       text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now()
               )"""
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        applied: list[str] = []
        for migration in migrations:
            if migration.version in done:
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    migration.version,
                    migration.name,
                )
            applied.append(migration.name)
            log.info("migration applied", migration=migration.name)
        return applied
    finally:
        if not conn.is_closed():
            await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
            await conn.execute("SELECT set_config('statement_timeout', $1, false)", previous)
