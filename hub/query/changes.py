"""The change log under changefeeds: read once per hub, fanned out in memory.

    changes = await ChangeLog.start(dsn, db)
    unsubscribe = changes.subscribe("projects", on_change)   # on_change(change) -> None
    await changes.wait_caught_up()                            # all committed so far delivered
    missed = await changes.read_since(seq)                    # None: older than retention
    await changes.close()

Triggers (migration 0004) append one `change_log` row per changed row of a watched
table and send a bare `NOTIFY hub_change_log` (no payload) at commit. Each hub
has one `ChangeLog`: one dedicated asyncpg connection (not a pooled one: the pool
would `UNLISTEN *` on release) that LISTENs and, on a wake-up, reads
`change_log WHERE seq > last ORDER BY seq LIMIT batch` until caught up. Every
entry is handed once to the in-memory subscribers of its table, synchronously, so
the database work per change does not depend on how many subscribers there are.
Bursts of notifications coalesce into one read; a poll every `poll_s` covers a
missed notification.

Order and gaps. `seq` is taken when a row is written, not when it commits, so a
reader can see seq 7 before seq 6 commits. The reader delivers only a contiguous
run: at a gap it asks whether any other transaction holds a write lock on
`change_log` (every writer takes one before it draws a seq and holds it until it
ends). If none does, the gap is permanent (a rolled-back transaction) and is
skipped; otherwise delivery waits for that transaction (its commit's NOTIFY, or a
short retry for a rollback).

The starting point is the largest seq committed at start (or `since`); a
transaction still open then whose seq is lower is not delivered by this reader,
which is why a hub starts its `ChangeLog` before it serves any feed.

If the listening connection drops, the reader reconnects with backoff and
catches up from the last seq it delivered: nothing lost, nothing repeated, in
order. A trimming task deletes entries older than `retention_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg
import msgspec
import structlog

from hub.db.database import Database, is_connection_error

log = structlog.get_logger(__name__)

CHANNEL = "hub_change_log"
_COLUMNS = "seq, time, table_name, action, pk, new_val, old_val"
_READ = f"SELECT {_COLUMNS} FROM change_log WHERE seq > $1 ORDER BY seq LIMIT $2"
# Other sessions that are writing change_log (or hold it for writing) right now.
_WRITERS = """SELECT count(*) FROM pg_locks
              WHERE locktype = 'relation' AND relation = 'change_log'::regclass
                AND mode = 'RowExclusiveLock' AND pid <> pg_backend_pid()"""
_RECONNECT_MIN_S = 0.05
_RECONNECT_MAX_S = 5.0
_GAP_RETRY_MIN_S = 0.005
_GAP_RETRY_MAX_S = 0.2

Action = Literal["insert", "update", "delete"]


@dataclass(frozen=True, slots=True)
class Change:
    """One change_log entry: a row of `table` inserted, updated or deleted."""

    seq: int
    time: datetime.datetime
    table: str
    action: Action
    pk: dict[str, Any]  # {key column: value}
    new_val: dict[str, Any] | None  # the whole row after (None for a delete)
    old_val: dict[str, Any] | None  # the whole row before (None for an insert)


Callback = Callable[[Change], None]
"""A subscriber: called once per change, synchronously; it must not block."""


def _change(row: asyncpg.Record) -> Change:
    return Change(
        seq=row["seq"],
        time=row["time"],
        table=row["table_name"],
        action=row["action"],
        pk=row["pk"],
        new_val=row["new_val"],
        old_val=row["old_val"],
    )


def _json_text(value: Any) -> str:
    return msgspec.json.encode(value).decode()


class ChangeLog:
    """One hub's reader of `change_log`; build it with `await ChangeLog.start(...)`."""

    def __init__(
        self,
        dsn: str,
        db: Database,
        *,
        since: int,
        batch: int,
        retention_s: float,
        poll_s: float,
        trim_interval_s: float,
        connect_timeout_s: float,
    ) -> None:
        self._dsn = dsn
        self._db = db
        self._last = since
        self._batch = batch
        self._retention_s = retention_s
        self._poll_s = poll_s
        self._trim_interval_s = trim_interval_s
        self._connect_timeout_s = connect_timeout_s
        self._conn: asyncpg.Connection[asyncpg.Record] | None = None
        self._wake = asyncio.Event()
        self._subscribers: dict[str | None, dict[int, Callback]] = {}
        self._tokens = itertools.count()
        self._reader: asyncio.Task[None] | None = None
        self._trimmer: asyncio.Task[None] | None = None
        self._closed = False
        self._skip_upto = 0  # gaps at or below this seq are known to be permanent
        self._gap_retry_s = _GAP_RETRY_MIN_S
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self.reconnects = 0  # how many times the listening connection was replaced
        self.delivered = 0  # entries handed to subscribers

    @classmethod
    async def start(
        cls,
        dsn: str,
        db: Database,
        *,
        since: int | None = None,
        batch: int = 1000,
        retention_s: float = 600.0,
        poll_s: float = 1.0,
        trim_interval_s: float | None = None,
        connect_timeout_s: float = 10.0,
    ) -> ChangeLog:
        """Connect, LISTEN and start delivering the entries after `since` (default: from now).

        Raises if the first connection fails; later drops are retried with backoff.
        """
        self = cls(
            dsn,
            db,
            since=0,
            batch=batch,
            retention_s=retention_s,
            poll_s=poll_s,
            trim_interval_s=(
                trim_interval_s if trim_interval_s is not None else min(60.0, retention_s / 10)
            ),
            connect_timeout_s=connect_timeout_s,
        )
        conn = await self._connect()
        if since is None:
            since = int(await conn.fetchval("SELECT coalesce(max(seq), 0) FROM change_log"))
        self._last = since
        self._reader = asyncio.create_task(self._read_loop(), name="change-log-reader")
        self._trimmer = asyncio.create_task(self._trim_loop(), name="change-log-trimmer")
        return self

    # --- subscribers -------------------------------------------------------------

    def subscribe(self, table: str | None, callback: Callback) -> Callable[[], None]:
        """Call `callback(change)` for each new change of `table` (None: every table).

        Returns the function that unsubscribes. The callback runs in the reader's
        task and must neither block nor raise (an exception is logged and ignored).
        """
        token = next(self._tokens)
        self._subscribers.setdefault(table, {})[token] = callback

        def unsubscribe() -> None:
            subs = self._subscribers.get(table)
            if subs is not None:
                subs.pop(token, None)
                if not subs:
                    del self._subscribers[table]

        return unsubscribe

    @property
    def last_seq(self) -> int:
        """The seq of the last entry handed to subscribers (or the starting point)."""
        return self._last

    def _deliver(self, change: Change) -> None:
        for table in (change.table, None):
            subs = self._subscribers.get(table)
            if not subs:
                continue
            for callback in list(subs.values()):
                try:
                    callback(change)
                except Exception:
                    log.exception("change subscriber failed", table=change.table, seq=change.seq)
        self._last = change.seq
        self.delivered += 1

    async def wait_caught_up(self) -> int:
        """Wait until every entry committed before this call has been handed out.

        Returns the seq waited for. For a feed: subscribe, compute the initial
        result, then this; every change the result might not show has then arrived.
        """
        target = int(await self._db.fetchval("SELECT coalesce(max(seq), 0) FROM change_log"))
        if target <= self._last:
            return target
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((target, future))
        self._wake.set()
        try:
            await future
        finally:
            if not future.done():
                future.cancel()
            self._waiters = [(t, f) for t, f in self._waiters if f is not future]
        return target

    def _release_waiters(self) -> None:
        if not self._waiters:
            return
        keep: list[tuple[int, asyncio.Future[None]]] = []
        for target, future in self._waiters:
            if target <= self._last:
                if not future.done():
                    future.set_result(None)
            else:
                keep.append((target, future))
        self._waiters = keep

    # --- resuming ----------------------------------------------------------------

    async def read_since(self, seq: int, *, limit: int | None = None) -> list[Change] | None:
        """The entries after `seq` that subscribers have already been given, in order.

        None when entries after `seq` may have been trimmed (older than the retention
        window): the caller must start afresh. Entries after `last_seq` (as of the
        call) are left to the subscription, so subscribe first, then read, and drop
        from the subscription what has a seq the read already returned.
        """
        upto = self._last
        if seq >= upto:
            return []
        oldest = await self._db.fetchval("SELECT min(seq) FROM change_log")
        if oldest is None or seq < int(oldest) - 1:
            return None
        if limit is None:
            rows = await self._db.fetch(
                f"SELECT {_COLUMNS} FROM change_log WHERE seq > $1 AND seq <= $2 ORDER BY seq",
                seq,
                upto,
            )
        else:
            rows = await self._db.fetch(
                f"SELECT {_COLUMNS} FROM change_log WHERE seq > $1 AND seq <= $2"
                " ORDER BY seq LIMIT $3",
                seq,
                upto,
                limit,
            )
        return [_change(row) for row in rows]

    # --- the reader --------------------------------------------------------------

    async def _connect(self) -> asyncpg.Connection[asyncpg.Record]:
        conn: asyncpg.Connection[asyncpg.Record] = await asyncpg.connect(
            self._dsn,
            timeout=self._connect_timeout_s,
            server_settings={"application_name": "hub-changes"},
        )
        try:
            for name in ("json", "jsonb"):
                await conn.set_type_codec(
                    name, encoder=_json_text, decoder=msgspec.json.decode, schema="pg_catalog"
                )
            await conn.add_listener(CHANNEL, self._on_notify)
            conn.add_termination_listener(self._on_terminated)
        except BaseException:
            conn.terminate()
            raise
        self._conn = conn
        self._wake.set()  # catch up with what was written while not listening
        return conn

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    def _on_terminated(self, *_: object) -> None:
        self._wake.set()  # the reader notices the closed connection at once

    async def _read_loop(self) -> None:
        delay = _RECONNECT_MIN_S
        while not self._closed:
            try:
                conn = self._conn
                if conn is None or conn.is_closed():
                    self._drop_connection()
                    conn = await self._connect()
                    self.reconnects += 1
                    log.info("change log reconnected", last_seq=self._last)
                delay = _RECONNECT_MIN_S
                self._wake.clear()
                await self._wait(await self._catch_up(conn))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not is_connection_error(exc) and not isinstance(exc, asyncpg.InterfaceError):
                    log.exception("change log reader failed", last_seq=self._last)
                else:
                    log.warning(
                        "change log connection lost",
                        error=f"{type(exc).__name__}: {exc}",
                        retry_in_s=round(delay, 3),
                    )
                self._drop_connection()
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RECONNECT_MAX_S)

    async def _wait(self, gap_retry_s: float | None) -> None:
        timeout = self._poll_s if gap_retry_s is None else min(gap_retry_s, self._poll_s)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._wake.wait()

    async def _catch_up(self, conn: asyncpg.Connection[asyncpg.Record]) -> float | None:
        """Deliver every committed entry after the last one, stopping at a live gap.

        Returns None when caught up, else how long to wait before looking again.
        """
        while True:
            rows = await conn.fetch(_READ, self._last, self._batch, timeout=self._poll_s * 10 + 5)
            if not rows:
                return None
            stopped = False
            for row in rows:
                seq = row["seq"]
                if seq != self._last + 1 and seq > self._skip_upto:
                    stopped = True  # a gap: an uncommitted or rolled-back entry
                    break
                self._deliver(_change(row))
            self._release_waiters()
            if stopped:
                writers = await conn.fetchval(_WRITERS)
                if writers:
                    # A writer is still open; its commit sends a NOTIFY, a rollback
                    # does not: look again shortly either way.
                    retry = self._gap_retry_s
                    self._gap_retry_s = min(retry * 2, _GAP_RETRY_MAX_S)
                    return retry
                self._gap_retry_s = _GAP_RETRY_MIN_S
                # Nobody is writing: every entry below what we saw has committed or
                # never will. Read again (the gap may have filled since) and skip
                # what is still missing.
                self._skip_upto = max(self._skip_upto, rows[-1]["seq"])
                continue
            self._gap_retry_s = _GAP_RETRY_MIN_S
            if len(rows) < self._batch:
                return None

    def _drop_connection(self) -> None:
        if self._conn is not None:
            self._conn.terminate()
            self._conn = None

    # --- trimming ----------------------------------------------------------------

    async def trim(self) -> int:
        """Delete the entries older than the retention window; return how many."""
        status = await self._db.execute(
            "DELETE FROM change_log WHERE time < now() - make_interval(secs => $1)",
            float(self._retention_s),
        )
        return int(status.rsplit(" ", 1)[-1])

    async def _trim_loop(self) -> None:
        while not self._closed:
            try:
                removed = await self.trim()
                if removed:
                    log.debug("change log trimmed", removed=removed)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("change log trim failed", error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(self._trim_interval_s)

    # --- shutdown ----------------------------------------------------------------

    async def close(self) -> None:
        """Stop reading and trimming and close the listening connection."""
        if self._closed:
            return
        self._closed = True
        for task in (self._reader, self._trimmer):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._reader = self._trimmer = None
        for _, future in self._waiters:
            if not future.done():
                future.set_exception(RuntimeError("the change log was closed"))
        self._waiters = []
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                async with asyncio.timeout(self._connect_timeout_s):
                    await conn.close()
            except Exception:
                conn.terminate()


__all__ = ["CHANNEL", "Action", "Callback", "Change", "ChangeLog"]
