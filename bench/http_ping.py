"""HTTP ``POST /api/v1/ping`` requests/s with keep-alive connections.

``python -m bench.http_ping --url http://127.0.0.1:N [-c 16] [-d 5] [--api-key sk_…]``

``-c`` connections (16 by default) each send one request at a time over one
kept-alive HTTP/1.1 connection, body ``{}`` (``Content-Type:
application/json``), and with ``--api-key`` the key as the basic-auth user name
(``curl -u sk_…:``). A response counts when it is a 200 whose JSON body has
``"event":"pong"``; anything else is a failure and marks the run invalid. The
client is a minimal HTTP/1.1 client on an asyncio ``Protocol`` (Content-Length
and chunked bodies), the cheapest per request; ``--client aiohttp`` uses
aiohttp's ``ClientSession`` instead for comparison. Timing, warm-up and the
process split work as in ``bench.load``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import cast
from urllib.parse import urlsplit

import msgspec

from bench.common import percentile
from bench.load import check_loopback, parse_cpus
from bench.workers import Go, Stats, Window, run_workers, split, wait_all

MAX_REQUESTS_PER_CONN = 5_000_000
MAX_RESPONSE = 16 * 2**20
CLIENTS = ("raw", "aiohttp")
PATH = "/api/v1/ping"
BODY = b"{}"


class _Reply(msgspec.Struct):
    event: str = ""


_decoder = msgspec.json.Decoder(_Reply)


@dataclass
class HttpResult:
    url: str
    client: str
    connections: int
    processes: int
    with_key: bool
    duration: float
    requests: int
    rate: float
    p50_ms: float
    p99_ms: float
    server_cpu: float | None = None
    other_cpu: float | None = None  # the rest of the machine, in cores
    client_cpu: float = 0.0
    errors: list[str] = field(default_factory=list)


@dataclass
class JobArgs:
    url: str
    client: str
    connections: int
    api_key: str | None


def request_bytes(host: str, port: int, api_key: str | None) -> bytes:
    lines = [
        f"POST {PATH} HTTP/1.1",
        f"Host: {host}:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(BODY)}",
    ]
    if api_key:
        lines.append(f"Authorization: {basic_auth(api_key)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + BODY


def basic_auth(api_key: str) -> str:
    return "Basic " + base64.b64encode(f"{api_key}:".encode()).decode()


class _HTTPConn(asyncio.Protocol):
    """Keep-alive HTTP/1.1: ``request()`` sends, ``on_response(status, body)`` answers."""

    def __init__(self, on_response: Callable[[int, bytes], None]) -> None:
        self.on_response = on_response
        self.transport: asyncio.Transport | None = None
        self._buf = b""
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)

    def data_received(self, data: bytes) -> None:
        buf = self._buf + data if self._buf else data
        while True:
            parsed = self._parse(buf)
            if parsed is None:
                break
            status, body, used = parsed
            buf = buf[used:]
            self.on_response(status, body)
        if len(buf) > MAX_RESPONSE:
            raise ValueError("response too large")
        self._buf = buf

    @staticmethod
    def _parse(buf: bytes) -> tuple[int, bytes, int] | None:
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = buf[:end].decode("latin-1")
        status = int(head[9:12])
        length = -1
        chunked = False
        for line in head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
        start = end + 4
        if not chunked:
            if length < 0:
                raise ValueError("response without Content-Length (connection: close?)")
            if len(buf) < start + length:
                return None
            return status, buf[start : start + length], start + length
        parts: list[bytes] = []
        pos = start
        while True:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                return None
            size = int(buf[pos:eol].split(b";")[0], 16)
            if len(buf) < eol + 2 + size + 2:
                return None
            if size == 0:
                # No trailers expected: the chunk is followed by the final CRLF.
                return status, b"".join(parts), eol + 4
            parts.append(buf[eol + 2 : eol + 2 + size])
            pos = eol + 2 + size + 2


class _RawDriver:
    __slots__ = ("conn", "done", "request", "sent", "seq", "stats")

    def __init__(self, stats: Stats, request: bytes, done: asyncio.Future[None]) -> None:
        self.stats = stats
        self.request = request
        self.done = done
        self.sent = 0.0
        self.seq = 0
        self.conn: _HTTPConn | None = None

    def send_next(self) -> None:
        self.seq += 1
        self.sent = time.monotonic()
        assert self.conn is not None and self.conn.transport is not None
        self.conn.transport.write(self.request)

    def on_response(self, status: int, body: bytes) -> None:
        if self.done.done():
            return
        now = time.monotonic()
        ok = status == 200 and _decoder.decode(body).event == "pong"
        if ok:
            self.stats.record(self.sent, now)
        elif self.stats.window.start <= now <= self.stats.window.end:
            self.stats.fail(f"{status} {body[:200].decode(errors='replace')}")
        if now < self.stats.window.end and self.seq < MAX_REQUESTS_PER_CONN:
            self.send_next()
        else:
            self.done.set_result(None)

    def on_lost(self, fut: asyncio.Future[None]) -> None:
        if not self.done.done():
            self.done.set_exception(ConnectionError("connection closed by the server"))


async def _job_raw(args: JobArgs, window: Window, go: Go) -> Stats:
    u = urlsplit(args.url)
    host, port = u.hostname or "127.0.0.1", u.port or 80
    request = request_bytes(host, port, args.api_key)
    stats = Stats(window)
    loop = asyncio.get_running_loop()
    drivers = [_RawDriver(stats, request, loop.create_future()) for _ in range(args.connections)]
    try:
        for d in drivers:
            async with asyncio.timeout(10.0):
                _, d.conn = await loop.create_connection(
                    lambda d=d: _HTTPConn(d.on_response),  # type: ignore[misc]
                    host,
                    port,
                )
            d.conn.lost.add_done_callback(d.on_lost)
        await go()
        for d in drivers:
            d.send_next()
        await wait_all([d.done for d in drivers], window)
    finally:
        for d in drivers:
            if d.conn is not None and d.conn.transport is not None:
                d.conn.transport.close()
    return stats


async def _job_aiohttp(args: JobArgs, window: Window, go: Go) -> Stats:
    import aiohttp

    stats = Stats(window)
    headers = {"Content-Type": "application/json"}
    if args.api_key:
        headers["Authorization"] = basic_auth(args.api_key)
    url = args.url.rstrip("/") + PATH
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=args.connections), headers=headers
    ) as session:

        async def one() -> None:
            for _ in range(MAX_REQUESTS_PER_CONN):
                sent = time.monotonic()
                async with session.post(url, data=BODY) as resp:
                    body = await resp.read()
                now = time.monotonic()
                if resp.status == 200 and _decoder.decode(body).event == "pong":
                    stats.record(sent, now)
                elif window.start <= now <= window.end:
                    stats.fail(f"{resp.status} {body[:200].decode(errors='replace')}")
                if now >= window.end:
                    return

        # Open the connections before the start (one request each, not counted).
        async with asyncio.timeout(30.0):
            await asyncio.gather(*(session.post(url, data=BODY) for _ in range(args.connections)))
        await go()
        await wait_all([asyncio.ensure_future(one()) for _ in range(args.connections)], window)
    return stats


_JOBS = {"raw": _job_raw, "aiohttp": _job_aiohttp}


def run_http(
    url: str,
    connections: int = 16,
    duration: float = 5.0,
    warmup: float = 1.0,
    processes: int = 1,
    client: str = "raw",
    api_key: str | None = None,
    server_pid: int | None = None,
    client_cpus: Sequence[int] | None = None,
) -> HttpResult:
    jobs = [JobArgs(url, client, n, api_key) for n in split(connections, processes)]
    agg = run_workers(_JOBS[client], jobs, warmup, duration, server_pid, client_cpus)
    return HttpResult(
        url=url,
        client=client,
        connections=connections,
        processes=agg.processes,
        with_key=api_key is not None,
        duration=duration,
        requests=agg.count,
        rate=agg.count / duration if not agg.errors else 0.0,
        p50_ms=percentile(agg.latencies, 0.5) * 1e3,
        p99_ms=percentile(agg.latencies, 0.99) * 1e3,
        server_cpu=agg.server_cpu,
        other_cpu=agg.other_cpu,
        client_cpu=agg.client_cpu,
        errors=agg.errors,
    )


def format_result(r: HttpResult) -> str:
    cpu = f"  server cpu {r.server_cpu:.0%}" if r.server_cpu is not None else ""
    other = f"  other {r.other_cpu:.0%}" if r.other_cpu is not None else ""
    err = f"  ERRORS: {'; '.join(r.errors)}" if r.errors else ""
    key = "with key" if r.with_key else "no key"
    return (
        f"{r.connections:>3} conns {key:8} ({r.client})  {r.rate:>8,.0f} req/s  "
        f"p50 {r.p50_ms:.3f} ms  p99 {r.p99_ms:.3f} ms{cpu}  "
        f"client cpu {r.client_cpu:.0%}{other}{err}"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="http://127.0.0.1:PORT")
    parser.add_argument("-c", "--connections", type=int, default=16)
    parser.add_argument("-d", "--duration", type=float, default=5.0)
    parser.add_argument("-w", "--warmup", type=float, default=1.0)
    parser.add_argument("-p", "--processes", type=int, default=1)
    parser.add_argument("--client", choices=CLIENTS, default="raw")
    parser.add_argument("--api-key", help="sk_… sent as the basic-auth user name")
    parser.add_argument("--server-pid", type=int)
    parser.add_argument("--client-cpus")
    parser.add_argument("--runs", type=int, default=1, help="repeat (at most 20)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    check_loopback(args.url)
    for _ in range(max(1, min(args.runs, 20))):
        r = run_http(
            args.url,
            args.connections,
            args.duration,
            args.warmup,
            args.processes,
            args.client,
            args.api_key,
            args.server_pid,
            parse_cpus(args.client_cpus),
        )
        print(json.dumps(asdict(r)) if args.json else format_result(r), flush=True)


if __name__ == "__main__":
    main()
