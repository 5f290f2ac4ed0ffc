"""The hub's one connection pool, and what the hub does when PostgreSQL goes away.

    db = await Database.open(dsn, settings)   # waits until PostgreSQL answers
    db.start_health_monitor()
    rows = await db.fetch("SELECT ... WHERE account_id = $1", account_id)
    async with db.transaction() as conn:
        await conn.execute(...)
    await db.close()

SQL lives in small data-access modules (`hub/db/accounts.py`, ...) that take a
`Queryable`: the `Database` itself or the connection of a `transaction()`.

Failure model. Every connection-level failure (refused, socket gone, connection
lost, server shutting down, pool acquire timeout, too many connections) becomes
`hub.errors.DatabaseDown` and marks the database down. While it is marked down,
calls fail at once with `DatabaseDown` instead of each waiting for a connect
timeout. The health monitor runs `SELECT 1` on its own connection every
`db_health_interval_s` (and at once after a call saw a failure), flips `is_up`
both ways with one log line per transition, and on the way up expires the pool's
connections so that none from before a restart is reused. Other errors (a
constraint violation, a statement timeout: `asyncpg.QueryCanceledError`) pass
through unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

import asyncpg
import msgspec
import structlog
from asyncpg.pool import PoolConnectionProxy

from hub.config import Settings
from hub.errors import DatabaseDown, Timeout

if TYPE_CHECKING:
    Connection: TypeAlias = PoolConnectionProxy[asyncpg.Record]
else:
    Connection = PoolConnectionProxy
"""The connection `Database.transaction()` yields (a pooled asyncpg connection)."""

log = structlog.get_logger(__name__)

_DOWN_SQLSTATES = frozenset(
    {
        "53300",  # too_many_connections
        "57P01",  # admin_shutdown (also pg_terminate_backend)
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now (starting up, shutting down, recovering)
        "57P05",  # idle_session_timeout
    }
)
_OPEN_RETRY_MAX_S = 5.0


class _QuietPoolFloor(logging.Filter):
    """Drop asyncpg's traceback for each failed refill of the pool's minimum size.

    During an outage asyncpg logs one at every retry (backoff up to 60 s); the
    health monitor already logs the outage once, as one line.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Failed to restore the pool connection floor")


_pool_logger = logging.getLogger("asyncpg.pool")
if not any(isinstance(f, _QuietPoolFloor) for f in _pool_logger.filters):
    _pool_logger.addFilter(_QuietPoolFloor())


class Queryable(Protocol):
    """What data-access functions need: a `Database` or a transaction's connection."""

    async def fetch(self, sql: str, /, *args: object) -> list[asyncpg.Record]: ...
    async def fetchrow(self, sql: str, /, *args: object) -> asyncpg.Record | None: ...
    async def fetchval(self, sql: str, /, *args: object) -> Any: ...
    async def execute(self, sql: str, /, *args: object) -> str: ...


def is_connection_error(exc: BaseException) -> bool:
    """Whether `exc` says the database cannot be reached (as opposed to a bad query)."""
    if isinstance(exc, OSError | asyncpg.PostgresConnectionError):
        return True  # OSError covers refused, reset, no socket and TimeoutError
    if isinstance(exc, asyncpg.PostgresError):
        return exc.sqlstate in _DOWN_SQLSTATES
    if isinstance(exc, asyncpg.InterfaceError):
        text = str(exc)
        return "closed" in text or "closing" in text
    return False


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def pool_options(settings: Settings) -> dict[str, Any]:
    """asyncpg pool arguments from the settings (statement and connect timeouts, size)."""
    server_settings = {"application_name": "hub"}
    statement_s = settings.db_statement_timeout_s
    command_timeout: float | None = None
    if statement_s > 0:
        server_settings["statement_timeout"] = str(max(1, round(statement_s * 1000)))
        # The server cancels first; the client gives up only if the server does not.
        command_timeout = statement_s + max(1.0, statement_s / 10)
    return {
        "min_size": settings.db_pool_min,
        "max_size": max(settings.db_pool_max, settings.db_pool_min, 1),
        "timeout": settings.db_connect_timeout_s,
        "command_timeout": command_timeout,
        "server_settings": server_settings,
        "init": _init_connection,
        # asyncpg's default reset is one more round trip per query (UNLISTEN *, RESET
        # ALL, ...): pooled connections here keep no session state, so skip it
        "reset": _no_reset,
    }


