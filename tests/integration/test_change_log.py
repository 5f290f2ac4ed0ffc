"""The change log under changefeeds (migration 0004, hub/query/changes.py), on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from hub.db.database import Database
from hub.query import changes as changes_module
from hub.query.changes import Change, ChangeLog
from tests.fixtures.timeouts import eventually, seconds


class Collected:
    """A subscriber that keeps what it is given."""

    def __init__(self) -> None:
        self.changes: list[Change] = []

    def __call__(self, change: Change) -> None:
        self.changes.append(change)

    @property
    def seqs(self) -> list[int]:
        return [c.seq for c in self.changes]

    async def wait_for(self, n: int, timeout: float = 10) -> None:
        await eventually(lambda: len(self.changes) >= n, timeout)


@pytest.fixture
async def changes(dsn: str, db: Database) -> AsyncIterator[ChangeLog]:
    log = await ChangeLog.start(dsn, db, poll_s=1.0, connect_timeout_s=seconds(5))
    try:
        yield log
    finally:
        await log.close()


@pytest.fixture
async def plain(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """A plain asyncpg connection without the hub's codecs, as psql would be."""
    conn = await asyncpg.connect(dsn, timeout=seconds(10))
    try:
        yield conn
    finally:
        await conn.close()


async def _new_account(db: Database, email: str, first: str = "Ada") -> uuid.UUID:
    value = await db.fetchval(
        "INSERT INTO accounts (email_address, first_name) VALUES ($1, $2) RETURNING account_id",
        email,
        first,
    )
    assert isinstance(value, uuid.UUID)
    return value


async def _log_seqs(db: Database) -> list[int]:
    return [r["seq"] for r in await db.fetch("SELECT seq FROM change_log ORDER BY seq")]


async def test_insert_update_delete_reach_a_subscriber_in_order(
    db: Database, changes: ChangeLog
) -> None:
    accounts = Collected()
    projects = Collected()
    everything = Collected()
    changes.subscribe("accounts", accounts)
    changes.subscribe("projects", projects)
    changes.subscribe(None, everything)

    account_id = await _new_account(db, "ada@example.com")
    await db.execute("UPDATE accounts SET first_name = 'Grace' WHERE account_id = $1", account_id)
    project_id = await db.fetchval(
        "INSERT INTO projects (title, users) VALUES ('p', $1) RETURNING project_id",
        {str(account_id): {"group": "owner"}},
    )
    await db.execute(
        "UPDATE projects SET users = users || $2 WHERE project_id = $1",
        project_id,
        {"x": {"group": "collaborator"}},
    )
    await db.execute("DELETE FROM projects WHERE project_id = $1", project_id)
    await db.execute("DELETE FROM accounts WHERE account_id = $1", account_id)

    await everything.wait_for(6)
    assert [(c.table, c.action) for c in everything.changes] == [
        ("accounts", "insert"),
        ("accounts", "update"),
        ("projects", "insert"),
        ("projects", "update"),
        ("projects", "delete"),
        ("accounts", "delete"),
    ]
    assert everything.seqs == sorted(everything.seqs)
    assert len(set(everything.seqs)) == 6
    assert accounts.changes == [everything.changes[i] for i in (0, 1, 5)]
    assert projects.changes == [everything.changes[i] for i in (2, 3, 4)]

    ins, upd, dele = accounts.changes
    assert ins.pk == {"account_id": str(account_id)}
    assert ins.old_val is None and ins.new_val is not None
    assert ins.new_val["email_address"] == "ada@example.com"
    assert ins.new_val["first_name"] == "Ada"
    assert upd.old_val is not None and upd.new_val is not None
    assert (upd.old_val["first_name"], upd.new_val["first_name"]) == ("Ada", "Grace")
    assert dele.new_val is None and dele.old_val is not None
    assert dele.old_val["first_name"] == "Grace"

    p_ins, p_upd, p_del = projects.changes
    assert p_ins.pk == {"project_id": str(project_id)}
    assert p_ins.new_val is not None and p_ins.new_val["title"] == "p"
    assert p_upd.new_val is not None and p_upd.old_val is not None
    assert set(p_upd.new_val["users"]) == {str(account_id), "x"}
    assert set(p_upd.old_val["users"]) == {str(account_id)}
    assert p_del.pk == {"project_id": str(project_id)} and p_del.new_val is None
    assert changes.last_seq == everything.seqs[-1]


