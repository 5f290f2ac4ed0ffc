"""Scale targets of one hub process: many idle clients, a connection storm, a client
that stops reading, and one that floods.

``python -m bench.scale`` (about 2 minutes; ``--quick`` about 40 s, smaller numbers).

One hub (``.venv/bin/hub serve --data-dir <tmp>``, embedded PostgreSQL) pinned to
CPU 0, this client pinned to CPU 1 (with 2+ CPUs). An account is made and every
connection signs in by its remember-me cookie. In order:

1. storm: new authenticated connections offered at ``--rate`` (500) per second for
   ``STORM_S``: achieved rate and time from TCP connect to the pushed ``signed_in``;
2. idle: ``--idle`` (10,000) signed-in connections held open: server memory per
   connection (RSS after - before, / N), server CPU while they sit idle for
   ``IDLE_CPU_S`` (keepalive sweeps included), and a probe connection's ping
   p50/p99 with them open against the same probe before they were opened;
3. crowd: ``--crowd`` (1,000) connections each pinging once a second (staggered),
   p50/p99 over ``CROWD_S`` seconds, three times: alone (the baseline), with one
   extra client that asks for replies and never reads them (the hub must close it,
   code 4008 once its queue is full, and the crowd must not notice: target p99
   within +10 %), and with one client sending ``--flood`` (10,000) pings a second
   (the hub reads it at its message pace, 200/s; target: crowd p99 ≤ 2x).

Prints a table; appends it to bench/RESULTS.md (``--no-record`` skips that).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import uvloop

from bench.common import (
    REPO,
    append_results,
    cpu_seconds,
    free_port,
    percentile,
    pin_process,
    raise_nofile_limit,
    results_header,
    rss_kib,
    run_server,
    wait_quiet,
)
from bench.hubsetup import setup_account
from bench.idle_memory import open_connections
from bench.rawws import WSClient, connect

VENV_BIN = REPO / ".venv" / "bin"
IDLE_CPU_S = 10.0
STORM_S = 4.0
CROWD_S = 10.0
PROBE_PINGS = 400
STALLED_PER_S = 20.0  # a busy browser tab; a client at the full message pace is the flood row


@dataclass
class Latencies:
    values: list[float] = field(default_factory=list)

    def p(self, q: float) -> float:
        return percentile(sorted(self.values), q / 100) * 1000 if self.values else float("nan")


def _ping(rid: str) -> bytes:
    return json.dumps({"event": "ping", "id": rid}).encode()


class Pinger:
    """One connection that pings when told and records each round trip."""

    def __init__(self, name: str, into: Latencies) -> None:
        self.name = name
        self.into = into
        self.sent: dict[str, float] = {}
        self.seq = 0
        self.conn: WSClient | None = None
        self.closed_code: int | None = None

    def on_message(self, payload: bytes, is_text: bool) -> None:
        if not is_text or b'"pong"' not in payload:
            return
        rid = json.loads(payload).get("id")
        started = self.sent.pop(rid, None)
        if started is not None:
            self.into.values.append(time.perf_counter() - started)

    def ping(self) -> None:
        assert self.conn is not None
        self.seq += 1
        rid = f"{self.name}-{self.seq}"
        self.sent[rid] = time.perf_counter()
        self.conn.send_text(_ping(rid))


async def open_pinger(url: str, cookie: str, name: str, into: Latencies) -> Pinger:
    u = urlsplit(url)
    pinger = Pinger(name, into)
    pinger.conn = await connect(
        u.hostname or "127.0.0.1", u.port or 80, u.path, {"Cookie": cookie}, pinger.on_message
    )
    return pinger


async def probe(url: str, cookie: str, n: int) -> Latencies:
    """Sequential pings on one fresh connection."""
    lat = Latencies()
    p = await open_pinger(url, cookie, "probe", lat)
    answered = asyncio.Event()
    record = p.on_message

    def on_message(payload: bytes, is_text: bool) -> None:
        record(payload, is_text)
        answered.set()

    assert p.conn is not None
    p.conn.on_message = on_message
    try:
        for _ in range(n):
            answered.clear()
            before = len(lat.values)
            p.ping()
            async with asyncio.timeout(10):
                while len(lat.values) == before:
                    await answered.wait()
                    answered.clear()
    finally:
        assert p.conn is not None
        p.conn.close()
    return lat


async def idle_phase(url: str, pid: int, cookie: str, n: int) -> dict[str, float]:
    baseline = await probe(url, cookie, PROBE_PINGS)
    conns: list[WSClient] = []
    try:
        before = rss_kib(pid)
        t0 = time.monotonic()
        await open_connections(url, n, {"Cookie": cookie}, True, conns)
        opened_s = time.monotonic() - t0
        await asyncio.sleep(2.0)
        after = rss_kib(pid)
        cpu0 = cpu_seconds(pid)
        await asyncio.sleep(IDLE_CPU_S)
        idle_cpu = (cpu_seconds(pid) - cpu0) / IDLE_CPU_S
        loaded = await probe(url, cookie, PROBE_PINGS)
    finally:
        for c in conns:
            c.close()
    return {
        "connections": n,
        "open_s": opened_s,
        "per_conn_kib": (after - before) / n,
        "idle_cpu_pct": idle_cpu * 100,
        "probe_p50_ms_before": baseline.p(50),
        "probe_p99_ms_before": baseline.p(99),
        "probe_p50_ms": loaded.p(50),
        "probe_p99_ms": loaded.p(99),
    }


async def storm_phase(url: str, cookie: str, rate: float, seconds: float) -> dict[str, float]:
    u = urlsplit(url)
    host, port = u.hostname or "127.0.0.1", u.port or 80
    lat = Latencies()
    failures = 0
    conns: list[WSClient] = []

    async def one() -> None:
        nonlocal failures
        started = time.perf_counter()
        signed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_message(payload: bytes, is_text: bool) -> None:
            if is_text and b'"signed_in"' in payload and not signed.done():
                signed.set_result(None)

        try:
            conn = await connect(host, port, u.path, {"Cookie": cookie}, on_message)
            conns.append(conn)
            async with asyncio.timeout(10):
                await signed
            lat.values.append(time.perf_counter() - started)
        except (OSError, TimeoutError, Exception):
            failures += 1

    total = int(rate * seconds)
    tasks = []
    t0 = time.perf_counter()
    for i in range(total):
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one()))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - t0
    for c in conns:
        c.close()
    return {
        "offered_per_s": rate,
        "achieved_per_s": len(lat.values) / elapsed,
        "failed": failures,
        "p50_ms": lat.p(50),
        "p99_ms": lat.p(99),
    }


class Crowd:
    """N connections, each pinging once a second, spread evenly over the second."""

    def __init__(self) -> None:
        self.lat = Latencies()
        self.pingers: list[Pinger] = []

    async def open(self, url: str, cookie: str, n: int) -> None:
        sem = asyncio.Semaphore(100)

        async def one(i: int) -> None:
            async with sem:
                self.pingers.append(await open_pinger(url, cookie, f"c{i}", self.lat))

        await asyncio.gather(*(one(i) for i in range(n)))

    async def run(self, seconds: float) -> Latencies:
        self.lat.values.clear()
        n = len(self.pingers)
        start = time.perf_counter()
        sent = 0
        while (now := time.perf_counter()) - start < seconds:
            due = int((now - start) * n)  # one ping per connection per second
            while sent < due:
                self.pingers[sent % n].ping()
                sent += 1
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.5)  # the last replies
        out = Latencies(list(self.lat.values))
        return out

    def close(self) -> None:
        for p in self.pingers:
            if p.conn is not None:
                p.conn.close()


async def stalled_reader(
    url: str, cookie: str, per_s: float
) -> tuple[asyncio.Task[None], list[str]]:
    """A client that keeps sending requests like a busy browser tab (``per_s`` a second)
    but has stopped reading: its replies pile up in its socket and then in the hub."""
    u = urlsplit(url)
    outcome: list[str] = []
    conn = await connect(u.hostname or "127.0.0.1", u.port or 80, u.path, {"Cookie": cookie})
    assert conn.transport is not None
    conn.transport.pause_reading()

    async def send() -> None:
        i = 0
        start = time.perf_counter()
        try:
            while not conn.closed.done() and conn.transport is not None:
                if conn.transport.is_closing():
                    break
                while i < (time.perf_counter() - start) * per_s:
                    i += 1
                    conn.send_text(_ping(f"stall-{i}"))
                await asyncio.sleep(0.01)
        finally:
            outcome.append(f"sent {i} requests at {per_s:g}/s, read none")

    return asyncio.ensure_future(send()), outcome


async def flooder(url: str, cookie: str, per_s: float) -> tuple[asyncio.Task[None], Latencies]:
    lat = Latencies()
    p = await open_pinger(url, cookie, "flood", lat)

    async def flood() -> None:
        start = time.perf_counter()
        sent = 0
        while True:
            due = int((time.perf_counter() - start) * per_s)
            while sent < due:
                p.ping()
                sent += 1
            await asyncio.sleep(0.002)

    return asyncio.ensure_future(flood()), lat


async def crowd_phase(url: str, cookie: str, n: int, flood_per_s: float) -> dict[str, float]:
    crowd = Crowd()
    try:
        await crowd.open(url, cookie, n)
        await asyncio.sleep(1.0)
        alone = await crowd.run(CROWD_S)
        task, outcome = await stalled_reader(url, cookie, STALLED_PER_S)
        try:
            with_stalled = await crowd.run(CROWD_S)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        flood_task, flood_lat = await flooder(url, cookie, flood_per_s)
        try:
            t0 = time.perf_counter()
            with_flood = await crowd.run(CROWD_S)
            flood_rate = len(flood_lat.values) / (time.perf_counter() - t0)
        finally:
            flood_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flood_task
    finally:
        crowd.close()
    return {
        "crowd": n,
        "alone_p50_ms": alone.p(50),
        "alone_p99_ms": alone.p(99),
        "stalled_p99_ms": with_stalled.p(99),
        "stalled_note": outcome[0] if outcome else "",  # type: ignore[dict-item]
        "flood_p99_ms": with_flood.p(99),
        "flood_answered_per_s": flood_rate,
    }


async def measure(url: str, pid: int, cookie: str, args: argparse.Namespace) -> dict[str, object]:
    raise_nofile_limit()
    # the storm first, on a fresh hub: right after 10,000 connections close the hub is
    # busy for seconds and a storm then measures that (accept-queue overflows, 1 s SYN
    # retransmits), not admission
    storm = await storm_phase(url, cookie, args.rate, STORM_S)
    await asyncio.to_thread(wait_quiet, 30.0)
    idle = await idle_phase(url, pid, cookie, args.idle)
    await asyncio.to_thread(wait_quiet, 30.0)
    return {
        "idle": idle,
        "storm": storm,
        "crowd": await crowd_phase(url, cookie, args.crowd, args.flood),
    }


def format_results(r: dict[str, dict[str, float]]) -> list[str]:
    i, s, c = r["idle"], r["storm"], r["crowd"]
    stall_ratio = c["stalled_p99_ms"] / c["alone_p99_ms"]
    flood_ratio = c["flood_p99_ms"] / c["alone_p99_ms"]
    return [
        "| target | measured | verdict |",
        "| --- | --- | --- |",
        f"| {i['connections']:.0f} idle signed-in connections: memory per connection"
        f" | {i['per_conn_kib']:.1f} KiB (opened in {i['open_s']:.1f} s) | |",
        f"| same: hub CPU while idle | {i['idle_cpu_pct']:.1f} % of one core | |",
        f"| same: probe ping p50 / p99 | {i['probe_p50_ms']:.2f} / {i['probe_p99_ms']:.2f} ms"
        f" (without them {i['probe_p50_ms_before']:.2f} / {i['probe_p99_ms_before']:.2f} ms) | |",
        f"| new authenticated connections at {s['offered_per_s']:.0f}/s"
        f" | {s['achieved_per_s']:.0f}/s achieved, {s['failed']:.0f} failed,"
        f" signed in p50 / p99 {s['p50_ms']:.1f} / {s['p99_ms']:.1f} ms"
        f" | {'ok' if s['achieved_per_s'] >= 0.95 * s['offered_per_s'] else 'short'} |",
        f"| {c['crowd']:.0f} clients pinging 1/s, alone: p50 / p99"
        f" | {c['alone_p50_ms']:.2f} / {c['alone_p99_ms']:.2f} ms | baseline |",
        f"| same + one client that never reads ({c['stalled_note']})"
        f" | p99 {c['stalled_p99_ms']:.2f} ms ({stall_ratio:.2f}x)"
        f" | {'ok' if stall_ratio <= 1.10 else 'over +10 %'} |",
        f"| same + one client flooding ({c['flood_answered_per_s']:.0f} pings/s answered)"
        f" | p99 {c['flood_p99_ms']:.2f} ms ({flood_ratio:.2f}x)"
        f" | {'ok' if flood_ratio <= 2.0 else 'over 2x'} |",
    ]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--crowd", type=int, default=1000)
    parser.add_argument("--flood", type=float, default=10_000.0)
    parser.add_argument("--quick", action="store_true", help="2,000 idle, 200/s, 300 crowd")
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--no-pin", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.idle, args.rate, args.crowd = 2000, 200.0, 300
    started = time.monotonic()
    pin = not args.no_pin and (os.cpu_count() or 1) >= 2
    with tempfile.TemporaryDirectory(prefix="hub-scale-") as tmp:
        port = free_port()
        argv_hub = [str(VENV_BIN / "hub"), "serve", "--port", str(port), "--data-dir", tmp]
        with run_server(
            "hub", argv_hub, port, Path(tmp) / "hub.log", ready_timeout=180, cpu=0 if pin else None
        ) as hub:
            if pin:
                pin_process(os.getpid(), {1})
            creds = uvloop.run(setup_account(hub.ws_url))
            results = uvloop.run(measure(hub.ws_url, hub.pid, creds.cookie_header, args))
    lines = format_results(results)  # type: ignore[arg-type]
    print("\n".join(lines))
    if not args.no_record:
        elapsed = time.monotonic() - started
        command = "python -m bench.scale" + (" --quick" if args.quick else "")
        head = results_header(
            "scale: idle clients, storm, stalled reader, flood", args.quick, command, elapsed
        )
        pinned = "Hub pinned to CPU 0, client to CPU 1." if pin else "Nothing pinned."
        append_results("\n".join([*head, pinned, "", *lines, ""]) + "\n")


if __name__ == "__main__":
    main()
