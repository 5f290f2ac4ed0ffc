"""The hub's side of the project links: one link per project, shared by all sessions.

Every relayed call gets an id of its own on the link, so replies find their way
back to the asker whatever id the client chose, and two clients that pick the
same id never see each other's replies. A stream (`multi_response: true`) goes
to its asker until the message without that flag. When a link drops, every call
pending on it fails at once with a clear error; when a client goes away, its
handler task is cancelled and the call's entry is dropped with it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import msgspec
import structlog

from hub.errors import HubError, Timeout
from hub.local_hub.framing import BlobFrame, JsonFrame
from hub.local_hub.link import Link, LinkError, keepalive
from hub.local_hub.runner_protocol import ProjectRunner

log = structlog.get_logger()

BlobSink = Callable[[bytes], Awaitable[None]]
# Called in the link's read loop, so it must not block: terminal output, by session.
BlobListener = Callable[[bytes], None]
# A message from the project that answers no call (execute_javascript, a terminal's exit).
EventListener = Callable[[UUID, dict[str, Any]], None]


class ProjectUnavailable(HubError):
    http_status = 503


# A call's replies wait here until its asker takes them. When a stream's asker falls
# this far behind, the link stops reading (the project is held back by TCP) for up
# to STREAM_STALL_S; after that the call fails, so one slow client cannot hold the
# link, or hub memory, for long.
STREAM_QUEUE = 64
STREAM_STALL_S = 5.0


class _Envelope(msgspec.Struct):
    """The parts of a project's message the relay needs; the rest stays undecoded."""

    id: Any = None
    event: Any = None
    multi_response: Any = None


_ENVELOPE = msgspec.json.Decoder(_Envelope)
_PART_HEAD = b'{"id":"'
_PART_ID_END = len(_PART_HEAD) + 36 + 1  # the id and its closing quote
_PART_FLAG = b',"multi_response":true,'


class Relayed:
    """One message from a project for a call: its raw JSON, decoded only if asked."""

    __slots__ = ("_message", "event", "multi_response", "payload")

    def __init__(
        self,
        payload: bytes | None,
        message: dict[str, Any] | None,
        multi_response: bool,
        event: Any = None,
    ) -> None:
        self.payload = payload
        self._message = message
        self.multi_response = multi_response
        self.event = event

    @classmethod
    def error(cls, text: str) -> Relayed:
        return cls(None, {"event": "error", "error": text}, False, "error")

    def message(self) -> dict[str, Any]:
        if self._message is None:
            assert self.payload is not None
            decoded = msgspec.json.decode(self.payload)
            self._message = decoded if isinstance(decoded, dict) else {}
        return self._message

    def with_id(self, call_id: str, new_id: str) -> bytes | None:
        """The raw message with the link's call id swapped for `new_id`, without decoding
        it (inside a JSON string every quote is escaped, so the key occurs only once);
        None when the raw bytes cannot be rewritten that way."""
        if self.payload is None:
            return None
        old = b'"id":"' + call_id.encode() + b'"'
        at = self.payload.find(old)
        if at < 0:
            return None
        return b"".join(
            (
                self.payload[:at],
                b'"id":',
                msgspec.json.encode(new_id),
                self.payload[at + len(old) :],
            )
        )


@dataclass(slots=True)
class _Pending:
    replies: asyncio.Queue[Relayed] = field(default_factory=asyncio.Queue)
    blob_sink: BlobSink | None = None
    room: asyncio.Event = field(default_factory=asyncio.Event)
    dropped: bool = False


@dataclass(frozen=True, slots=True)
class LinkSettings:
    connect_timeout_s: float = 20.0  # give up opening a link (start + handshake) after this
    heartbeat_s: float = 30.0  # send a heartbeat this often; silence for 1.5x drops the link
    max_frame_bytes: int = 16 * 1024 * 1024 + 64
    max_blob_bytes: int = 64 * 1024 * 1024  # blobs kept for a pending call, per link


