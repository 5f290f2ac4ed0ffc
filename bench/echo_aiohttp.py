"""Bare aiohttp + uvloop + msgspec echo server: the baseline the hub is measured against.

``python -m bench.echo_aiohttp --port N`` serves on 127.0.0.1:

- ``ws://127.0.0.1:N/hub``: each text frame ``{"event":"ping","id":X}`` is decoded
  into a msgspec Struct and answered ``{"event":"pong","id":X,"now":"<ISO UTC>"}``
  (one decode and one encode per message, as the hub must do);
- ``POST /api/v1/ping``: body ``{}`` or ``{"id":X}``, the same pong as JSON (an
  id is generated when absent, as the hub's HTTP API does);
- ``GET /healthz``: ``{"status":"ok"}``.

It does the least a server speaking this protocol can do, done the fast way
(``decode_text=False`` so text frames arrive as bytes, ``send_frame`` so the
encoded bytes go out without a round trip through ``str``), with
permessage-deflate off like the hub's default. SIGTERM/SIGINT stop it.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import uuid
from datetime import UTC, datetime

import msgspec
import uvloop
from aiohttp import WSMsgType, web


class Ping(msgspec.Struct):
    event: str
    id: str | None = None


class Pong(msgspec.Struct):
    id: str | None
    now: datetime
    event: str = "pong"


class Error(msgspec.Struct):
    error: str
    id: str | None = None
    event: str = "error"


class HttpPing(msgspec.Struct, forbid_unknown_fields=True):
    id: str | None = None


_decoder = msgspec.json.Decoder(Ping)
_http_decoder = msgspec.json.Decoder(HttpPing)
_encoder = msgspec.json.Encoder()
_HEALTH = _encoder.encode({"status": "ok"})


def reply_for(data: bytes | str) -> bytes:
    """Decode one client message and encode its reply."""
    try:
        msg = _decoder.decode(data)
    except msgspec.ValidationError as e:
        return _encoder.encode(Error(error=str(e)))
    if msg.event == "ping":
        return _encoder.encode(Pong(id=msg.id, now=datetime.now(UTC)))
    return _encoder.encode(Error(error=f"unknown event {msg.event!r}", id=msg.id))


async def ws_handler(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(compress=False, decode_text=False, max_msg_size=20 * 2**20)
    await ws.prepare(request)
    async for msg in ws:
        if msg.type == WSMsgType.TEXT:
            await ws.send_frame(reply_for(msg.data), WSMsgType.TEXT)
    return ws


async def http_ping(request: web.Request) -> web.Response:
    # Like the hub's POST /api/v1/<event>: the event is in the path, the body is
    # the message's fields, and an id is generated when the body has none.
    try:
        msg = _http_decoder.decode(await request.read() or b"{}")
    except msgspec.ValidationError as e:
        return web.Response(status=400, body=_encoder.encode({"error": str(e)}))
    rid = msg.id or str(uuid.uuid4())
    return web.Response(
        body=_encoder.encode(Pong(id=rid, now=datetime.now(UTC))), content_type="application/json"
    )


async def healthz(request: web.Request) -> web.Response:
    return web.Response(body=_HEALTH, content_type="application/json")


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/hub", ws_handler)
    app.router.add_post("/api/v1/ping", http_ping)
    app.router.add_get("/healthz", healthz)
    return app


async def serve(host: str, port: int) -> None:
    runner = web.AppRunner(make_app(), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, backlog=4096).start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    uvloop.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
