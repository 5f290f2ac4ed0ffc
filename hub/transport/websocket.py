"""The WebSocket endpoint at /hub: one JSON object per text frame.

This module only moves frames: it decodes each one once, turns decoding
failures into an error reply with the request's id, and hands the message to
the connection's `ClientSession`. Each connection's life is one try/finally.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import structlog
from aiohttp import WSMsgType, web

from hub.errors import CloseCode
from hub.protocol import DecodeError, decode_client_frame, encode_error, message_id
from hub.sessions.client_session import ClientSession
from hub.sessions.inbound_rate import InboundPace
from hub.sessions.sign_in_at_connect import sign_in_from_cookie
from hub.transport.addresses import client_ip

if TYPE_CHECKING:
    from hub.handlers.registry import Router
    from hub.sessions.registry import SessionRegistry
    from hub.state import HubState

log = structlog.get_logger()


class WebSocketEndpoint:
    def __init__(self, hub: HubState, router: Router, sessions: SessionRegistry) -> None:
        self.hub = hub
        self.router = router
        self.sessions = sessions
        self._origins = frozenset(
            o.strip().rstrip("/") for o in hub.settings.allowed_origins.split(",") if o.strip()
        )

    async def handle(self, request: web.Request) -> web.StreamResponse:
        settings = self.hub.settings
        if not self.sessions.accepting:
            raise web.HTTPServiceUnavailable(text="hub is shutting down")
        origin = request.headers.get("Origin")
        if settings.allowed_origins and origin is not None and origin not in self._origins:
            # a page on another site must not use the browser's cookie to act as its user
            raise web.HTTPForbidden(text=f"origin '{origin[:200]}' is not allowed")
        ws = web.WebSocketResponse(
            autoping=False,  # pings and pongs are ours: see hub.sessions.keepalive
            # aiohttp refuses a frame of exactly max_msg_size; our limit is inclusive
            max_msg_size=settings.max_message_bytes + 1,
            compress=settings.ws_compression,
            decode_text=False,
            timeout=2.0,
        )
        await ws.prepare(request)
        session = ClientSession(
            self.hub, self.router, ws, client_ip(request, self.hub.settings.trusted_proxies)
        )
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(session=session.session_id, ip=session.ip)
        self.sessions.add(session)
        self.hub.metrics.connections.inc()
        log.info("connect")
        session.start()
        try:
            await sign_in_from_cookie(session, request.cookies.get(settings.cookie_name))
            await self._serve(session, ws)
        finally:
            if self.hub.feeds is not None:
                self.hub.feeds.drop_owner(session)
            self.hub.live.terminals.forget_session(session)
            await session.release()
            self.sessions.discard(session)
            self.hub.metrics.connections.dec()
            log.info(
                "disconnect",
                close_code=ws.close_code,
                received=session.received,
                sent=session.sent,
            )
            structlog.contextvars.clear_contextvars()
        return ws

    async def _serve(self, session: ClientSession, ws: web.WebSocketResponse) -> None:
        router = self.router
        metrics = self.hub.metrics
        terminals = self.hub.live.terminals
        now = asyncio.get_running_loop().time
        settings = self.hub.settings
        pace = InboundPace(settings.ws_max_messages_per_s, settings.ws_message_burst)
        delay = pace.delay
        async for frame in ws:
            if (wait := delay()) is not None:
                await asyncio.sleep(wait)
            session.last_seen = now()
            if frame.type is WSMsgType.TEXT:
                try:
                    msg = decode_client_frame(frame.data)
                except DecodeError as exc:
                    metrics.errors.labels(exc.kind).inc()
                    session.send(encode_error(exc.text, exc.id))
                    continue
                except Exception:
                    # no frame may end the connection, not even one that finds a bug
                    metrics.errors.labels("internal").inc()
                    log.exception("decoding a frame failed")
                    session.send(encode_error("could not decode the message", None))
                    continue
                event: str = msg.__struct_config__.tag  # type: ignore[assignment]
                route = router.get(event)
                if route is None:
                    metrics.errors.labels("unknown_event").inc()
                    session.send(
                        encode_error(
                            f"Hub does not know how to handle a '{event}' event.",
                            message_id(msg),
                        )
                    )
                    continue
                if route.inline:  # never waits on I/O: answered here, no task of its own
                    session.received += 1
                    data = await session.answer(msg, route)
                    if data is not None:
                        await session.send_now(data)
                else:
                    session.dispatch(msg)
            elif frame.type is WSMsgType.PING:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await ws.pong(frame.data)
            elif frame.type is WSMsgType.PONG:
                pass  # last_seen is all a pong is for
            elif frame.type is WSMsgType.BINARY:
                # keystrokes for a terminal: the first byte names the data channel. Awaited
                # here, so a client typing faster than its project reads is slowed down.
                session.received += 1
                try:
                    await terminals.input(session, frame.data)
                except Exception:
                    metrics.errors.labels("internal").inc()
                    log.exception("terminal input failed")
                    session.send(encode_error("could not handle the binary frame", None))
            elif frame.type is WSMsgType.ERROR:
                exc_info = ws.exception()
                if ws.close_code == CloseCode.MESSAGE_TOO_BIG:
                    metrics.errors.labels("frame_too_big").inc()
                log.info("websocket error", error=str(exc_info))
                break