async def test_an_update_from_a_plain_connection_arrives(
    db: Database, changes: ChangeLog, plain: asyncpg.Connection
) -> None:
    got = Collected()
    changes.subscribe("accounts", got)
    account_id = await _new_account(db, "psql@example.com")
    await got.wait_for(1)
    await plain.execute(
        "UPDATE accounts SET last_name = 'Lovelace' WHERE account_id = $1", account_id
    )
    await got.wait_for(2)
    (change,) = [c for c in got.changes if c.action == "update"]
    assert change.pk == {"account_id": str(account_id)}
    assert change.new_val is not None and change.new_val["last_name"] == "Lovelace"


async def test_a_no_op_update_is_not_logged(db: Database, changes: ChangeLog) -> None:
    got = Collected()
    changes.subscribe("accounts", got)
    account_id = await _new_account(db, "noop@example.com")
    await got.wait_for(1)
    got.changes.clear()
    before = await _log_seqs(db)
    await db.execute(
        "UPDATE accounts SET first_name = first_name WHERE account_id = $1", account_id
    )
    await db.execute("UPDATE accounts SET last_name = 'X' WHERE account_id = $1", account_id)
    await got.wait_for(1)
    # nor is one of a column the log leaves out
    await db.execute(
        "UPDATE accounts SET password_hash = 'secret' WHERE account_id = $1", account_id
    )
    await db.execute("UPDATE accounts SET last_name = 'Y' WHERE account_id = $1", account_id)
    await got.wait_for(2)
    after = await _log_seqs(db)
    assert len(after) == len(before) + 2
    assert [c.action for c in got.changes] == ["update", "update"]
    assert got.changes[0].new_val is not None and got.changes[0].new_val["last_name"] == "X"
    for change in got.changes:
        assert change.new_val is not None and "password_hash" not in change.new_val
        assert change.old_val is not None and "password_hash" not in change.old_val


async def test_a_burst_from_concurrent_writers_arrives_complete_and_in_order(
    dsn: str, db: Database
) -> None:
    # A small batch, so that catching up takes several reads.
    changes = await ChangeLog.start(dsn, db, batch=64)
    try:
        got = Collected()
        changes.subscribe("projects", got)
        writers = [await asyncpg.connect(dsn, timeout=seconds(10)) for _ in range(10)]
        try:

            async def write(conn: asyncpg.Connection, n: int) -> None:
                for i in range(n):
                    await conn.execute("INSERT INTO projects (title) VALUES ($1)", f"t{i}")

            await asyncio.gather(*(write(conn, 100) for conn in writers))
        finally:
            for conn in writers:
                await conn.close()
        # and one transaction of several hundred updates
        status = await db.execute("UPDATE projects SET description = 'd' WHERE title < 't5'")
        updated = int(status.split()[-1])
        assert updated >= 100
        await got.wait_for(1000 + updated, timeout=30)
        assert got.seqs == sorted(set(got.seqs))
        assert got.seqs == await _log_seqs(db)
        assert [c.action for c in got.changes].count("insert") == 1000
        assert [c.action for c in got.changes].count("update") == updated
    finally:
        await changes.close()


