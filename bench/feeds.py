"""Changefeed delivery (issue 4): commit-to-client latency, fan-out, and order under load.

One fresh hub (embedded PostgreSQL), one bench account, measured in one run:

1. **one subscriber**: one WebSocket (``bench.rawws``, cookie sign-in) holds the
   feed ``{"projects":[{"project_id":P0,"title":null}]}``; a separate asyncpg
   connection does ``BEGIN; UPDATE projects SET title … WHERE project_id=P0;
   COMMIT`` and the clock starts just before the ``COMMIT``. Next to it a raw
   asyncpg connection ``LISTEN``s on ``hub_change_log`` (the trigger's NOTIFY, the
   change log's wake-up): its time is from the same instant to the notification.
   The hub has more to do (read ``change_log``, fan out, encode, send), so the
   difference is the hub's own cost on top of PostgreSQL's notification.
2. **1,000 subscribers on one feed**: the same account's cookie on 1,000
   connections, each with the feed on P0; one UPDATE → every connection gets it.
   Delivery time per connection from just before the COMMIT.
3. **1,000 row changes/s across 100 feeds x 10 subscribers**: the same 1,000
   connections each open a second feed on one of 100 other projects (10 per
   project); writers (one asyncpg connection per 25 projects, each project always
   written by the same one, so its commits are in order) UPDATE titles at 1,000/s
   for a few seconds. Every subscriber must get every change of its project once,
   in commit order: ``seq`` strictly increasing and the titles ``1, 2, …, n``.

The client is this one process (uvloop); received frames are time-stamped in the
protocol callback and parsed later. Every wait has a deadline, every loop a count.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import uvloop

from bench import rawws
from bench.common import (
    HOST,
    VENV_BIN,
    append_results,
    cpu_seconds,
    free_port,
    percentile,
    raise_nofile_limit,
    results_header,
    run_server,
)
from bench.hubsetup import setup_account
from bench.project_relay import _kill_marked, _tree_cpu

CHANNEL = "hub_change_log"
WAIT = 5.0  # seconds one change may take before it counts as lost


@dataclass
class FeedPlan:
    single: int = 200  # changes timed with one subscriber
    single_gap: float = 0.02
    fan_conns: int = 1000
    fan_changes: int = 20
    fan_gap: float = 0.3
    projects: int = 100
    per_project: int = 10
    rate: float = 1000.0
    seconds: float = 5.0
    writers: int = 4


FULL = FeedPlan()
QUICK = FeedPlan(single=80, fan_changes=6, seconds=3.0)


@dataclass
class FeedResults:
    plan: FeedPlan
    hub_ms: list[float] = field(default_factory=list)
    listen_ms: list[float] = field(default_factory=list)
    single_lost: int = 0
    fan_ms: list[float] = field(default_factory=list)
    fan_last_ms: list[float] = field(default_factory=list)
    fan_lost: int = 0
    load_written: int = 0
    load_seconds: float = 0.0
    load_expected: int = 0
    load_received: int = 0
    load_lost: int = 0
    load_reordered: int = 0
    load_duplicates: int = 0
    load_ms: list[float] = field(default_factory=list)
    load_hub_cpu: float = 0.0
    load_client_cpu: float = 0.0
    load_pg_cpu: float = 0.0
    load_span: float = 0.0  # from the first write to the last delivery (or the drain deadline)
    setup_s: float = 0.0
    error: str = ""


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class Sub:
    """One WebSocket; frames are stamped on arrival and parsed later."""

    def __init__(self) -> None:
        self.frames: list[tuple[float, bytes]] = []
        self.ws: rawws.WSClient | None = None
        self.waiter: asyncio.Future[dict[str, Any]] | None = None
        self.want: tuple[str, str] | None = None  # (key, value) that completes waiter

    def on_message(self, payload: bytes, is_text: bool) -> None:
        t = time.perf_counter()
        if self.waiter is not None and self.want is not None and not self.waiter.done():
            msg = json.loads(payload)
            key, value = self.want
            if msg.get(key) == value and "action" not in msg:
                self.waiter.set_result(msg)
            return
        self.frames.append((t, payload))

    async def expect(self, key: str, value: str, send: bytes | None = None) -> dict[str, Any]:
        self.waiter = asyncio.get_running_loop().create_future()
        self.want = (key, value)
        try:
            if send is not None:
                assert self.ws is not None
                self.ws.send_text(send)
            async with asyncio.timeout(30):
                return await self.waiter
        finally:
            self.waiter = None
            self.want = None

    def changes(self, fid: str) -> list[tuple[float, dict[str, Any]]]:
        out = []
        for t, raw in self.frames:
            msg = json.loads(raw)
            if msg.get("id") == fid and msg.get("action"):
                out.append((t, msg))
        return out


def _feed(fid: str, project_id: str) -> bytes:
    return json.dumps(
        {
            "event": "query",
            "id": fid,
            "changes": True,
            "multi_response": True,
            "query": {"projects": [{"project_id": project_id, "title": None}]},
        }
    ).encode()


async def _open(port: int, cookie: str, fid: str, project_id: str) -> Sub:
    s = Sub()
    # Before the upgrade completes nothing arrives; wait for signed_in, then the feed's result.
    s.waiter = asyncio.get_running_loop().create_future()
    s.want = ("event", "signed_in")
    s.ws = await rawws.connect(HOST, port, "/hub", {"Cookie": cookie}, s.on_message)
    async with asyncio.timeout(30):
        await s.waiter
    s.waiter = None
    first = await s.expect("id", fid, _feed(fid, project_id))
    if first.get("event") == "error":
        raise RuntimeError(f"feed refused: {first}")
    return s


async def _add_feed(s: Sub, fid: str, project_id: str) -> None:
    first = await s.expect("id", fid, _feed(fid, project_id))
    if first.get("event") == "error":
        raise RuntimeError(f"feed refused: {first}")


async def _bounded(coros: list[Any], width: int = 50) -> list[Any]:
    sem = asyncio.Semaphore(width)

    async def one(c: Any) -> Any:
        async with sem:
            return await c

    return await asyncio.gather(*(one(c) for c in coros))


async def _timed_update(w: asyncpg.Connection, project_id: str, title: str) -> float:
    """UPDATE in a transaction; return perf_counter() taken just before the COMMIT."""
    await w.execute("BEGIN")
    await w.execute("UPDATE projects SET title = $1 WHERE project_id = $2", title, project_id)
    t0 = time.perf_counter()
    await w.execute("COMMIT")
    return t0


async def _wait_until(pred: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.002)
    return True


async def _run(
    plan: FeedPlan, port: int, hub_pid: int, pg: int | None, dsn: str, res: FeedResults
) -> None:
    t_setup = time.monotonic()
    creds = await setup_account(f"ws://{HOST}:{port}/hub")
    db = await asyncpg.connect(dsn)
    subs: list[Sub] = []
    listener: asyncpg.Connection | None = None
    try:
        n = plan.projects + 1
        rows = await db.fetch(
            "INSERT INTO projects (title, description, users) "
            "SELECT 'bench ' || g, 'feeds', jsonb_build_object($1::text, "
            "jsonb_build_object('group', 'owner')) FROM generate_series(1, $2) g "
            "RETURNING project_id",
            creds.account_id,
            n,
        )
        pids = [str(r["project_id"]) for r in rows]
        p0, load_pids = pids[0], pids[1:]

        # -- 1. one subscriber next to raw LISTEN ----------------------------------------
        notified: list[float] = []
        listener = await asyncpg.connect(dsn)
        await listener.add_listener(CHANNEL, lambda *a: notified.append(time.perf_counter()))
        one = await _open(port, creds.cookie_header, "f", p0)
        for i in range(plan.single):
            before = len(one.frames)
            nb = len(notified)
            t0 = await _timed_update(db, p0, f"single {i}")
            ok = await _wait_until(
                lambda b=before, k=nb: len(one.frames) > b and len(notified) > k, WAIT
            )
            if not ok:
                res.single_lost += 1
                continue
            res.hub_ms.append((one.frames[before][0] - t0) * 1000)
            res.listen_ms.append((notified[nb] - t0) * 1000)
            await asyncio.sleep(plan.single_gap)
        await listener.close()
        listener = None
        one.frames.clear()

        # -- 2. 1,000 subscribers on one feed ---------------------------------------------
        _say(f"  opening {plan.fan_conns} connections with a feed on one project")
        subs = [one] + await _bounded(
            [_open(port, creds.cookie_header, "f", p0) for _ in range(plan.fan_conns - 1)]
        )
        res.setup_s = time.monotonic() - t_setup
        for i in range(plan.fan_changes):
            await asyncio.sleep(plan.fan_gap)
            for s in subs:
                s.frames.clear()
            t0 = await _timed_update(db, p0, f"fan {i}")
            ok = await _wait_until(lambda: all(s.frames for s in subs), WAIT)
            got = [s.frames[0][0] for s in subs if s.frames]
            res.fan_lost += len(subs) - len(got)
            if not ok:
                await asyncio.sleep(0.5)
            ms = [(t - t0) * 1000 for t in got]
            res.fan_ms += ms
            if ms:
                res.fan_last_ms.append(max(ms))
        for s in subs:
            s.frames.clear()

        # -- 3. 1,000 changes/s across 100 feeds x 10 subscribers -------------------------
        _say(f"  opening {plan.projects} feeds x {plan.per_project} subscribers")
        # Cancel the one-project feeds first: every feed on a table sees every change of it.
        cancel = json.dumps({"event": "query_cancel", "id": "f"}).encode()
        await _bounded([s.expect("id", "f", cancel) for s in subs])
        assign = {}
        jobs = []
        for k, s in enumerate(subs[: plan.projects * plan.per_project]):
            pid = load_pids[k // plan.per_project]
            assign[k] = pid
            jobs.append(_add_feed(s, "g", pid))
        await _bounded(jobs)
        await asyncio.sleep(0.5)
        for s in subs:
            s.frames.clear()
        writers = [await asyncpg.connect(dsn) for _ in range(plan.writers)]
        counts = dict.fromkeys(load_pids, 0)
        commit_t: dict[tuple[str, int], float] = {}
        total = int(plan.rate * plan.seconds)
        per_writer = plan.rate / plan.writers

        async def write(w: asyncpg.Connection, mine: list[str], quota: int) -> None:
            start = time.perf_counter()
            deadline = start + plan.seconds * 3
            for j in range(quota):
                due = start + j / per_writer
                now = time.perf_counter()
                if due > now:
                    await asyncio.sleep(due - now)
                elif now > deadline:
                    return
                pid = mine[j % len(mine)]
                c = counts[pid] + 1
                t0 = time.perf_counter()
                await w.execute("UPDATE projects SET title = $1 WHERE project_id = $2", str(c), pid)
                counts[pid] = c
                commit_t[(pid, c)] = t0

        c0 = (cpu_seconds(hub_pid), time.process_time())
        pg0 = _tree_cpu(pg)
        t_load = time.perf_counter()
        try:
            await asyncio.gather(
                *(
                    write(w, load_pids[i :: plan.writers], total // plan.writers)
                    for i, w in enumerate(writers)
                )
            )
        finally:
            for w in writers:
                await w.close()
        res.load_seconds = time.perf_counter() - t_load
        res.load_written = sum(counts.values())

        def received() -> int:
            return sum(len(s.frames) for s in subs)

        expected = res.load_written * plan.per_project
        res.load_expected = expected
        await _wait_until(lambda: received() >= expected, 30.0)
        last = max((s.frames[-1][0] for s in subs if s.frames), default=time.perf_counter())
        res.load_span = last - t_load
        res.load_hub_cpu = cpu_seconds(hub_pid) - c0[0]
        res.load_client_cpu = time.process_time() - c0[1]
        pg1 = _tree_cpu(pg)
        res.load_pg_cpu = sum(v - pg0.get(k, 0.0) for k, v in pg1.items())
        await asyncio.sleep(0.3)  # anything extra (duplicates) would arrive now
        for k, pid in assign.items():
            got = subs[k].changes("g")
            res.load_received += len(got)
            seqs = [m.get("seq", -1) for _, m in got]
            titles = [str((m.get("new_val") or {}).get("title")) for _, m in got]
            want = [str(c) for c in range(1, counts[pid] + 1)]
            res.load_reordered += sum(1 for a, b in itertools.pairwise(seqs) if b <= a)
            res.load_duplicates += len(titles) - len(set(titles))
            res.load_lost += len(set(want) - set(titles))
            if titles != want and not res.error:
                res.error = f"project {pid}: titles {titles[:5]}… != 1..{counts[pid]}"
            for t, m in got:
                c = (m.get("new_val") or {}).get("title")
                t0 = commit_t.get((pid, int(c))) if str(c).isdigit() else None
                if t0 is not None:
                    res.load_ms.append((t - t0) * 1000)
    finally:
        for s in subs:
            if s.ws is not None:
                s.ws.close()
        if listener is not None:
            await listener.close()
        await db.close()


def _dsn(data: Path) -> str:
    lines = (data / "postgres" / "postmaster.pid").read_text().splitlines()
    return f"postgresql://postgres@/postgres?host={lines[4].strip()}&port={int(lines[3])}"


@contextlib.contextmanager
def _hub(workdir: Path) -> Iterator[tuple[int, int, int | None, str]]:
    data = workdir / "feeds-hub-data"
    data.mkdir()
    port = free_port()
    argv = [str(VENV_BIN / "hub"), "serve", "--host", HOST, "--port", str(port)]
    # fan-out is measured, not the per-connection message pace (off, as in run_all)
    argv += ["--ws-max-messages-per-s", "0"]
    argv += ["--data-dir", str(data)]
    try:
        with run_server("hub", argv, port, workdir / "feeds-hub.log", ready_timeout=180) as hub:
            pm = data / "postgres" / "postmaster.pid"
            postmaster = int(pm.read_text().split()[0]) if pm.exists() else None
            yield port, hub.pid, postmaster, _dsn(data)
    finally:
        _kill_marked(str(data))


def measure(plan: FeedPlan, workdir: Path) -> FeedResults:
    res = FeedResults(plan)
    raise_nofile_limit()
    _say("feeds: starting a hub")
    try:
        with _hub(workdir) as (port, pid, pg, dsn):
            uvloop.run(asyncio.wait_for(_run(plan, port, pid, pg, dsn, res), 150))
    except Exception as e:  # report what was measured so far
        res.error = (res.error + "; " if res.error else "") + f"{type(e).__name__}: {e}"[:500]
        _say(f"  feeds failed: {res.error}")
    return res


def _pp(xs: list[float]) -> str:
    s = sorted(xs)
    if not s:
        return "-"
    return f"{percentile(s, 0.5):.1f} / {percentile(s, 0.99):.1f}"


def _ok(flag: bool) -> str:
    return "✅" if flag else "❌"


def section(res: FeedResults, heading: str = "###") -> str:
    p = res.plan
    h = sorted(res.hub_ms)
    raw = sorted(res.listen_ms)
    h99 = percentile(h, 0.99) if h else float("inf")
    r99 = percentile(raw, 0.99) if raw else float("nan")
    f99 = percentile(sorted(res.fan_ms), 0.99) if res.fan_ms else float("inf")
    diff = [a - b for a, b in zip(res.hub_ms, res.listen_ms, strict=True)]
    rate = res.load_written / res.load_seconds if res.load_seconds else 0.0
    load_ok = (
        res.load_expected > 0
        and res.load_lost == 0
        and res.load_reordered == 0
        and res.load_duplicates == 0
        and res.load_received == res.load_expected
    )
    rows = [
        "| figure | p50 / p99 ms | target | ok |",
        "| --- | --- | --- | --- |",
        f"| 1 subscriber: commit → hub client ({len(h)} changes, lost {res.single_lost}) "
        f"| {_pp(res.hub_ms)} | p99 ≤ 25 ms | {_ok(h99 <= 25)} |",
        f"| raw asyncpg LISTEN on `{CHANNEL}`, same changes | {_pp(res.listen_ms)} | - | |",
        f"| hub - raw LISTEN, per change | {_pp(diff)} | p99 within 3 ms "
        f"(p99 {h99:.1f} vs {r99:.1f}) | {_ok(h99 - r99 <= 3)} |",
        f"| {p.fan_conns} subscribers on one feed: every delivery ({len(res.fan_ms)} of "
        f"{p.fan_changes}x{p.fan_conns}, lost {res.fan_lost}) | {_pp(res.fan_ms)} "
        f"| p99 ≤ 100 ms | {_ok(f99 <= 100 and res.fan_lost == 0)} |",
        f"| same, last of the {p.fan_conns} per change | {_pp(res.fan_last_ms)} | - | |",
        f"| {p.projects} feeds x {p.per_project} subscribers, {res.load_written} changes in "
        f"{res.load_seconds:.2f} s ({rate:,.0f}/s): commit → client | {_pp(res.load_ms)} | "
        f"0 lost, 0 reordered | {_ok(load_ok)} |",
    ]
    span = res.load_span or 0.0
    per = res.load_written or 1
    return "\n".join(
        [
            f"{heading} Changefeeds: commit to client (issue 4)",
            "",
            "One hub (embedded PostgreSQL, default settings), one account, all connections "
            "`bench.rawws` with its cookie, in this one client process; writes straight in "
            "PostgreSQL from separate asyncpg connections. Latency is from just before the "
            "`COMMIT` (1 and 1,000 subscribers: `BEGIN; UPDATE; COMMIT`; load: autocommit "
            "`UPDATE`, clock before the statement) to the frame's arrival in the client. "
            "Under load every delivery is timed, so its latency includes the client's own "
            "queueing of 10,000 frames/s.",
            "",
            "\n".join(rows),
            "",
            f"- Load phase: {res.load_received:,} of {res.load_expected:,} deliveries "
            f"received; lost {res.load_lost}, reordered (seq not increasing) "
            f"{res.load_reordered}, duplicates {res.load_duplicates}. Writing took "
            f"{res.load_seconds:.2f} s, the last delivery came {span:.2f} s after the first "
            f"write. CPU from the first write to the last delivery: hub "
            f"{res.load_hub_cpu:.2f} s ({res.load_hub_cpu / span if span else 0:.0%} of a "
            f"core; {res.load_hub_cpu / per * 1e6:,.0f} µs per change, i.e. per "
            f"{p.per_project} deliveries), PostgreSQL {res.load_pg_cpu:.2f} s, client "
            f"{res.load_client_cpu:.2f} s.",
            f"- Setup (account, {p.projects + 1} projects by SQL, {p.fan_conns} connections "
            f"with feeds): {res.setup_s:.1f} s.",
            *(
                [
                    "- The hub used about a whole core in the load phase: it was the limit, so "
                    "changes queued in it and their latency grew while the writes went on (no "
                    "latency target for this row; the check is loss and order). Every feed on a "
                    "table is handed every change of that table, so the cost per change grows "
                    "with the number of feeds on `projects`, not with the deliveries."
                ]
                if span and res.load_hub_cpu / span > 0.85
                else []
            ),
            *([f"- **Error:** {res.error}"] if res.error else []),
            "",
        ]
    )


def report(res: FeedResults, quick: bool, command: str, elapsed: float) -> str:
    return "\n".join([*results_header("changefeeds", quick, command, elapsed), section(res)])


def plan_from(quick: bool) -> FeedPlan:
    return FeedPlan(
        **{k: getattr(QUICK if quick else FULL, k) for k in FeedPlan.__dataclass_fields__}
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="~15 s smoke run")
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args(argv)
    plan = plan_from(args.quick)
    command = shlex.join(["python", "-m", "bench.feeds", *(argv or sys.argv[1:])])
    t0 = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="hub-bench-feeds-"))
    try:
        res = measure(plan, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    text = report(res, args.quick, command, time.monotonic() - t0)
    _say("\n" + text)
    if not args.no_record:
        append_results(text)
    return 0 if not res.error else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted: hub stopped, nothing recorded", file=sys.stderr)
        sys.exit(130)
