"""`ClientSession`: one per WebSocket connection.

It owns who is signed in, the bounded inbound queue with its limit on handlers
running at once, the bounded outbound queue drained by one writer task, and the
periodic re-check of a remember-me sign-in. It never parses bytes itself: frames
are decoded once by `hub.protocol` and replies encoded once.

Inbound: a decoded message starts a handler task at once while fewer than
`max_concurrent_handlers` run; otherwise it waits in a queue of at most
`inbound_queue`; beyond that it is answered with an error and dropped.

Outbound: `send()` never awaits. Frames go to a queue of at most
`outbound_queue` entries that one writer task drains. A client that stops
reading makes the writer block on the socket; once its queue is full the
session is closed with `CloseCode.SLOW_CONSUMER` and its queue dropped, so it
can neither grow hub memory nor slow anyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import deque
from typing import TYPE_CHECKING, Any, Literal

import structlog
from aiohttp import WSMsgType, web

from hub.errors import CloseCode, HubError, NotSignedIn, Overloaded, error_text
from hub.handlers.context import Context, Identity
from hub.protocol import (
    Message,
    Reply,
    encode_error,
    encode_reply,
    fill_reply_id,
    message_id,
)
from hub.protocol.messages import RememberMeFailed, SignedOut
from hub.sessions.base import SessionBase
from hub.sessions.lapse import COOKIE_LAPSED, sign_in_lapsed
from hub.sessions.limiter import Limiter

if TYPE_CHECKING:
    from hub.handlers.registry import Route, Router
    from hub.state import HubState

log = structlog.get_logger()


class BinaryFrame(bytes):
    """An outbound frame sent as a binary WebSocket frame (terminal data), not as text."""

    __slots__ = ()


class ClientSession(SessionBase):
    kind: Literal["websocket"] = "websocket"

    def __init__(self, hub: HubState, router: Router, ws: web.WebSocketResponse, ip: str) -> None:
        self.hub = hub
        self.router = router
        self.ws = ws
        super().__init__(ip, None)
        self._session_id = str(uuid.uuid4())
        self.client_version: int | None = None
        self.connected_at = time.monotonic()
        settings = hub.settings
        self._max_out = settings.outbound_queue
        self._max_waiting = settings.inbound_queue
        self._max_running = settings.max_concurrent_handlers
        self._out: deque[bytes] = deque()
        self._out_ready = asyncio.Event()
        self._drained = asyncio.Event()
        self._waiting: deque[Message] = deque()
        self._running = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self._close_code: int | None = None
        self._writer: asyncio.Task[None] | None = None
        self._writing = False
        self._query_limiter: Limiter | None = None
        self._ctx = Context(hub, self)  # handlers see the session through it; made once
        self.last_seen = asyncio.get_running_loop().time()
        self._ping_sent_at: float | None = None
        self._recheck: asyncio.TimerHandle | None = None
        self.received = 0
        self.sent = 0

    # --- Session protocol (what handlers see) -----------------------------------

    @property
    def session_id(self) -> str:
        return self._session_id

    @property
    def connected_for_s(self) -> float:
        return time.monotonic() - self.connected_at

    def sign_in(self, identity: Identity) -> None:
        was_signed_in = self._identity is not None
        self._identity = identity
        if not was_signed_in:
            self.hub.metrics.signed_in.inc()
        structlog.contextvars.bind_contextvars(account_id=str(identity.account_id))
        self._schedule_recheck()

    def sign_out(self) -> None:
        if self._identity is not None:
            self.hub.metrics.signed_in.dec()
        self._identity = None
        if self._recheck is not None:
            self._recheck.cancel()
            self._recheck = None

    def push(self, msg: Reply) -> None:
        self.send(encode_reply(msg))

    def query_limiter(self) -> Limiter:
        if self._query_limiter is None:
            settings = self.hub.settings
            self._query_limiter = Limiter(
                settings.query_running, settings.query_waiting, settings.query_wait_timeout_s
            )
        return self._query_limiter

    def push_encoded(self, data: bytes) -> None:
        self.send(data)

    def push_binary(self, data: bytes) -> None:
        """Queue one binary frame (a data channel byte and terminal bytes), in order with
        the text frames, under the same bound on the outbound queue."""
        self.send(BinaryFrame(data))

    async def drain(self) -> None:
        """Wait while more than half of the outbound queue is taken, so a relayed
        stream goes at the client's pace instead of filling the queue."""
        while len(self._out) > self._max_out // 2 and not self._closing:
            await self._drained.wait()

    def set_client_version(self, version: int) -> None:
        self.client_version = version

    def close_soon(self, code: int, reason: str, delay_s: float) -> None:
        loop = asyncio.get_running_loop()
        loop.call_later(delay_s, self._start_close, code, reason)

    # --- outbound ----------------------------------------------------------------

    def send(self, data: bytes) -> None:
        """Queue one encoded frame; never waits. Closes a client that does not read."""
        if self._closing:
            return
        if len(self._out) >= self._max_out:
            self.hub.metrics.errors.labels("slow_consumer").inc()
            log.warning("client not reading; closing", queued=len(self._out))
            self._out.clear()
            self._start_close(CloseCode.SLOW_CONSUMER, "client did not read its messages")
            return
        self._out.append(data)
        self._out_ready.set()
        self._drained.clear()

    async def send_now(self, data: bytes) -> None:
        """Write at once when nothing is queued or being written (the fast path for
        inline replies: no wake-up of the writer task); otherwise queue it."""
        if self._out or self._writing or self._closing:
            self.send(data)
            return
        self._writing = True
        try:
            await self.ws.send_frame(data, WSMsgType.TEXT)
            self.sent += 1
        except (ConnectionError, RuntimeError):
            pass  # the peer went away; the reader notices and ends the session
        finally:
            self._writing = False
        if self._out:
            self._out_ready.set()

    async def _write_loop(self) -> None:
        out = self._out
        ready = self._out_ready
        send_frame = self.ws.send_frame
        text = WSMsgType.TEXT
        binary = WSMsgType.BINARY
        try:
            while True:
                await ready.wait()
                ready.clear()
                if self._writing:  # send_now is mid-write; it wakes us when done
                    continue
                self._writing = True
                try:
                    while out:
                        data = out.popleft()
                        await send_frame(data, binary if type(data) is BinaryFrame else text)
                        self.sent += 1
                finally:
                    self._writing = False
                self._drained.set()
        except (ConnectionError, RuntimeError):
            # the peer went away mid-write; the reader notices and ends the session
            pass

    # --- inbound -----------------------------------------------------------------

    def dispatch(self, msg: Message) -> None:
        self.received += 1
        if self._running < self._max_running:
            self._start(msg)
        elif len(self._waiting) < self._max_waiting:
            self._waiting.append(msg)
        else:
            self.hub.metrics.errors.labels("overloaded").inc()
            exc = Overloaded(
                f"too many requests in flight (more than {self._max_running} running and "
                f"{self._max_waiting} waiting); slow down and retry"
            )
            self.send(encode_error(exc.text, message_id(msg)))

    def _start(self, msg: Message) -> None:
        self._running += 1
        task = asyncio.get_running_loop().create_task(self._run(msg))
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._running -= 1
        if self._waiting and not self._closing:
            self._start(self._waiting.popleft())

    async def _run(self, msg: Message) -> None:
        event: str = msg.__struct_config__.tag  # type: ignore[assignment]
        data = await self.answer(msg, self.router.by_event[event])
        if data is not None:
            self.send(data)

    async def answer(self, msg: Message, route: Route) -> bytes | None:
        """The encoded reply (or error) to one message, with its metrics."""
        timing = self.hub.metrics.for_event(route.event, "websocket")
        started = time.perf_counter()
        try:
            ctx = self._ctx
            if route.signed_in and self._identity is None:
                raise NotSignedIn(route.not_signed_in_text)
            reply = await route.fn(msg, ctx)
            if reply is None:
                return None
            fill_reply_id(reply, message_id(msg))
            return encode_reply(reply)
        except HubError as exc:
            self.hub.metrics.errors.labels(type(exc).__name__).inc()
            return encode_error(exc.text, message_id(msg))
        except asyncio.CancelledError:
            raise
        except Exception:
            self.hub.metrics.errors.labels("internal").inc()
            log.exception("handler failed", handler_event=route.event)
            return encode_error(error_text(Exception()), message_id(msg))
        finally:
            timing.observe(time.perf_counter() - started)

    # --- keepalive ------------------------------------------------------------------

    def check_alive(self, now: float, interval_s: float) -> None:
        """Ping a client quiet for `interval_s`; close one silent half an interval after."""
        if self._closing:
            return
        if self._ping_sent_at is not None:
            if self.last_seen >= self._ping_sent_at:
                self._ping_sent_at = None  # any frame since the ping counts as an answer
            elif now - self._ping_sent_at > interval_s / 2:
                self.hub.metrics.errors.labels("no_pong").inc()
                self._start_close(CloseCode.NO_PONG, "no answer to pings")
                return
        if self._ping_sent_at is None and now - self.last_seen >= interval_s:
            self._ping_sent_at = now
            task = asyncio.get_running_loop().create_task(self._ping())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _ping(self) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.ws.ping()

    # --- life cycle --------------------------------------------------------------

    def start(self) -> None:
        self._writer = asyncio.get_running_loop().create_task(self._write_loop())

    def _start_close(self, code: int, reason: str) -> None:
        if self._closing:
            return
        self._closing = True
        self._close_code = code
        self._waiting.clear()
        asyncio.get_running_loop().create_task(
            self.ws.close(code=code, message=reason.encode()[:120])
        )

    async def shutdown(self, code: int, reason: str) -> None:
        """Close from the hub's side (e.g. SIGTERM) after flushing what is queued."""
        if self._closing:
            return
        self._closing = True
        self._close_code = code
        self._waiting.clear()
        await self.flush(timeout=1.0)
        await self.ws.close(code=code, message=reason.encode()[:120])

    async def flush(self, timeout: float) -> None:
        """Wait until the writer has sent everything queued, at most `timeout` seconds."""
        if self._out:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), timeout)

    async def release(self) -> None:
        """Always run when the connection ends: stop tasks and drop everything held."""
        self._closing = True
        self._waiting.clear()
        self._out.clear()
        self.sign_out()
        for task in list(self._tasks):
            task.cancel()
        if self._writer is not None:
            self._writer.cancel()
        tasks: list[asyncio.Task[Any]] = [*self._tasks]
        if self._writer is not None:
            tasks.append(self._writer)
        await asyncio.gather(*tasks, return_exceptions=True)

    async def wait_handlers(self) -> None:
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # --- re-checking a long sign-in ---------------------------------------------------

    def _schedule_recheck(self) -> None:
        """Every signed-in session is re-checked now and then: its account must still be
        live (not deleted or banned, perhaps on another hub) and its cookie unexpired."""
        if self._recheck is not None:
            self._recheck.cancel()
            self._recheck = None
        if self._identity is None:
            return
        loop = asyncio.get_running_loop()
        self._recheck = loop.call_later(self.hub.settings.remember_me_recheck_s, self._recheck_now)

    def _recheck_now(self) -> None:
        self._recheck = None
        if self._closing or self._identity is None:
            return
        task = asyncio.get_running_loop().create_task(self._recheck_identity())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _recheck_identity(self) -> None:
        identity = self._identity
        if identity is None:
            return
        try:
            reason = await sign_in_lapsed(self.hub, identity)
        except HubError:
            reason = None  # a database outage is not a reason to sign anyone out
        if identity is not self._identity:
            return
        if reason is None:
            self._schedule_recheck()
        else:
            self.signed_out_by_hub(reason)

    def signed_out_by_hub(self, reason: str) -> None:
        """The sign-in ended elsewhere (account deleted, cookie revoked): tell the client."""
        cookie = self._identity is not None and self._identity.remember_me_hash is not None
        self.sign_out()
        if cookie:  # a cookie client knows one reason for this, CoCalc's
            self.push(RememberMeFailed(reason=COOKIE_LAPSED))
        else:
            self.push(SignedOut())