async def test_an_uncommitted_gap_holds_delivery_until_it_commits_or_rolls_back(
    dsn: str, db: Database, changes: ChangeLog
) -> None:
    got = Collected()
    changes.subscribe("accounts", got)
    slow = await asyncpg.connect(dsn, timeout=seconds(10))
    try:
        for outcome in ("commit", "rollback"):
            tx = slow.transaction()
            await tx.start()
            await slow.execute(
                "INSERT INTO accounts (email_address) VALUES ($1)", f"slow-{outcome}@example.com"
            )
            fast_id = await _new_account(db, f"fast-{outcome}@example.com")
            # The reader sees the later seq, finds the open writer and waits for it.
            await eventually(lambda: changes._gap_retry_s > changes_module._GAP_RETRY_MIN_S, 10)
            assert all(c.pk != {"account_id": str(fast_id)} for c in got.changes)
            if outcome == "commit":
                await tx.commit()
            else:
                await tx.rollback()
            fast_pk = {"account_id": str(fast_id)}
            await eventually(lambda pk=fast_pk: any(c.pk == pk for c in got.changes), 10)
            emails = [c.new_val["email_address"] for c in got.changes if c.new_val]
            if outcome == "commit":
                assert emails[-2:] == [f"slow-{outcome}@example.com", f"fast-{outcome}@example.com"]
            else:
                assert emails[-1] == f"fast-{outcome}@example.com"
                assert f"slow-{outcome}@example.com" not in emails
        assert got.seqs == sorted(set(got.seqs))
        assert len(got.changes) == 3
    finally:
        await slow.close()


async def test_two_hubs_on_one_database_both_see_every_change(
    dsn: str, db: Database, db_settings: Any
) -> None:
    other_db = await Database.open(dsn, db_settings, wait=False)
    hub_a = await ChangeLog.start(dsn, db)
    hub_b = await ChangeLog.start(dsn, other_db)
    try:
        got_a, got_b = Collected(), Collected()
        hub_a.subscribe(None, got_a)
        hub_b.subscribe(None, got_b)
        # a write through each hub's own pool
        for i in range(20):
            await (db if i % 2 else other_db).execute(
                "INSERT INTO projects (title) VALUES ($1)", f"p{i}"
            )
        await got_a.wait_for(20)
        await got_b.wait_for(20)
        assert got_a.changes == got_b.changes
        assert got_a.seqs == await _log_seqs(db)
    finally:
        await hub_a.close()
        await hub_b.close()
        await other_db.close()


async def _listener_pid(db: Database) -> int:
    pid = await db.fetchval(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        " AND application_name = 'hub-changes'"
    )
    assert isinstance(pid, int)
    return pid


