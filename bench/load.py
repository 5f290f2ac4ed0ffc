"""WebSocket ping load: C connections, each doing sequential ping round trips.

``python -m bench.load --url ws://127.0.0.1:N/hub -c 100 -d 5``

Each connection sends ``{"event":"ping","id":"<uuid>"}``, waits for the reply
carrying that id (other messages, such as a ``signed_in`` pushed at connect,
are skipped), and sends the next one: one request in flight per connection.
All connections are opened first; then every client process starts at the
same moment, runs ``--warmup`` seconds uncounted and ``--duration`` seconds
counted (``bench.workers``). Round trips completed inside the counted window
give the rate; their latencies give p50 and p99. Each connection also stops
after ``MAX_ROUND_TRIPS_PER_CONN``, and a run whose server stops answering is
cancelled ``STALL_GRACE`` seconds after its window.

The client can run in several processes (``--processes``) and be pinned to
CPUs (``--client-cpus``); with ``--server-pid`` the server's CPU use during the
window is reported, which says whether the server (near 100 % of one core) or
the client was the limit. Three client implementations (``--client``): ``raw``
(``bench.rawws``, the default, cheapest per round trip), ``aiohttp`` and
``websockets``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

import msgspec

from bench.common import percentile
from bench.workers import Go, Stats, Window, run_workers, split, wait_all

MAX_ROUND_TRIPS_PER_CONN = 5_000_000
CONNECT_CONCURRENCY = 50
CLIENTS = ("raw", "aiohttp", "websockets")


class Reply(msgspec.Struct):
    id: str | None = None
    event: str = ""


_reply_decoder = msgspec.json.Decoder(Reply)


@dataclass
class LoadResult:
    url: str
    client: str
    connections: int
    processes: int
    warmup: float
    duration: float
    round_trips: int
    rate: float
    p50_ms: float
    p99_ms: float
    server_cpu: float | None = None  # fraction of one core during the window
    other_cpu: float | None = None  # the rest of the machine, in cores
    client_cpu: float = 0.0  # sum over client processes, fraction of one core
    client_cpus: list[int] | None = None
    errors: list[str] = field(default_factory=list)


@dataclass
class JobArgs:
    url: str
    client: str
    connections: int
    headers: dict[str, str]


def _id_prefix() -> str:
    # The 8-4-4-4- groups of a random uuid; the last group is the sequence number.
    return str(uuid.uuid4())[:24]


def _ping(prefix: str, seq: int) -> tuple[str, bytes]:
    rid = f"{prefix}{seq:012x}"
    return rid, b'{"event":"ping","id":"' + rid.encode() + b'"}'


# -- raw client: callback driven, no task per connection ---------------------


class _RawDriver:
    __slots__ = ("conn", "done", "expect", "prefix", "sent", "seq", "stats")

    def __init__(self, stats: Stats, done: asyncio.Future[None]) -> None:
        from bench.rawws import WSClient

        self.stats = stats
        self.done = done
        self.prefix = _id_prefix()
        self.seq = 0
        self.expect = ""
        self.sent = 0.0
        self.conn: WSClient | None = None

    def send_next(self) -> None:
        self.seq += 1
        self.expect, frame = _ping(self.prefix, self.seq)
        self.sent = time.monotonic()
        assert self.conn is not None
        self.conn.send_text(frame)

    def on_message(self, payload: bytes, is_text: bool) -> None:
        if self.done.done():
            return
        try:
            reply = _reply_decoder.decode(payload)
        except msgspec.DecodeError:
            return
        if reply.id != self.expect:
            return
        now = time.monotonic()
        self.stats.record(self.sent, now)
        if reply.event != "pong":
            self.stats.fail(payload[:200].decode(errors="replace"))
        if now < self.stats.window.end and self.seq < MAX_ROUND_TRIPS_PER_CONN:
            self.send_next()
        else:
            self.done.set_result(None)

    def on_lost(self, fut: asyncio.Future[None]) -> None:
        if not self.done.done():
            self.done.set_exception(ConnectionError("connection closed by the server"))


async def _job_raw(args: JobArgs, window: Window, go: Go) -> Stats:
    from bench.rawws import WSClient, connect

    u = urlsplit(args.url)
    host, port = u.hostname or "127.0.0.1", u.port or 80
    stats = Stats(window)
    loop = asyncio.get_running_loop()
    drivers = [_RawDriver(stats, loop.create_future()) for _ in range(args.connections)]
    sem = asyncio.Semaphore(CONNECT_CONCURRENCY)
    conns: list[WSClient] = []

    async def open_one(d: _RawDriver) -> None:
        async with sem:
            d.conn = await connect(host, port, u.path or "/", args.headers, d.on_message)
            conns.append(d.conn)
            d.conn.closed.add_done_callback(d.on_lost)

    try:
        await asyncio.gather(*(open_one(d) for d in drivers))
        await go()
        for d in drivers:
            d.send_next()
        await wait_all([d.done for d in drivers], window)
    finally:
        for c in conns:
            c.close()
    return stats


# -- aiohttp and websockets clients: one task per connection ------------------


async def _job_aiohttp(args: JobArgs, window: Window, go: Go) -> Stats:
    import aiohttp

    stats = Stats(window)
    sem = asyncio.Semaphore(CONNECT_CONCURRENCY)
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0), headers=args.headers
    ) as session:
        wss: list[aiohttp.ClientWebSocketResponse] = []

        async def open_one() -> None:
            async with sem:
                wss.append(await session.ws_connect(args.url, compress=0, max_msg_size=0))

        async def loop_one(ws: aiohttp.ClientWebSocketResponse) -> None:
            prefix = _id_prefix()
            for seq in range(1, MAX_ROUND_TRIPS_PER_CONN + 1):
                rid, frame = _ping(prefix, seq)
                sent = time.monotonic()
                await ws.send_str(frame.decode())
                while True:
                    msg = await ws.receive()
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        raise ConnectionError(f"unexpected {msg.type!r}")
                    if _reply_decoder.decode(msg.data).id == rid:
                        break
                now = time.monotonic()
                stats.record(sent, now)
                if now >= window.end:
                    return

        try:
            await asyncio.gather(*(open_one() for _ in range(args.connections)))
            await go()
            await wait_all([asyncio.ensure_future(loop_one(ws)) for ws in wss], window)
        finally:
            for ws in wss:
                await ws.close()
    return stats


async def _job_websockets(args: JobArgs, window: Window, go: Go) -> Stats:
    from websockets.asyncio.client import ClientConnection, connect

    stats = Stats(window)
    sem = asyncio.Semaphore(CONNECT_CONCURRENCY)
    wss: list[ClientConnection] = []

    async def open_one() -> None:
        async with sem:
            ws = await connect(
                args.url, compression=None, additional_headers=args.headers, max_size=None
            )
            wss.append(ws)

    async def loop_one(ws: ClientConnection) -> None:
        prefix = _id_prefix()
        for seq in range(1, MAX_ROUND_TRIPS_PER_CONN + 1):
            rid, frame = _ping(prefix, seq)
            sent = time.monotonic()
            await ws.send(frame, text=True)
            while _reply_decoder.decode(await ws.recv(decode=False)).id != rid:
                pass
            now = time.monotonic()
            stats.record(sent, now)
            if now >= window.end:
                return

    try:
        await asyncio.gather(*(open_one() for _ in range(args.connections)))
        await go()
        await wait_all([asyncio.ensure_future(loop_one(ws)) for ws in wss], window)
    finally:
        for ws in wss:
            await ws.close()
    return stats


_JOBS = {"raw": _job_raw, "aiohttp": _job_aiohttp, "websockets": _job_websockets}


def run_load(
    url: str,
    connections: int,
    duration: float = 5.0,
    warmup: float = 1.0,
    processes: int = 1,
    client: str = "raw",
    headers: dict[str, str] | None = None,
    server_pid: int | None = None,
    client_cpus: Sequence[int] | None = None,
) -> LoadResult:
    """Run one measurement and return its result (blocking; spawns client processes)."""
    if client not in _JOBS:
        raise ValueError(f"client must be one of {CLIENTS}")
    jobs = [JobArgs(url, client, n, dict(headers or {})) for n in split(connections, processes)]
    agg = run_workers(_JOBS[client], jobs, warmup, duration, server_pid, client_cpus)
    return LoadResult(
        url=url,
        client=client,
        connections=connections,
        processes=agg.processes,
        warmup=warmup,
        duration=duration,
        round_trips=agg.count,
        rate=agg.count / duration if not agg.errors else 0.0,
        p50_ms=percentile(agg.latencies, 0.50) * 1e3,
        p99_ms=percentile(agg.latencies, 0.99) * 1e3,
        server_cpu=agg.server_cpu,
        other_cpu=agg.other_cpu,
        client_cpu=agg.client_cpu,
        client_cpus=list(client_cpus) if client_cpus else None,
        errors=agg.errors,
    )


def format_result(r: LoadResult) -> str:
    cpu = f"  server cpu {r.server_cpu:.0%}" if r.server_cpu is not None else ""
    other = f"  other {r.other_cpu:.0%}" if r.other_cpu is not None else ""
    err = f"  ERRORS: {'; '.join(r.errors)}" if r.errors else ""
    return (
        f"{r.connections:>5} conns  {r.processes} proc ({r.client})  {r.rate:>9,.0f} rt/s  "
        f"p50 {r.p50_ms:.3f} ms  p99 {r.p99_ms:.3f} ms{cpu}  "
        f"client cpu {r.client_cpu:.0%}{other}{err}"
    )


def parse_cpus(s: str | None) -> list[int] | None:
    return [int(x) for x in s.split(",")] if s else None


def check_loopback(url: str) -> None:
    if urlsplit(url).hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("the benchmarks only target loopback addresses")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="ws://127.0.0.1:PORT/hub")
    parser.add_argument("-c", "--connections", type=int, default=100)
    parser.add_argument("-d", "--duration", type=float, default=5.0, help="counted seconds")
    parser.add_argument("-w", "--warmup", type=float, default=1.0, help="uncounted seconds")
    parser.add_argument("-p", "--processes", type=int, default=1, help="client processes")
    parser.add_argument("--client", choices=CLIENTS, default="raw")
    parser.add_argument("--cookie", help="Cookie header value, e.g. remember_me=TOKEN")
    parser.add_argument("--server-pid", type=int, help="report this process's CPU use")
    parser.add_argument("--client-cpus", help="pin client processes to these CPUs, e.g. 1")
    parser.add_argument("--runs", type=int, default=1, help="repeat (at most 20)")
    parser.add_argument("--json", action="store_true", help="print JSON lines")
    args = parser.parse_args(argv)
    check_loopback(args.url)
    headers = {"Cookie": args.cookie} if args.cookie else {}
    for _ in range(max(1, min(args.runs, 20))):
        r = run_load(
            args.url,
            args.connections,
            args.duration,
            args.warmup,
            args.processes,
            args.client,
            headers,
            args.server_pid,
            parse_cpus(args.client_cpus),
        )
        print(json.dumps(asdict(r)) if args.json else format_result(r), flush=True)


if __name__ == "__main__":
    main()
