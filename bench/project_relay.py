"""Project calls relayed by the hub against a direct client of the same local hub.

``python -m bench.project_relay`` (about 2 minutes; ``--quick`` about 30 s),
also the last section of ``python -m bench.run_all``.

One hub (``.venv/bin/hub serve --data-dir <tmp>``, embedded PostgreSQL) gets
an account (``bench.hubsetup``) and one project, started by a first
``project_exec``. The project's local hub is found under
``<data-dir>/projects/<project_id>/.smc`` (port, token, pid) and the same
daemon is then driven two ways, side by side in one run:

- **relay**: a WebSocket to the hub (``bench.rawws``, signed in by the
  remember-me cookie); the hub checks access, gives the call its own id on its
  link to the project and routes the reply back;
- **direct**: a second link to the daemon (``hub.local_hub.link.Link``, token
  handshake), the way the hub itself talks to it.

Measured:

1. ``project_exec`` of ``true``: relay sends ``{"event":"project_exec",
   "project_id":…, "command":"true"}``, direct sends ``{"event":"project_exec",
   "command":"true"}``; each waits for the reply with its id. Round trips/s and
   p50/p99 latency with 1 and with 16 calls in flight on one connection, in a
   counted window after a warm-up (``bench.workers.Stats``).
2. Streamed output: ``head -c N /dev/zero | tr '\\0' x`` with ``stream: true``
   (the daemon sends it in chunks of at most 64 KiB); relay through
   ``local_hub {multi_response: true}``, direct on the link. The stdout
   characters received until the final reply, over the time from the request
   to that reply, give MB/s.

Runs alternate direct and relay (which goes first alternates too), so a drift
in the machine's load hits both. Nothing is pinned: the relay path has four
programs (client, hub, daemon, PostgreSQL) plus the commands on two cores.
Each run records CPU seconds of the client (this process), the hub, the daemon
with its reaped children (the commands), PostgreSQL (postmaster and backends)
and everything else on the machine, so a run that shared the machine shows it.

Bounds: every load loop stops at the end of its window or after
``MAX_CALLS_PER_RUN``; every wait has a deadline; the hub, its PostgreSQL and
the project daemon (which the hub starts detached, with ``setsid``) are
stopped in ``finally``. Everything is on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import shlex
import shutil
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import uvloop
from websockets.asyncio.client import connect as ws_connect

from bench import rawws
from bench.common import (
    HOST,
    VENV_BIN,
    append_results,
    cpu_seconds,
    free_port,
    machine_busy_seconds,
    percentile,
    results_header,
    run_server,
    wait_quiet,
)
from bench.hubsetup import TIMEOUT, HubCredentials, _call, setup_account
from bench.workers import Stats, Window, wait_all
from hub.local_hub.framing import JsonFrame
from hub.local_hub.link import Link

TARGET = 0.8  # relay ≥ 0.8x direct (issue 3, section 5)
NOISY = 0.25  # other load (cores) above which a run is reported as shared
MAX_CALLS_PER_RUN = 1_000_000
STREAM_TIMEOUT_S = 120.0  # the command's timeout in the project, and the client's wait
CHUNK = 64 * 1024
MODES = ("direct", "relay")
PARTS = ("client", "hub", "daemon", "postgres", "other")


@dataclass
class RelayPlan:
    runs: int
    stream_runs: int  # a 64 MiB stream lasts 0.1-0.2 s and varies by ±15 %: more of them
    duration: float
    warmup: float
    stream_bytes: int
    inflight: tuple[int, ...] = (1, 16)
    quiet_wait: float = 10.0  # before each run, wait at most this long for a quiet machine
    quiet_budget: float = 40.0  # and at most this long in all
    quiet_spent: float = 0.0


FULL = RelayPlan(runs=3, stream_runs=9, duration=5.0, warmup=1.0, stream_bytes=64 * 2**20)
QUICK = RelayPlan(
    runs=1,
    stream_runs=3,
    duration=2.0,
    warmup=0.5,
    stream_bytes=64 * 2**20,
    quiet_wait=3.0,
    quiet_budget=10.0,
)


@dataclass
class Target:
    """The hub and the project's daemon, with what both clients need."""

    hub_port: int
    hub_pid: int
    cookie: str
    project_id: str
    daemon_port: int
    daemon_token: str
    daemon_pid: int
    postmaster_pid: int | None


