"""Bare ``websockets`` (asyncio, uvloop) + msgspec echo server: the second baseline.

``python -m bench.echo_websockets --port N`` serves ``ws://127.0.0.1:N/hub`` with
the same ping/pong as ``bench.echo_aiohttp`` (same Structs, same codec), and
``GET /healthz`` through ``process_request`` so the runner can wait for it.
Compression is off, like the hub's default. There is no HTTP POST endpoint:
the ``websockets`` server cannot read a request body.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from http import HTTPStatus

import uvloop
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from bench.echo_aiohttp import reply_for


async def echo(ws: ServerConnection) -> None:
    async for data in ws:
        # reply_for returns bytes; text=True sends them as a text frame as-is.
        await ws.send(reply_for(data), text=True)


def health(conn: ServerConnection, request: Request) -> Response | None:
    if request.path == "/healthz":
        return conn.respond(HTTPStatus.OK, '{"status":"ok"}\n')
    return None


async def run(host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with serve(
        echo,
        host,
        port,
        compression=None,
        process_request=health,
        max_size=20 * 2**20,
        backlog=4096,
    ):
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args()
    uvloop.run(run(args.host, args.port))


if __name__ == "__main__":
    main()
