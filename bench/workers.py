"""Run a load job in one or more client processes with a shared, timed window.

A *job* is a top-level ``async def job(args, window, go) -> Stats`` (top level
so that the ``spawn`` start method can find it by name). It opens its
connections, awaits ``go()`` — which returns once every client process is
connected and the common start time has come — and then works until
``window.end``, counting into ``Stats`` only what completes inside
``[window.start, window.end]``; the time between the start and
``window.start`` is the warm-up. ``time.monotonic()`` is one system-wide clock
on Linux, so windows line up across processes.

Every wait here has a deadline: connecting (``CONNECT_DEADLINE``), the start
barrier, and the window itself plus ``STALL_GRACE`` for a server that stops
answering. Client processes are joined, then terminated, in ``finally``.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import time
from array import array
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.common import cpu_seconds, machine_busy_seconds, raise_nofile_limit

CONNECT_DEADLINE = 120.0
STALL_GRACE = 20.0

Go = Callable[[], Awaitable[None]]


@dataclass
class Window:
    start: float = 0.0  # time.monotonic() when counting starts (warm-up before it)
    end: float = 0.0


class Stats:
    """What one client process measured."""

    __slots__ = ("count", "failed", "first_failure", "latencies", "window")

    def __init__(self, window: Window) -> None:
        self.window = window
        self.count = 0
        self.failed = 0
        self.first_failure = ""
        self.latencies = array("d")

    def record(self, sent: float, now: float) -> None:
        """Count one operation sent at ``sent`` and completed at ``now``, if in the window."""
        w = self.window
        if w.start <= now <= w.end:
            self.count += 1
            self.latencies.append(now - sent)

    def fail(self, why: str) -> None:
        self.failed += 1
        if not self.first_failure:
            self.first_failure = why


Job = Callable[[Any, Window, Go], Awaitable[Stats]]


@dataclass
class Aggregate:
    """All client processes together."""

    processes: int
    count: int = 0
    failed: int = 0
    latencies: list[float] = field(default_factory=list)  # sorted, seconds
    client_cpu: float = 0.0  # sum over processes, fraction of one core
    server_cpu: float | None = None  # fraction of one core during the window
    other_cpu: float | None = None  # everything else on the machine, in cores
    errors: list[str] = field(default_factory=list)


async def wait_all(futs: Sequence[asyncio.Future[Any]], window: Window) -> None:
    """Wait for ``futs`` until the window ends plus ``STALL_GRACE``; cancel the rest."""
    timeout = max(0.0, window.end - time.monotonic()) + STALL_GRACE
    try:
        async with asyncio.timeout(timeout):
            await asyncio.gather(*futs)
    finally:
        for f in futs:
            f.cancel()


async def _main(
    job: Job, args: Any, warmup: float, duration: float, ready: Any, go: Any, start_at: Any
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    window = Window()
    cpu_marks: list[float] = []
    marks: list[asyncio.Future[None]] = []

    async def mark(at: float) -> None:
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        cpu_marks.append(time.process_time())

    async def wait_go() -> None:
        await loop.run_in_executor(None, ready.wait, CONNECT_DEADLINE)
        await loop.run_in_executor(None, go.wait, 30.0)
        begin = float(start_at.value)
        window.start = begin + warmup
        window.end = window.start + duration
        marks.append(asyncio.ensure_future(mark(window.start)))
        marks.append(asyncio.ensure_future(mark(window.end)))
        await asyncio.sleep(max(0.0, begin - time.monotonic()))

    try:
        stats = await job(args, window, wait_go)
        async with asyncio.timeout(duration + warmup + STALL_GRACE):
            await asyncio.gather(*marks)
    finally:
        for m in marks:
            m.cancel()
    cpu = (cpu_marks[1] - cpu_marks[0]) / duration if len(cpu_marks) == 2 else 0.0
    return {
        "count": stats.count,
        "failed": stats.failed,
        "first_failure": stats.first_failure,
        "lat": stats.latencies.tobytes(),
        "cpu": cpu,
    }


def _process(
    job: Job,
    args: Any,
    warmup: float,
    duration: float,
    cpu: int | None,
    ready: Any,
    go: Any,
    start_at: Any,
    out: Any,
) -> None:
    import uvloop

    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    raise_nofile_limit()
    try:
        out.put(uvloop.run(_main(job, args, warmup, duration, ready, go, start_at)))
    except BaseException as e:
        # Break the barriers so that one failed process cannot hang the others.
        ready.abort()
        go.abort()
        out.put({"error": f"{type(e).__name__}: {e}"})


def split(total: int, parts: int) -> list[int]:
    """``total`` connections over ``parts`` processes, as evenly as possible."""
    parts = max(1, min(parts, total))
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def run_workers(
    job: Job,
    job_args: Sequence[Any],
    warmup: float,
    duration: float,
    server_pid: int | None = None,
    client_cpus: Sequence[int] | None = None,
) -> Aggregate:
    """Run ``job`` once per element of ``job_args``, each in its own process."""
    ctx = mp.get_context("spawn")
    n = len(job_args)
    ready = ctx.Barrier(n + 1)
    go = ctx.Barrier(n + 1)
    start_at = ctx.Value("d", 0.0)
    out: Any = ctx.Queue()
    cpus = list(client_cpus or [])
    agg = Aggregate(processes=n)
    results: list[dict[str, Any]] = []
    procs = []
    busy: float | None = None
    try:
        for i, a in enumerate(job_args):
            cpu = cpus[i % len(cpus)] if cpus else None
            p = ctx.Process(
                target=_process,
                args=(job, a, warmup, duration, cpu, ready, go, start_at, out),
                daemon=True,
            )
            p.start()
            procs.append(p)
        try:
            ready.wait(CONNECT_DEADLINE)
            start_at.value = time.monotonic() + 0.2
            go.wait(30.0)
        except Exception as e:  # BrokenBarrierError: a client failed before the start
            agg.errors.append(f"start: {type(e).__name__}")
        else:
            begin = start_at.value + warmup
            time.sleep(max(0.0, begin - time.monotonic()))
            busy0 = machine_busy_seconds()
            c0 = cpu_seconds(server_pid) if server_pid is not None else 0.0
            time.sleep(max(0.0, begin + duration - time.monotonic()))
            if server_pid is not None:
                agg.server_cpu = (cpu_seconds(server_pid) - c0) / duration
            busy = (machine_busy_seconds() - busy0) / duration
        deadline = time.monotonic() + warmup + duration + STALL_GRACE + 30.0
        while len(results) < n and time.monotonic() < deadline:
            try:
                results.append(out.get(timeout=1.0))
            except Exception:
                if not any(p.is_alive() for p in procs) and out.empty():
                    break
    finally:
        for p in procs:
            p.join(5.0)
            if p.is_alive():
                p.terminate()
                p.join(5.0)
    lat = array("d")
    for r in results:
        if "error" in r:
            agg.errors.append(r["error"])
            continue
        agg.count += r["count"]
        agg.failed += r["failed"]
        if r["first_failure"] and len(agg.errors) < 3:
            agg.errors.append(f"{r['failed']} failed, first: {r['first_failure']}")
        lat.frombytes(r["lat"])
        agg.client_cpu += r["cpu"]
    if busy is not None:
        agg.other_cpu = max(0.0, busy - (agg.server_cpu or 0.0) - agg.client_cpu)
    if len(results) < n:
        agg.errors.append(f"{n - len(results)} client process(es) reported nothing")
    agg.latencies = sorted(lat)
    return agg