@dataclass
class ExecRun:
    mode: str
    inflight: int
    duration: float
    calls: int = 0
    rate: float = 0.0
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")
    cpu: dict[str, float] = field(default_factory=dict)  # seconds in the window, by part
    errors: list[str] = field(default_factory=list)


@dataclass
class StreamRun:
    mode: str
    expected: int
    received: int = 0
    messages: int = 0
    seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def mb_s(self) -> float:
        return self.received / self.seconds / 1e6 if self.seconds and not self.errors else 0.0


@dataclass
class RelayResults:
    plan: RelayPlan
    execs: dict[tuple[str, int], list[ExecRun]] = field(default_factory=dict)
    streams: dict[str, list[StreamRun]] = field(default_factory=dict)
    error: str = ""


class Reply(msgspec.Struct):
    id: str | None = None
    event: str = ""
    stdout: str = ""
    exit_code: int | None = None
    multi_response: bool = False
    error: str = ""


_decode = msgspec.json.Decoder(Reply).decode


def _say(msg: str) -> None:
    print(msg, flush=True)


# -- CPU accounting ----------------------------------------------------------------


def _stat_fields(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        return f.read().rsplit(")", 1)[1].split()


def _cpu_with_children(pid: int) -> float:
    """User + system CPU of ``pid`` and of its children it has reaped (cutime, cstime)."""
    fields = _stat_fields(pid)
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _tree_cpu(root: int | None) -> dict[int, float]:
    """CPU seconds of ``root`` and of each process whose parent it is (PostgreSQL's backends)."""
    if root is None:
        return {}
    out: dict[int, float] = {}
    ticks = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = _stat_fields(int(entry))
        except (OSError, IndexError):
            continue
        if int(entry) == root or int(fields[1]) == root:
            out[int(entry)] = (int(fields[11]) + int(fields[12])) / ticks
    return out


@dataclass
class _Mark:
    client: float
    hub: float
    daemon: float
    postgres: dict[int, float]
    busy: float


def _mark(t: Target) -> _Mark:
    def safe(fn: Callable[[int], float], pid: int) -> float:
        try:
            return fn(pid)
        except OSError:
            return 0.0

    return _Mark(
        client=time.process_time(),
        hub=safe(cpu_seconds, t.hub_pid),
        daemon=safe(_cpu_with_children, t.daemon_pid),
        postgres=_tree_cpu(t.postmaster_pid),
        busy=machine_busy_seconds(),
    )


def _cpu_between(a: _Mark, b: _Mark) -> dict[str, float]:
    pg = sum(v - a.postgres.get(pid, 0.0) for pid, v in b.postgres.items())
    parts = {
        "client": b.client - a.client,
        "hub": b.hub - a.hub,
        "daemon": b.daemon - a.daemon,
        "postgres": pg,
    }
    parts["other"] = max(0.0, (b.busy - a.busy) - sum(parts.values()))
    return parts


# -- the two clients -----------------------------------------------------------------


class _Conn:
    """One connection to the project, relayed or direct: send bytes, replies to a callback."""

    mode: str

    async def open(self, on_reply: Callable[[Reply], None]) -> None:
        raise NotImplementedError

    def exec_message(self, rid: str, command: str, stream: bool) -> bytes:
        raise NotImplementedError

    def send(self, data: bytes) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    @property
    def lost(self) -> asyncio.Future[None]:
        raise NotImplementedError


class _Relay(_Conn):
    """A WebSocket to the hub, signed in by cookie; calls go as project_exec or local_hub."""

    mode = "relay"

    def __init__(self, t: Target) -> None:
        self.t = t
        self.ws: rawws.WSClient | None = None

    async def open(self, on_reply: Callable[[Reply], None]) -> None:
        loop = asyncio.get_running_loop()
        signed_in: asyncio.Future[None] = loop.create_future()

        def on_message(payload: bytes, is_text: bool) -> None:
            try:
                r = _decode(payload)
            except msgspec.DecodeError:
                return
            if r.event == "signed_in" and r.id is None:
                if not signed_in.done():
                    signed_in.set_result(None)
                return
            on_reply(r)

        headers = {"Cookie": self.t.cookie}
        self.ws = await rawws.connect(HOST, self.t.hub_port, "/hub", headers, on_message)
        async with asyncio.timeout(TIMEOUT):
            await signed_in

    def exec_message(self, rid: str, command: str, stream: bool) -> bytes:
        if not stream:
            return msgspec.json.encode(
                {
                    "event": "project_exec",
                    "id": rid,
                    "project_id": self.t.project_id,
                    "command": command,
                }
            )
        return msgspec.json.encode(
            {
                "event": "local_hub",
                "id": rid,
                "project_id": self.t.project_id,
                "multi_response": True,
                "timeout": STREAM_TIMEOUT_S + 30,
                "message": {
                    "event": "project_exec",
                    "command": command,
                    "stream": True,
                    "timeout": STREAM_TIMEOUT_S,
                },
            }
        )

    def send(self, data: bytes) -> None:
        assert self.ws is not None
        self.ws.send_text(data)

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()

    @property
    def lost(self) -> asyncio.Future[None]:
        assert self.ws is not None
        return self.ws.closed


class _Direct(_Conn):
    """A link of our own to the project's daemon, as a second hub would have."""

    mode = "direct"

    def __init__(self, t: Target) -> None:
        self.t = t
        self.link: Link | None = None
        self._reader: asyncio.Task[None] | None = None
        self._queue: list[bytes] = []
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None

    async def open(self, on_reply: Callable[[Reply], None]) -> None:
        self.link = link = await Link.connect(
            HOST, self.t.daemon_port, self.t.daemon_token, timeout=TIMEOUT
        )

        async def read() -> None:
            while True:
                frame = await link.receive()
                if isinstance(frame, JsonFrame):
                    with contextlib.suppress(msgspec.DecodeError):
                        on_reply(_decode(frame.payload))

        async def write() -> None:
            # Link.send awaits (lock + drain); sends are queued so the reply callback stays
            # synchronous, as it is on the WebSocket side.
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._queue:
                    await link.send(self._queue.pop(0))

        loop = asyncio.get_running_loop()
        self._reader = loop.create_task(read())
        self._writer = loop.create_task(write())

    def exec_message(self, rid: str, command: str, stream: bool) -> bytes:
        msg: dict[str, Any] = {"event": "project_exec", "id": rid, "command": command}
        if stream:
            msg.update(stream=True, timeout=STREAM_TIMEOUT_S)
        return msgspec.json.encode(msg)

    def send(self, data: bytes) -> None:
        self._queue.append(data)
        self._wake.set()

    def close(self) -> None:
        for task in (self._reader, self._writer):
            if task is not None:
                task.cancel()
        if self.link is not None:
            self.link.close()

    @property
    def lost(self) -> asyncio.Future[None]:
        assert self._reader is not None
        return self._reader


def _conn(mode: str, t: Target) -> _Conn:
    return _Relay(t) if mode == "relay" else _Direct(t)


# -- measurements ----------------------------------------------------------------------


async def _exec_run(mode: str, t: Target, inflight: int, plan: RelayPlan) -> ExecRun:
    """``project_exec true`` with ``inflight`` calls outstanding on one connection."""
    res = ExecRun(mode, inflight, plan.duration)
    loop = asyncio.get_running_loop()
    window = Window()
    stats = Stats(window)
    done: asyncio.Future[None] = loop.create_future()
    pending: dict[str, float] = {}
    prefix = uuid.uuid4().hex[:16]
    seq = 0
    conn = _conn(mode, t)

    def send_one() -> None:
        nonlocal seq
        seq += 1
        rid = f"{prefix}-{seq}"
        pending[rid] = time.monotonic()
        conn.send(conn.exec_message(rid, "true", stream=False))

    def on_reply(r: Reply) -> None:
        sent = pending.pop(r.id, None) if r.id is not None else None
        if sent is None:
            return
        now = time.monotonic()
        stats.record(sent, now)
        if r.event != "project_exec_output" or r.exit_code != 0:
            stats.fail(f"{r.event}: {r.error}"[:200])
        if now < window.end and seq < MAX_CALLS_PER_RUN:
            send_one()
        elif not pending and not done.done():
            done.set_result(None)

    def on_lost(f: asyncio.Future[None]) -> None:
        if not f.cancelled():
            f.exception()  # retrieved, so a closed link is not logged as unhandled
        if not done.done():
            done.set_exception(ConnectionError(f"{mode}: the connection closed"))

    marks: list[_Mark] = []
    timers: list[asyncio.Future[None]] = []

    async def mark_at(at: float) -> None:
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        marks.append(_mark(t))

    try:
        await conn.open(on_reply)
        conn.lost.add_done_callback(on_lost)
        window.start = time.monotonic() + plan.warmup
        window.end = window.start + plan.duration
        timers += [asyncio.ensure_future(mark_at(at)) for at in (window.start, window.end)]
        for _ in range(inflight):
            send_one()
        await wait_all([done], window)
        await asyncio.gather(*timers)
    except Exception as e:
        res.errors.append(f"{type(e).__name__}: {e}"[:300])
    finally:
        for timer in timers:
            timer.cancel()
        conn.close()
    if stats.first_failure:
        res.errors.append(f"{stats.failed} failed, first: {stats.first_failure}")
    lat = sorted(stats.latencies)
    res.calls = stats.count
    res.rate = stats.count / plan.duration if not res.errors else 0.0
    res.p50_ms = percentile(lat, 0.50) * 1e3
    res.p99_ms = percentile(lat, 0.99) * 1e3
    if len(marks) == 2:
        res.cpu = _cpu_between(marks[0], marks[1])
    return res


def stream_command(nbytes: int) -> str:
    """``nbytes`` of ``x`` written in 64 KiB blocks (``dd``), so the daemon reads full chunks."""
    return f"head -c {nbytes} /dev/zero | tr '\\0' x | dd bs=64K iflag=fullblock status=none"


async def _stream_run(mode: str, t: Target, nbytes: int) -> StreamRun:
    """One command writing ``nbytes`` of ``x`` with ``stream: true``; count stdout until the end."""
    res = StreamRun(mode, nbytes)
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Reply] = loop.create_future()
    rid = str(uuid.uuid4())
    conn = _conn(mode, t)

    def on_reply(r: Reply) -> None:
        if r.id != rid or done.done():
            return
        res.messages += 1
        res.received += len(r.stdout)
        if not r.multi_response:
            done.set_result(r)

    def on_lost(f: asyncio.Future[None]) -> None:
        if not f.cancelled():
            f.exception()  # retrieved, so a closed link is not logged as unhandled
        if not done.done():
            done.set_exception(ConnectionError(f"{mode}: the connection closed"))

    try:
        await conn.open(on_reply)
        conn.lost.add_done_callback(on_lost)
        a = _mark(t)
        t0 = time.monotonic()
        conn.send(conn.exec_message(rid, stream_command(nbytes), stream=True))
        async with asyncio.timeout(STREAM_TIMEOUT_S + 10):
            final = await done
        res.seconds = time.monotonic() - t0
        res.cpu = _cpu_between(a, _mark(t))
        if final.event != "project_exec_output" or final.exit_code != 0:
            res.errors.append(f"final reply {final.event}: {final.error}"[:300])
        elif res.received != nbytes:
            res.errors.append(f"received {res.received} of {nbytes} bytes")
    except Exception as e:
        res.errors.append(f"{type(e).__name__}: {e}"[:300])
    finally:
        conn.close()
    return res