class Call:
    """One relayed request on a link, identified by its own id there."""

    def __init__(self, conn: ProjectConnection, call_id: str, blob_sink: BlobSink | None) -> None:
        self.conn = conn
        self.id = call_id
        self.pending = _Pending(blob_sink=blob_sink)

    async def next_reply(self, remaining: float, timeout: float) -> dict[str, Any]:
        return (await self.next_relayed(remaining, timeout)).message()

    async def next_relayed(self, remaining: float, timeout: float) -> Relayed:
        if remaining <= 0:
            raise Timeout(f"Timed out after {timeout:g} seconds.")
        replies = self.pending.replies
        if not replies.empty():
            message = replies.get_nowait()
        else:
            try:
                async with asyncio.timeout(remaining):
                    message = await replies.get()
            except TimeoutError:
                raise Timeout(f"Timed out after {timeout:g} seconds.") from None
        if replies.qsize() < STREAM_QUEUE // 2:
            self.pending.room.set()
        return message

    def close(self) -> None:
        self.conn.forget_call(self.id)


class ProjectConnection:
    """One open link to one project's local hub."""

    def __init__(
        self,
        project_id: UUID,
        link: Link,
        settings: LinkSettings,
        on_closed: Callable[[ProjectConnection], None],
        on_event: Callable[[ProjectConnection, dict[str, Any]], None] | None = None,
    ) -> None:
        self.project_id = project_id
        self.link = link
        self.settings = settings
        self._on_closed = on_closed
        self._on_event = on_event
        self._blob_listeners: dict[str, BlobListener] = {}
        self._pending: dict[str, _Pending] = {}
        self._blobs: dict[str, bytearray] = {}
        self._blob_bytes = 0
        self._closed = False
        self._close_reason = ""
        # call ids: uuid-shaped (blob frames carry them), unique per link, and cheaper
        # than a fresh uuid per call: a random prefix and a counter
        self._id_prefix = str(uuid.uuid4())[:24]
        self._calls = 0
        self.opened = time.monotonic()
        self._tasks = [
            asyncio.get_running_loop().create_task(self._read_loop()),
            asyncio.get_running_loop().create_task(self._heartbeat_loop()),
        ]

    @property
    def closed(self) -> bool:
        return self._closed

    async def open_call(
        self, message: dict[str, Any], *, blob_sink: BlobSink | None = None
    ) -> Call:
        """Send `message` with a fresh id and return the call, to read its replies.

        `blob_sink` receives blob frames whose uuid is the call's id (a streamed
        copy). The caller must `close()` the call (`request()` does it for you).
        """
        if self._closed:
            raise ProjectUnavailable(self._lost_text())
        self._calls += 1
        call = Call(self, f"{self._id_prefix}{self._calls:012x}", blob_sink)
        self._pending[call.id] = call.pending
        try:
            await self.link.send(msgspec.json.encode({**message, "id": call.id}))
        except LinkError as exc:
            call.close()
            raise ProjectUnavailable(f"{self._lost_text()} ({exc})") from None
        return call

    async def request(
        self,
        message: dict[str, Any],
        *,
        timeout: float,
        before_send: Callable[[], Awaitable[None]] | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Send `message` with a fresh id; yield its replies until the last one.

        `before_send()` may send blob frames first (an upload the message refers to).
        """
        if before_send is not None:
            await before_send()
        call = await self.open_call(message)
        deadline = time.monotonic() + timeout
        try:
            while True:
                reply = await call.next_reply(deadline - time.monotonic(), timeout)
                yield reply
                if reply.get("multi_response") is not True:
                    return
        finally:
            call.close()

    async def send_blob(self, blob_id: str, data: bytes) -> None:
        """Send a blob (the link splits it into frames)."""
        try:
            await self.link.send_blob(blob_id, data)
        except LinkError as exc:
            raise ProjectUnavailable(f"{self._lost_text()} ({exc})") from None

    async def send(self, message: dict[str, Any]) -> None:
        try:
            await self.link.send(msgspec.json.encode(message))
        except LinkError as exc:
            raise ProjectUnavailable(f"{self._lost_text()} ({exc})") from None

    def listen_blobs(self, uuid: str, listener: BlobListener) -> None:
        """Blob frames named `uuid` go to `listener` from now on (a terminal's output)."""
        self._blob_listeners[uuid] = listener

    def unlisten_blobs(self, uuid: str) -> None:
        self._blob_listeners.pop(uuid, None)

    def forget_call(self, call_id: str) -> None:
        self._pending.pop(call_id, None)

    def take_blob(self, blob_id: str) -> bytes | None:
        data = self._blobs.pop(blob_id, None)
        if data is None:
            return None
        self._blob_bytes -= len(data)
        return bytes(data)

    def _lost_text(self) -> str:
        reason = f": {self._close_reason}" if self._close_reason else ""
        return f"lost connection to project {self.project_id}{reason}"

    async def _read_loop(self) -> None:
        reason = "the local hub closed the link"
        try:
            while True:
                frame = await self.link.receive()
                if isinstance(frame, JsonFrame):
                    await self._on_message(frame.payload)
                elif isinstance(frame, BlobFrame):
                    await self._on_blob(frame.uuid, frame.data)
        except asyncio.CancelledError:
            reason = "the hub closed the link"
            raise
        except LinkError as exc:
            reason = str(exc) or reason
        except Exception as exc:
            log.exception("project link reader failed", project_id=str(self.project_id))
            reason = f"link error: {exc}"
        finally:
            self._shut(reason)

    async def _on_message(self, payload: bytes) -> None:
        # A stream's parts start `{"id":"<36 chars>","multi_response":true,` (the local hub
        # writes them so): route them by those bytes, without parsing the rest.
        if payload.startswith(_PART_HEAD) and payload.startswith(_PART_FLAG, _PART_ID_END):
            pending = self._pending.get(
                payload[len(_PART_HEAD) : _PART_ID_END - 1].decode("latin-1")
            )
            if pending is not None:
                if not pending.dropped:
                    await self._deliver(pending, Relayed(payload, None, True))
                return
        try:
            envelope = _ENVELOPE.decode(payload)
        except (msgspec.DecodeError, msgspec.ValidationError):
            log.warning("project sent invalid JSON", project_id=str(self.project_id))
            return
        call_id = envelope.id
        pending = self._pending.get(call_id) if isinstance(call_id, str) else None
        if pending is not None:
            if not pending.dropped:
                await self._deliver(
                    pending,
                    Relayed(payload, None, envelope.multi_response is True, envelope.event),
                )
            return
        event = envelope.event
        if event == "heartbeat":
            return
        if event == "ping" and isinstance(call_id, str):
            await self.link.send(msgspec.json.encode({"event": "pong", "id": call_id}))
            return
        if call_id is None and isinstance(event, str) and self._on_event is not None:
            message = msgspec.json.decode(payload)
            if isinstance(message, dict):
                self._on_event(self, message)
            return
        # replies to calls that were given up (timeout, client gone) end here

    async def _deliver(self, pending: _Pending, message: Relayed) -> None:
        if pending.replies.qsize() >= STREAM_QUEUE:
            pending.room.clear()
            try:
                async with asyncio.timeout(STREAM_STALL_S):
                    await pending.room.wait()
            except TimeoutError:
                pending.dropped = True
                pending.replies.put_nowait(Relayed.error("the stream's reader fell too far behind"))
                return
        pending.replies.put_nowait(message)

    async def _on_blob(self, blob_id: str, data: bytes) -> None:
        listener = self._blob_listeners.get(blob_id)
        if listener is not None:
            listener(data)
            return
        pending = self._pending.get(blob_id)
        if pending is not None and pending.blob_sink is not None:
            try:
                await pending.blob_sink(data)
            except HubError as exc:
                # the far end of a streamed copy failed: fail this call, keep the link
                pending.blob_sink = None
                pending.replies.put_nowait(Relayed.error(exc.text))
            return
        if self._blob_bytes + len(data) > self.settings.max_blob_bytes:
            log.warning("dropping blob over the per-link limit", project_id=str(self.project_id))
            return
        self._blobs.setdefault(blob_id, bytearray()).extend(data)
        self._blob_bytes += len(data)

    async def _heartbeat_loop(self) -> None:
        ended = await keepalive(self.link, self.settings.heartbeat_s)
        if ended != "closed":
            self._close_reason = f"the local hub went {ended}"

    def _shut(self, reason: str) -> None:
        if self._closed:
            return
        self._closed = True
        self._close_reason = self._close_reason or reason
        self.link.close()
        error = Relayed.error(self._lost_text())
        for pending in self._pending.values():
            pending.replies.put_nowait(error)
        self._blobs.clear()
        self._blob_listeners.clear()
        self._on_closed(self)
        log.info("project link closed", project_id=str(self.project_id), reason=self._close_reason)

    async def close(self) -> None:
        self._shut("the hub closed the link")
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class ProjectLinks:
    """All of this hub's project links, opened on demand."""

    def __init__(self, runner: ProjectRunner, settings: LinkSettings) -> None:
        self.runner = runner
        self.settings = settings
        self._links: dict[UUID, ProjectConnection] = {}
        self._opening: dict[UUID, asyncio.Task[ProjectConnection]] = {}
        self.event_listeners: dict[str, EventListener] = {}
        """Messages a project sends on its own, by event (execute_javascript, …)."""
        self.closed_listeners: list[Callable[[UUID], None]] = []
        """Told when a project's link closes (terminals attached over it are gone)."""

    def linked(self) -> list[UUID]:
        return [pid for pid, conn in self._links.items() if not conn.closed]

    async def get(self, project_id: UUID) -> ProjectConnection:
        """The open link to the project, starting the project and connecting if needed."""
        conn = self._links.get(project_id)
        if conn is not None and not conn.closed:
            self.runner.touch(project_id)
            return conn
        task = self._opening.get(project_id)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._open(project_id))
            self._opening[project_id] = task
            task.add_done_callback(lambda _t: self._opening.pop(project_id, None))
        # shield: one caller going away must not cancel the open for the others
        return await asyncio.shield(task)

    async def _open(self, project_id: UUID) -> ProjectConnection:
        deadline = time.monotonic() + self.settings.connect_timeout_s
        delay = 0.05
        last_error = "no attempt"
        while True:
            try:
                address = await asyncio.wait_for(
                    self.runner.address(project_id), max(0.1, deadline - time.monotonic())
                )
                link = await Link.connect(
                    address.host,
                    address.port,
                    address.secret_token,
                    timeout=max(0.1, min(10.0, deadline - time.monotonic())),
                    max_frame_bytes=self.settings.max_frame_bytes,
                )
                break
            except (LinkError, OSError, TimeoutError, HubError) as exc:
                last_error = str(exc) or type(exc).__name__
            if time.monotonic() + delay > deadline:
                raise ProjectUnavailable(f"could not connect to project {project_id}: {last_error}")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
        conn = ProjectConnection(project_id, link, self.settings, self._forget, self._on_event)
        self._links[project_id] = conn
        self.runner.touch(project_id)
        log.info("project link opened", project_id=str(project_id))
        return conn

    def _forget(self, conn: ProjectConnection) -> None:
        if self._links.get(conn.project_id) is conn:
            del self._links[conn.project_id]
        for listener in self.closed_listeners:
            listener(conn.project_id)

    def _on_event(self, conn: ProjectConnection, message: dict[str, Any]) -> None:
        listener = self.event_listeners.get(str(message.get("event")))
        if listener is not None:
            listener(conn.project_id, message)

    async def call(
        self, project_id: UUID, message: dict[str, Any], *, timeout: float
    ) -> dict[str, Any]:
        """One request, one reply."""
        conn = await self.get(project_id)
        async for reply in conn.request(message, timeout=timeout):
            return reply
        raise ProjectUnavailable(f"no reply from project {project_id}")

    async def disconnect(self, project_id: UUID) -> bool:
        conn = self._links.pop(project_id, None)
        if conn is None:
            return False
        await conn.close()
        return True

    async def close(self) -> None:
        for task in list(self._opening.values()):
            task.cancel()
        await asyncio.gather(*(c.close() for c in list(self._links.values())))
        self._links.clear()
