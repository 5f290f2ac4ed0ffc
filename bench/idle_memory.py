"""Server memory per idle WebSocket connection.

``python -m bench.idle_memory --url ws://127.0.0.1:N/hub --pid PID [-n 1000]
[--cookie remember_me=TOKEN]``

Opens ``WARM`` connections first (so first-use allocations are not counted),
reads the server's VmRSS from /proc/PID/status, opens N more (``bench.rawws``,
at most ``CONNECT_CONCURRENCY`` at a time), waits ``--settle`` seconds, reads
VmRSS again and reports (after - before) / N. With ``--cookie`` each
connection carries it and must receive a pushed ``signed_in`` (the hub signs it
in at connect) before it counts as open; a ``remember_me_failed`` aborts the
run. All connections are closed in ``finally``; the RSS a while after closing
is reported too, to show what the server gives back.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

import msgspec

from bench.common import raise_nofile_limit, rss_kib
from bench.load import check_loopback
from bench.rawws import WSClient, connect

WARM = 20
CONNECT_CONCURRENCY = 50
OPEN_DEADLINE = 180.0


class _Event(msgspec.Struct):
    event: str = ""
    reason: str | None = None


_decoder = msgspec.json.Decoder(_Event)


@dataclass
class MemoryResult:
    url: str
    connections: int
    signed_in: bool
    rss_before_kib: int
    rss_after_kib: int
    rss_closed_kib: int
    per_conn_kib: float
    open_seconds: float


class _SignedIn:
    """Resolves when the first ``signed_in`` arrives; fails on ``remember_me_failed``."""

    def __init__(self) -> None:
        self.fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_message(self, payload: bytes, is_text: bool) -> None:
        if self.fut.done() or not is_text:
            return
        try:
            msg = _decoder.decode(payload)
        except msgspec.DecodeError:
            return
        if msg.event == "signed_in":
            self.fut.set_result(None)
        elif msg.event == "remember_me_failed":
            self.fut.set_exception(RuntimeError(f"remember_me_failed: {msg.reason}"))


async def open_connections(
    url: str, n: int, headers: dict[str, str], wait_signed_in: bool, into: list[WSClient]
) -> None:
    """Open ``n`` connections into ``into`` (so the caller can close them on failure)."""
    u = urlsplit(url)
    host, port, path = u.hostname or "127.0.0.1", u.port or 80, u.path or "/"
    sem = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one() -> None:
        async with sem:
            watcher = _SignedIn()
            conn = await connect(host, port, path, headers, watcher.on_message)
            into.append(conn)
            if wait_signed_in:
                async with asyncio.timeout(30.0):
                    await watcher.fut

    async with asyncio.timeout(OPEN_DEADLINE):
        await asyncio.gather(*(one() for _ in range(n)))


async def measure(
    url: str, pid: int, n: int = 1000, cookie: str | None = None, settle: float = 2.0
) -> MemoryResult:
    raise_nofile_limit()
    headers = {"Cookie": cookie} if cookie else {}
    conns: list[WSClient] = []
    try:
        await open_connections(url, WARM, headers, cookie is not None, conns)
        await asyncio.sleep(settle)
        before = rss_kib(pid)
        t0 = time.monotonic()
        await open_connections(url, n, headers, cookie is not None, conns)
        opened = time.monotonic() - t0
        await asyncio.sleep(settle)
        after = rss_kib(pid)
    finally:
        for c in conns:
            c.close()
    await asyncio.sleep(settle)
    closed = rss_kib(pid)
    return MemoryResult(
        url=url,
        connections=n,
        signed_in=cookie is not None,
        rss_before_kib=before,
        rss_after_kib=after,
        rss_closed_kib=closed,
        per_conn_kib=(after - before) / n,
        open_seconds=opened,
    )


def format_result(r: MemoryResult) -> str:
    kind = "signed-in" if r.signed_in else "plain"
    return (
        f"{r.connections} {kind} idle connections: RSS {r.rss_before_kib / 1024:.1f} -> "
        f"{r.rss_after_kib / 1024:.1f} MiB = {r.per_conn_kib:.1f} KiB/conn "
        f"(opened in {r.open_seconds:.2f} s; {r.rss_closed_kib / 1024:.1f} MiB after closing)"
    )


def main(argv: Sequence[str] | None = None) -> None:
    import uvloop

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="ws://127.0.0.1:PORT/hub")
    parser.add_argument("--pid", type=int, required=True, help="server process id")
    parser.add_argument("-n", "--connections", type=int, default=1000)
    parser.add_argument("--cookie", help="Cookie header, e.g. remember_me=TOKEN (hub)")
    parser.add_argument("--settle", type=float, default=2.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    check_loopback(args.url)
    r = uvloop.run(measure(args.url, args.pid, args.connections, args.cookie, args.settle))
    print(json.dumps(asdict(r)) if args.json else format_result(r))


if __name__ == "__main__":
    main()