async def test_a_killed_listening_connection_reconnects_and_catches_up(
    db: Database, changes: ChangeLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    got = Collected()
    changes.subscribe("projects", got)
    for i in range(5):
        await db.execute("INSERT INTO projects (title) VALUES ($1)", f"before{i}")
    await got.wait_for(5)

    # Hold the reconnect until the test has written, so the writes land while it is down.
    gate = asyncio.Event()
    connect = changes._connect

    async def gated_connect() -> Any:
        await gate.wait()
        return await connect()

    monkeypatch.setattr(changes, "_connect", gated_connect)
    pid = await _listener_pid(db)
    assert await db.fetchval("SELECT pg_terminate_backend($1)", pid)
    await eventually(lambda: changes._conn is None, 10)
    for i in range(50):
        await db.execute("INSERT INTO projects (title) VALUES ($1)", f"during{i}")
    await db.execute("UPDATE projects SET description = 'x' WHERE title LIKE 'before%'")
    assert len(got.changes) == 5
    gate.set()
    await got.wait_for(60)
    for i in range(5):
        await db.execute("INSERT INTO projects (title) VALUES ($1)", f"after{i}")
    await got.wait_for(65)
    assert changes.reconnects == 1
    assert await _listener_pid(db) != pid
    assert got.seqs == sorted(set(got.seqs))
    assert got.seqs == await _log_seqs(db)
    titles = [c.new_val["title"] for c in got.changes if c.action == "insert" and c.new_val]
    assert titles == [f"before{i}" for i in range(5)] + [f"during{i}" for i in range(50)] + [
        f"after{i}" for i in range(5)
    ]


async def test_start_since_replays_from_a_seq(dsn: str, db: Database) -> None:
    for i in range(3):
        await db.execute("INSERT INTO projects (title) VALUES ($1)", f"p{i}")
    first = (await _log_seqs(db))[0]
    changes = await ChangeLog.start(dsn, db, since=first)
    try:
        got = Collected()
        changes.subscribe("projects", got)
        # nothing new is written: the fallback poll finds the two older entries
        await got.wait_for(2)
        assert got.seqs == [first + 1, first + 2]
    finally:
        await changes.close()


async def test_read_since_returns_what_was_missed(db: Database, changes: ChangeLog) -> None:
    got = Collected()
    changes.subscribe(None, got)
    for i in range(10):
        await db.execute("INSERT INTO projects (title) VALUES ($1)", f"p{i}")
    await got.wait_for(10)
    seqs = got.seqs
    missed = await changes.read_since(seqs[3])
    assert missed == got.changes[4:]
    assert await changes.read_since(seqs[-1]) == []
    assert await changes.read_since(seqs[-1] + 100) == []
    assert await changes.read_since(seqs[3], limit=2) == got.changes[4:6]
    assert await changes.read_since(seqs[0] - 1) == got.changes


async def test_trimming_removes_old_entries_and_read_since_reports_it(
    dsn: str, db: Database
) -> None:
    changes = await ChangeLog.start(dsn, db, retention_s=3600, trim_interval_s=0.05)
    try:
        got = Collected()
        changes.subscribe(None, got)
        for i in range(10):
            await db.execute("INSERT INTO projects (title) VALUES ($1)", f"p{i}")
        await got.wait_for(10)
        seqs = got.seqs
        assert await changes.trim() == 0  # nothing is an hour old
        # Age the first six entries past the retention window; the trimming task removes them.
        await db.execute(
            "UPDATE change_log SET time = now() - interval '2 hours' WHERE seq <= $1", seqs[5]
        )

        async def trimmed() -> bool:
            return await _log_seqs(db) == seqs[6:]

        await eventually(trimmed, 10)
        assert await changes.read_since(seqs[0]) is None
        assert await changes.read_since(seqs[4]) is None
        assert await changes.read_since(seqs[5]) == got.changes[6:]
        assert await changes.read_since(seqs[7]) == got.changes[8:]
    finally:
        await changes.close()


async def test_a_failing_subscriber_does_not_stop_the_others(
    db: Database, changes: ChangeLog
) -> None:
    def broken(change: Change) -> None:
        raise RuntimeError("subscriber bug")

    got = Collected()
    unsubscribe_broken = changes.subscribe("projects", broken)
    unsubscribe = changes.subscribe("projects", got)
    await db.execute("INSERT INTO projects (title) VALUES ('a')")
    await got.wait_for(1)
    unsubscribe_broken()
    unsubscribe()
    unsubscribe()  # twice is harmless
    later = Collected()
    changes.subscribe(None, later)
    await db.execute("INSERT INTO projects (title) VALUES ('b')")
    await later.wait_for(1)
    assert len(got.changes) == 1
    assert changes._subscribers.keys() == {None}


async def _measure(
    changes: ChangeLog, write: Callable[[int], Awaitable[None]], n: int
) -> tuple[list[float], list[float]]:
    """Milliseconds from before the write, and from its acknowledged commit, to the callback."""
    arrived: dict[int, float] = {}
    waiter: asyncio.Event = asyncio.Event()

    def on_change(change: Change) -> None:
        arrived[len(arrived)] = time.perf_counter()
        waiter.set()

    unsubscribe = changes.subscribe("accounts", on_change)
    from_start: list[float] = []
    from_commit: list[float] = []
    try:
        for i in range(n):
            waiter.clear()
            t0 = time.perf_counter()
            await write(i)
            t1 = time.perf_counter()
            async with asyncio.timeout(seconds(10)):
                await waiter.wait()
            t2 = arrived[len(arrived) - 1]
            from_start.append((t2 - t0) * 1000)
            from_commit.append(max(0.0, t2 - t1) * 1000)
    finally:
        unsubscribe()
    return from_start, from_commit


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def _raw_listen_latency(
    dsn: str, write: Callable[[int], Awaitable[None]], n: int
) -> list[float]:
    """The same writes seen by a bare asyncpg LISTEN on the trigger's channel."""
    conn = await asyncpg.connect(dsn, timeout=seconds(10))
    arrived: list[float] = []
    waiter = asyncio.Event()

    def on_notify(*_: object) -> None:
        arrived.append(time.perf_counter())
        waiter.set()

    await conn.add_listener(changes_module.CHANNEL, on_notify)
    result: list[float] = []
    try:
        for i in range(n):
            waiter.clear()
            t0 = time.perf_counter()
            await write(i + 10_000)
            async with asyncio.timeout(seconds(10)):
                await waiter.wait()
            result.append((arrived[-1] - t0) * 1000)
    finally:
        await conn.close()
    return result


async def test_commit_to_callback_latency(
    dsn: str,
    db: Database,
    changes: ChangeLog,
    plain: asyncpg.Connection,
    capsys: pytest.CaptureFixture[str],
) -> None:
    account_id = await _new_account(db, "latency@example.com")

    async def write(i: int) -> None:
        await plain.execute(
            "UPDATE accounts SET last_name = $2 WHERE account_id = $1", account_id, f"n{i}"
        )

    await _measure(changes, write, 20)  # warm up
    from_start, from_commit = await _measure(changes, write, 300)
    raw = await _raw_listen_latency(dsn, write, 300)
    with capsys.disabled():
        print(
            f"\nchange log latency over {len(from_start)} updates:"
            f" write-start->callback p50 {statistics.median(from_start):.2f} ms"
            f" p99 {_pct(from_start, 99):.2f} ms;"
            f" commit-ack->callback p50 {statistics.median(from_commit):.2f} ms"
            f" p99 {_pct(from_commit, 99):.2f} ms;"
            f" raw LISTEN write-start->notification p50 {statistics.median(raw):.2f} ms"
            f" p99 {_pct(raw, 99):.2f} ms"
        )
    assert _pct(from_start, 99) < seconds(1) * 1000


async def test_a_thousand_subscribers_share_one_read_per_entry(
    db: Database, changes: ChangeLog
) -> None:
    subscribers = [Collected() for _ in range(1000)]
    for subscriber in subscribers:
        changes.subscribe("projects", subscriber)
    delivered_before = changes.delivered
    for i in range(20):
        await db.execute("INSERT INTO projects (title) VALUES ($1)", f"p{i}")
    await eventually(lambda: all(len(s.changes) == 20 for s in subscribers), 10)
    # each entry was read and handed out once, whatever the number of subscribers
    assert changes.delivered - delivered_before == 20
    assert all(s.changes == subscribers[0].changes for s in subscribers)


async def test_wait_caught_up_returns_once_everything_committed_is_delivered(
    dsn: str, db: Database, changes: ChangeLog
) -> None:
    got = Collected()
    changes.subscribe("projects", got)
    assert await changes.wait_caught_up() == changes.last_seq
    writer = await asyncpg.connect(dsn, timeout=seconds(10))
    try:
        await writer.execute("INSERT INTO projects (title) SELECT 'x' FROM generate_series(1, 300)")
    finally:
        await writer.close()
    target = await changes.wait_caught_up()
    assert len(got.changes) == 300
    assert got.seqs[-1] == target == changes.last_seq
    # once closed, a target it had already reached still answers at once
    await changes.close()
    assert await changes.wait_caught_up() == target


async def test_a_waiter_pending_at_close_is_told_so(
    dsn: str, db: Database, changes: ChangeLog
) -> None:
    slow = await asyncpg.connect(dsn, timeout=seconds(10))
    try:
        async with slow.transaction():
            await slow.execute("INSERT INTO projects (title) VALUES ('slow')")
            await db.execute("INSERT INTO projects (title) VALUES ('fast')")
            # the committed 'fast' entry waits behind the open 'slow' one
            waiter = asyncio.create_task(changes.wait_caught_up())
            await eventually(lambda: bool(changes._waiters), 10)
            assert not waiter.done()
            await changes.close()
            with pytest.raises(RuntimeError, match="closed"):
                await waiter
    finally:
        await slow.close()