# -- the hub and its project -------------------------------------------------------------


def _kill_marked(marker: str) -> None:
    """SIGTERM processes whose command line mentions ``marker`` (our own temporary data dir).

    Only what our hub started there can match: the project daemon (``--home
    <data-dir>/projects/…``) and an embedded PostgreSQL left by a hub that was killed.
    """
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if marker.encode() in cmdline:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry), signal.SIGTERM)


def _stop_pid(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM ``pid`` (not our child), wait for it to go, SIGKILL after ``timeout``."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists():
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


async def _make_project(ws_url: str, creds: HubCredentials) -> str:
    headers = {"Cookie": creds.cookie_header}
    async with ws_connect(
        ws_url, compression=None, open_timeout=TIMEOUT, additional_headers=headers
    ) as ws:
        created = (await _call(ws, "create_project", title="bench", description="relay"))[-1]
        if created.get("event") != "project_created":
            raise RuntimeError(f"create_project: {created}")
        project_id = str(created["project_id"])
        # starts the project's local hub
        first = (await _call(ws, "project_exec", project_id=project_id, command="true"))[-1]
        if first.get("event") != "project_exec_output":
            raise RuntimeError(f"first project_exec: {first}")
    return project_id


def _read_small(path: Path, deadline: float) -> str:
    while True:
        try:
            text = path.read_text().strip()
            if text:
                return text
        except FileNotFoundError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{path} did not appear")
        time.sleep(0.05)


@contextlib.contextmanager
def hub_with_project(workdir: Path) -> Iterator[Target]:
    """Start a hub, make an account and a project; yield both ends; stop everything."""
    data = workdir / "relay-hub-data"
    data.mkdir()
    port = free_port()
    argv = [str(VENV_BIN / "hub"), "serve", "--host", HOST, "--port", str(port)]
    argv += ["--data-dir", str(data)]
    # the relay's own speed is measured: the per-stream output rate limit (1 MB/s by
    # default, which a 64 MiB stream would hit at once) is turned off
    argv += ["--stream-max-bytes-per-s", "0", "--stream-max-messages-per-s", "0"]
    # and so is the per-connection message pace (16 calls in flight on one connection)
    argv += ["--ws-max-messages-per-s", "0"]
    daemon_pid: int | None = None
    try:
        with run_server("hub", argv, port, workdir / "relay-hub.log", ready_timeout=180) as hub:
            ws_url = hub.ws_url
            creds = uvloop.run(setup_account(ws_url))
            project_id = uvloop.run(_make_project(ws_url, creds))
            smc = data / "projects" / project_id / ".smc"
            deadline = time.monotonic() + 20
            daemon_pid = int(_read_small(smc / "local-hub.pid", deadline))
            pm = data / "postgres" / "postmaster.pid"
            postmaster = int(pm.read_text().split()[0]) if pm.exists() else None
            yield Target(
                hub_port=port,
                hub_pid=hub.pid,
                cookie=creds.cookie_header,
                project_id=project_id,
                daemon_port=int(_read_small(smc / "hub-server.port", deadline)),
                daemon_token=_read_small(smc / "secret_token", deadline),
                daemon_pid=daemon_pid,
                postmaster_pid=postmaster,
            )
    finally:
        # The hub starts project daemons detached (setsid) and leaves them running when it
        # stops; stop ours by its pid, then anything else left under our data dir.
        if daemon_pid is not None:
            _stop_pid(daemon_pid)
        _kill_marked(str(data))


# -- running -------------------------------------------------------------------------------


def _settle(plan: RelayPlan) -> None:
    budget = min(plan.quiet_wait, plan.quiet_budget - plan.quiet_spent)
    t0 = time.monotonic()
    load = wait_quiet(max(0.0, budget))
    plan.quiet_spent += time.monotonic() - t0
    if load >= NOISY:
        _say(f"  (machine busy: {load:.0%} of a core used by others before this run)")


def _fmt_cpu(cpu: dict[str, float], per: float, unit: str, digits: int = 0) -> str:
    if not cpu or not per:
        return ""
    return "  cpu " + " ".join(f"{k} {cpu[k] / per:.{digits}f}" for k in PARTS) + f" {unit}"


def format_exec(r: ExecRun) -> str:
    err = f"  ERRORS: {'; '.join(r.errors)}" if r.errors else ""
    per = r.calls or 0
    return (
        f"{r.mode:>6} in flight {r.inflight:>2}: {r.rate:>7,.0f} calls/s  p50 {r.p50_ms:.2f} ms  "
        f"p99 {r.p99_ms:.2f} ms{_fmt_cpu({k: v * 1e6 for k, v in r.cpu.items()}, per, 'µs/call')}"
        f"{err}"
    )


def format_stream(r: StreamRun) -> str:
    err = f"  ERRORS: {'; '.join(r.errors)}" if r.errors else ""
    mib = r.received / 2**20
    cpu = _fmt_cpu({k: v * 1e3 for k, v in r.cpu.items()}, mib, "ms/MiB", 1)
    return (
        f"{r.mode:>6} stream: {r.mb_s:>7,.1f} MB/s  {r.received / 1e6:.1f} MB in "
        f"{r.seconds:.2f} s, {r.messages} messages{cpu}{err}"
    )


def _ordered(i: int) -> tuple[str, ...]:
    return MODES if i % 2 == 0 else MODES[::-1]


def measure(plan: RelayPlan, workdir: Path) -> RelayResults:
    """Start a hub with a project and run every measurement; the hub is stopped after."""
    res = RelayResults(plan)
    _say("== project relay (hub and its project's local hub)")
    t0 = time.monotonic()
    try:
        with hub_with_project(workdir) as t:
            _say(
                f"  ready in {time.monotonic() - t0:.1f} s (hub pid {t.hub_pid}, project "
                f"{t.project_id}, local hub pid {t.daemon_pid} port {t.daemon_port})"
            )
            for c in plan.inflight:
                for i in range(plan.runs):
                    for mode in _ordered(i):
                        _settle(plan)
                        r = uvloop.run(_exec_run(mode, t, c, plan))
                        _say(f"  exec run {i + 1}/{plan.runs} {format_exec(r)}")
                        res.execs.setdefault((mode, c), []).append(r)
            for i in range(plan.stream_runs):
                for mode in _ordered(i):
                    _settle(plan)
                    s = uvloop.run(_stream_run(mode, t, plan.stream_bytes))
                    _say(f"  stream run {i + 1}/{plan.stream_runs} {format_stream(s)}")
                    res.streams.setdefault(mode, []).append(s)
    except Exception as e:  # keep whatever was measured
        res.error = f"{type(e).__name__}: {e}"[:2000]
        _say(f"  project relay failed: {res.error}")
    return res


# -- report -----------------------------------------------------------------------------


def _median(values: list[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def _rate(rs: list[ExecRun] | None) -> float | None:
    if not rs or any(r.errors for r in rs):
        return None
    return _median([r.rate for r in rs])


def _median_run(rs: list[ExecRun]) -> ExecRun:
    return sorted(rs, key=lambda r: r.rate)[(len(rs) - 1) // 2]


def _mbs(ss: list[StreamRun] | None) -> float | None:
    if not ss or any(s.errors for s in ss):
        return None
    return _median([s.mb_s for s in ss])


def _cpu_per(runs: list[Any], count: Callable[[Any], float], scale: float) -> dict[str, float]:
    """Median CPU per unit of work, by part (client, hub, daemon, postgres, other)."""
    out: dict[str, float] = {}
    for part in PARTS:
        vals = [r.cpu[part] / count(r) * scale for r in runs if r.cpu and count(r)]
        if vals:
            out[part] = float(statistics.median(vals))
    return out


def _cpu_pooled(streams: list[StreamRun]) -> dict[str, float]:
    """CPU ms per MiB over all runs together: one 64 MiB run lasts about as long as a few
    clock ticks, so per-run figures are coarse and their sum is not."""
    mib = sum(s.received for s in streams if s.cpu) / 2**20
    if not mib:
        return {}
    return {p: sum(s.cpu[p] for s in streams if s.cpu) / mib * 1e3 for p in PARTS}


def _ok(flag: bool | None) -> str:
    return "—" if flag is None else ("**met**" if flag else "**MISSED**")


def _ratio(num: float | None, den: float | None) -> str:
    return f"{num / den:.2f}x" if num and den else "—"


def _cpu_cell(cpu: dict[str, float], fmt: str) -> str:
    if not cpu:
        return "—"
    total = sum(cpu.values())
    return " / ".join(format(cpu.get(p, 0.0), fmt) for p in PARTS) + f" (Σ {total:{fmt}})"


def _noisy(runs: list[Any]) -> int:
    return sum(1 for r in runs if r.cpu and r.cpu.get("other", 0.0) > NOISY * _span(r))


def _span(r: Any) -> float:
    return float(r.duration) if isinstance(r, ExecRun) else float(r.seconds)


def build_table(res: RelayResults) -> tuple[str, list[str]]:
    rows = [
        "| measure | direct (link) | relay (hub, WebSocket) | relay ÷ direct | target |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    verdicts: list[str] = []
    parts = " / ".join(PARTS)
    for c in res.plan.inflight:
        d, r = res.execs.get(("direct", c)), res.execs.get(("relay", c))
        rd, rr = _rate(d), _rate(r)
        met = None if rd is None or rr is None else rr >= TARGET * rd
        verdicts.append(
            f"`project_exec true` round trips/s with {c} in flight, relay ≥ {TARGET}x direct: "
            f"{_ok(met)} ({_ratio(rr, rd)})"
        )

        def cell(rs: list[ExecRun] | None) -> str:
            if not rs:
                return "—"
            if any(x.errors for x in rs):
                return "error"
            return f"{_rate(rs):,.0f}"

        def lat(rs: list[ExecRun] | None) -> str:
            if not rs or any(x.errors for x in rs):
                return "—"
            m = _median_run(rs)
            return f"{m.p50_ms:.2f} / {m.p99_ms:.2f}"

        rows.append(
            f"| `project_exec true` round trips/s, {c} in flight | {cell(d)} | {cell(r)} "
            f"| {_ratio(rr, rd)} | ≥ {TARGET}x {_ok(met)} |"
        )
        rows.append(f"| latency p50 / p99 ms, {c} in flight | {lat(d)} | {lat(r)} | | |")
        cd = _cpu_per(d or [], lambda x: x.calls, 1e6)
        cr = _cpu_per(r or [], lambda x: x.calls, 1e6)
        rows.append(
            f"| CPU µs per call ({parts}), {c} in flight "
            f"| {_cpu_cell(cd, '.0f')} | {_cpu_cell(cr, '.0f')} "
            f"| {_ratio(sum(cr.values()), sum(cd.values()))} | |"
        )
    sd, sr = res.streams.get("direct"), res.streams.get("relay")
    md, mr = _mbs(sd), _mbs(sr)
    met = None if md is None or mr is None else mr >= TARGET * md
    verdicts.append(
        f"streamed output MB/s, relay ≥ {TARGET}x direct: {_ok(met)} ({_ratio(mr, md)})"
    )
    mib = res.plan.stream_bytes / 2**20

    def scell(ss: list[StreamRun] | None, v: float | None) -> str:
        if not ss:
            return "—"
        return "error" if v is None else f"{v:,.1f}"

    rows.append(
        f"| streamed stdout MB/s ({mib:g} MiB, ≤ 64 KiB chunks) | {scell(sd, md)} "
        f"| {scell(sr, mr)} | {_ratio(mr, md)} | ≥ {TARGET}x {_ok(met)} |"
    )
    csd, csr = _cpu_pooled(sd or []), _cpu_pooled(sr or [])
    rows.append(
        f"| CPU ms per MiB streamed ({parts}) | {_cpu_cell(csd, '.1f')} "
        f"| {_cpu_cell(csr, '.1f')} | {_ratio(sum(csr.values()), sum(csd.values()))} | |"
    )
    return "\n".join(rows), verdicts


def _details(res: RelayResults) -> str:
    lines = []
    if res.error:
        lines.append(f"- not (fully) measured: {res.error}")
    for (mode, c), rs in res.execs.items():
        for i, r in enumerate(rs, 1):
            lines.append(f"- exec {mode}, {c} in flight, run {i}: {format_exec(r).strip()}")
    for mode, ss in res.streams.items():
        for i, s in enumerate(ss, 1):
            lines.append(f"- stream {mode}, run {i}: {format_stream(s).strip()}")
    return "\n".join(lines)


def section(res: RelayResults, heading: str = "###") -> str:
    """The Markdown for RESULTS.md: method, table, verdicts and every run."""
    table, verdicts = build_table(res)
    p = res.plan
    runs = [r for rs in res.execs.values() for r in rs] + [
        s for ss in res.streams.values() for s in ss
    ]
    noisy = _noisy(runs)
    noise = (
        f" **{noisy} of {len(runs)} runs shared the machine with other work** (other load "
        f"above {NOISY:.0%} of a core; see the runs)."
        if noisy
        else f" No run saw other load above {NOISY:.0%} of a core."
    )
    return "\n".join(
        [
            f"{heading} Project relay: hub ⇄ local hub against a direct link (issue 3)",
            "",
            "One hub with one project; the project's local hub is driven directly over a "
            "second link (`hub.local_hub.link.Link`) and through the hub over a WebSocket "
            "(`bench.rawws`, cookie sign-in), alternately, in the same run. Nothing pinned; "
            "client = this benchmark process. `project_exec` rows: median of "
            f"{p.runs} run(s) of {p.duration:g} s after {p.warmup:g} s warm-up, all calls on "
            f"one connection; CPU per call is the median over the runs. Stream rows: median "
            f"of {p.stream_runs} run(s) of `{stream_command(p.stream_bytes)}` with "
            "`stream: true` (relay: `local_hub` with `multi_response`), from the request to "
            "the final reply; CPU per MiB is over all those runs together. CPU columns: the "
            "client, the hub, the daemon with the commands it ran (reaped children), "
            "PostgreSQL (postmaster and backends), everything else on the machine." + noise,
            "",
            table,
            "",
            *[f"- {v}" for v in verdicts],
            "",
            "<details><summary>every relay run</summary>",
            "",
            _details(res),
            "",
            "</details>",
            "",
        ]
    )


def report(res: RelayResults, quick: bool, command: str, elapsed: float) -> str:
    return "\n".join([*results_header("project relay", quick, command, elapsed), section(res)])


def plan_from(quick: bool, runs: int | None, duration: float | None) -> RelayPlan:
    plan = dataclasses.replace(QUICK if quick else FULL)
    if runs:
        plan.runs = max(1, min(runs, 9))
    if duration:
        plan.duration = max(0.5, min(duration, 30.0))
    return plan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="~30 s smoke run")
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    parser.add_argument("--runs", type=int, help="runs per figure (median taken)")
    parser.add_argument("--duration", type=float, help="counted seconds per exec run")
    parser.add_argument("--stream-mib", type=int, help="MiB the streaming command writes")
    parser.add_argument("--json", action="store_true", help="also print every run as JSON")
    args = parser.parse_args(argv)
    plan = plan_from(args.quick, args.runs, args.duration)
    if args.stream_mib:
        plan.stream_bytes = max(1, min(args.stream_mib, 1024)) * 2**20
    command = shlex.join(["python", "-m", "bench.project_relay", *(argv or sys.argv[1:])])
    t0 = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="hub-bench-relay-"))
    try:
        res = measure(plan, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        for rs in res.execs.values():
            for r in rs:
                print(json.dumps(dataclasses.asdict(r)))
        for ss in res.streams.values():
            for s in ss:
                print(json.dumps(dataclasses.asdict(s)))
    text = report(res, args.quick, command, time.monotonic() - t0)
    _say("\n" + text)
    if not args.no_record:
        append_results(text)
    return 0 if not res.error else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted: hub and project stopped, nothing recorded", file=sys.stderr)
        sys.exit(130)