async def _no_reset(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    return None


def _encode_json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


async def _init_connection(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    """json and jsonb columns read and write Python values (via msgspec), not text."""
    for name in ("json", "jsonb"):
        await conn.set_type_codec(
            name, encoder=_encode_json, decoder=msgspec.json.decode, schema="pg_catalog"
        )


class Database:
    """One asyncpg pool with down-detection; build it with `await Database.open(...)`."""

    def __init__(self, pool: asyncpg.Pool[asyncpg.Record], dsn: str, settings: Settings) -> None:
        self._pool = pool
        self._dsn = dsn
        self._settings = settings
        self._up = True
        self._down_since = 0.0
        self._wake = asyncio.Event()
        self._monitor: asyncio.Task[None] | None = None
        self._probe: asyncpg.Connection[asyncpg.Record] | None = None
        self._closed = False

    @classmethod
    async def open(cls, dsn: str, settings: Settings, *, wait: bool = True) -> Database:
        """Open the pool. If PostgreSQL cannot be reached, retry with backoff (logging each
        failure) until it can; with `wait=False` raise `DatabaseDown` instead."""
        options = pool_options(settings)
        delay = 0.1
        attempt = 0
        while True:
            attempt += 1
            try:
                pool = await asyncpg.create_pool(dsn, **options)
            except Exception as exc:
                if not is_connection_error(exc):
                    raise
                if not wait:
                    raise DatabaseDown() from exc
                log.warning(
                    "database unreachable",
                    attempt=attempt,
                    retry_in_s=round(delay, 2),
                    error=_describe(exc),
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, _OPEN_RETRY_MAX_S)
                continue
            if attempt > 1:
                log.info("database reachable", attempts=attempt)
            return cls(pool, dsn, settings)

    # --- state -------------------------------------------------------------------

    @property
    def is_up(self) -> bool:
        """False from a connection failure until the health monitor sees the database again."""
        return self._up

    @property
    def pool(self) -> asyncpg.Pool[asyncpg.Record]:
        return self._pool

    # --- data access ---------------------------------------------------------------

    async def fetch(self, sql: str, *args: object) -> list[asyncpg.Record]:
        async with self._acquire(own_body=True) as conn:
            return await conn.fetch(sql, *args)

    async def fetchrow(self, sql: str, *args: object) -> asyncpg.Record | None:
        async with self._acquire(own_body=True) as conn:
            return await conn.fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: object) -> Any:
        async with self._acquire(own_body=True) as conn:
            return await conn.fetchval(sql, *args)

    async def execute(self, sql: str, *args: object) -> str:
        async with self._acquire(own_body=True) as conn:
            return await conn.execute(sql, *args)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """A pooled connection inside a transaction: committed if the block succeeds."""
        async with self._acquire(own_body=False) as conn, conn.transaction():
            yield conn

    @contextlib.asynccontextmanager
    async def _acquire(self, *, own_body: bool) -> AsyncIterator[Connection]:
        """A pooled connection, with connection failures turned into `DatabaseDown`.

        `own_body`: the block is one of our own queries, so any OSError (a command
        timeout too) is the database's. In a caller's block an OSError counts only if
        the connection is gone; asyncpg's own connection errors always count.
        """
        if not self._up and self._monitor is not None:
            raise DatabaseDown()
        try:
            conn = await self._pool.acquire(timeout=self._settings.db_connect_timeout_s)
        except Exception as exc:
            if is_connection_error(exc):
                raise self._went_down(exc) from exc
            raise
        try:
            yield conn
        except asyncpg.QueryCanceledError as exc:
            # statement_timeout fired: the database is fine, the query was too slow
            raise Timeout(
                f"database query took longer than {self._settings.db_statement_timeout_s:g} s"
            ) from exc
        except Exception as exc:
            if is_connection_error(exc) and (
                own_body or not isinstance(exc, OSError) or conn.is_closed()
            ):
                raise self._went_down(exc) from exc
            raise
        finally:
            await self._release(conn)

    async def _release(self, conn: Connection) -> None:
        try:
            await self._pool.release(conn)
        except Exception as exc:
            # asyncpg has terminated the connection; the pool replaces it on demand.
            log.debug("database connection dropped on release", error=_describe(exc))

    # --- health --------------------------------------------------------------------

    def _went_down(self, exc: BaseException) -> DatabaseDown:
        """Mark the database down (logging the transition) and have the monitor look now."""
        if self._up and not self._closed:
            self._up = False
            self._down_since = time.monotonic()
            log.warning("database down", error=_describe(exc))
        self._wake.set()
        return DatabaseDown()

    async def _came_up(self) -> None:
        await self._pool.expire_connections()  # none from before an outage is reused
        self._up = True
        log.info("database up", down_for_s=round(time.monotonic() - self._down_since, 3))

    def start_health_monitor(self) -> None:
        """Start checking the database every `db_health_interval_s` (stopped by `close()`)."""
        if self._monitor is None and not self._closed:
            self._monitor = asyncio.create_task(self._monitor_loop(), name="db-health-monitor")

    async def check(self) -> BaseException | None:
        """Run `SELECT 1` on the monitor's own connection: None if it worked, else the error.

        The monitor does not use the pool, so a pool busy with long queries does not
        look like a database that is down.
        """
        timeout = self._settings.db_connect_timeout_s
        try:
            if self._probe is None or self._probe.is_closed():
                self._probe = None
                self._probe = await asyncpg.connect(
                    self._dsn,
                    timeout=timeout,
                    server_settings={"application_name": "hub-health"},
                )
            await self._probe.fetchval("SELECT 1", timeout=timeout)
        except Exception as exc:
            if self._probe is not None:
                self._probe.terminate()
                self._probe = None
            return exc
        return None

    async def _monitor_loop(self) -> None:
        interval = self._settings.db_health_interval_s
        while True:
            self._wake.clear()
            try:
                error = await self.check()
                if error is None:
                    if not self._up:
                        await self._came_up()
                else:
                    self._went_down(error)
                    self._wake.clear()  # the monitor itself looked: wait for the interval
            except Exception:  # a bug here must not end the monitoring
                log.exception("database health monitor failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self._wake.wait()

    # --- shutdown ------------------------------------------------------------------

    async def close(self) -> None:
        """Stop the monitor and close every connection (terminating any that hang)."""
        if self._closed:
            return
        self._closed = True
        if self._monitor is not None:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor
            self._monitor = None
        if self._probe is not None:
            self._probe.terminate()
            self._probe = None
        try:
            async with asyncio.timeout(self._settings.db_connect_timeout_s):
                await self._pool.close()
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            self._pool.terminate()
