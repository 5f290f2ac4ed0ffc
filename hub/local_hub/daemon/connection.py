"""One hub's link to the daemon: frames in, handlers run, replies out by id.

`HubConnection.serve()` is the connection's whole life in one try/finally: a
keepalive task, then the receive loop until the link ends; at the end every
running request is cancelled (a running command's process group is killed),
imports are aborted and unused blobs dropped.

The receive loop handles a few frames itself, in order: heartbeats, blob frames
(to a running import, or kept until the message that uses them), and
`copy_import` / `copy_import_end`, which must stay ordered with the blob frames.
Every other request runs in its own task; beyond `max_concurrent_requests` running
on this link, a request is answered at once with an error (never queued). Error
replies about the frames themselves are sent inline, which slows down a peer that
floods without reading.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog

from hub.local_hub.daemon import messages as m
from hub.local_hub.daemon.copy import ImportJob
from hub.local_hub.daemon.dispatch import DECODER, HANDLERS
from hub.local_hub.daemon.errors import ProjectError
from hub.local_hub.framing import BlobFrame, JsonFrame
from hub.local_hub.link import Link, LinkClosed, LinkError, MessageTooLarge, keepalive

if TYPE_CHECKING:
    from hub.local_hub.daemon.server import Project

log = structlog.get_logger("hub.local_hub.daemon")

BLOB_MAX_AGE_S = 600.0


@dataclass(slots=True)
class _Blob:
    data: bytearray = field(default_factory=bytearray)
    started: float = field(default_factory=time.monotonic)
    too_large: bool = False


class HubConnection:
    def __init__(self, link: Link, project: Project) -> None:
        self.link = link
        self.project = project
        self.config = project.config
        self._tasks: set[asyncio.Task[None]] = set()
        self._blobs: dict[str, _Blob] = {}
        self._blob_bytes = 0
        self._imports: dict[str, ImportJob] = {}
        self._refused_imports: set[str] = set()

    # ------------------------------------------------------------------------- life

    async def serve(self) -> None:
        started = time.monotonic()
        keeper = asyncio.ensure_future(keepalive(self.link, self.config.heartbeat_s))
        ended = "closed"
        self.project.links.add(self)
        try:
            while True:
                frame = await self.link.receive()
                if isinstance(frame, JsonFrame):
                    await self._on_json(frame.payload)
                else:
                    await self._on_blob(frame)
        except LinkClosed:
            pass
        except LinkError as exc:
            ended = str(exc)
        finally:
            self.project.forget_link(self)
            self.link.close()
            if keeper.done() and not keeper.cancelled():
                ended = keeper.result() if ended == "closed" else ended
            keeper.cancel()
            for job in self._imports.values():
                job.abort()
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(keeper, *self._tasks, return_exceptions=True)
            self._blobs.clear()
            log.info(
                "hub disconnected",
                peer=self.link.peer,
                reason=ended,
                seconds=round(time.monotonic() - started, 3),
            )

    # ------------------------------------------------------------------------- replies

    async def reply(self, id_: m.Id, msg: dict[str, Any]) -> None:
        """Send `msg` with the request's id; an oversized reply becomes an error reply.

        The id (and `multi_response`, in a stream's parts) come first, so the hub can
        route a stream's parts by their first bytes without decoding them.
        """
        if id_ is not None:
            head: dict[str, Any] = {"id": id_}
            if msg.pop("multi_response", None) is True:
                head["multi_response"] = True
            msg = {**head, **msg}
        try:
            await self.link.send(msg)
        except MessageTooLarge as exc:
            try:
                await self.link.send({"event": "error", "id": id_, "error": str(exc)})
            except MessageTooLarge:
                log.warning("reply dropped: even its error does not fit in a frame")

    async def error(self, id_: m.Id, text: str) -> None:
        body: dict[str, Any] = {"event": "error", "error": text}
        await self.reply(id_, body)

    async def send_blob(self, uuid: str, data: bytes) -> None:
        await self.link.send_blob(uuid, data)

    # ------------------------------------------------------------------------- frames in

    async def _on_json(self, payload: bytes) -> None:
        msg = DECODER.decode(payload, home=str(self.config.home))
        if isinstance(msg, m.Rejected):
            if msg.text is not None:
                await self.error(msg.id, msg.text)
            return
        if isinstance(msg, m.Heartbeat):
            return
        if isinstance(msg, m.CopyImportEnd):
            self._close_import(msg)
        elif len(self._tasks) >= self.config.max_concurrent_requests:
            if isinstance(msg, m.CopyImport) and isinstance(msg.id, str):
                self._refused_imports.add(msg.id)
            limit = self.config.max_concurrent_requests
            await self.error(msg.id, f"too many requests running on this link (at most {limit})")
        elif isinstance(msg, m.CopyImport):
            await self._open_import(msg)
        else:
            self._spawn(self._run(HANDLERS[type(msg)], msg))

    async def _on_blob(self, frame: BlobFrame) -> None:
        if self.project.terminals.write(frame.uuid, frame.data):
            return
        job = self._imports.get(frame.uuid)
        if job is not None:
            await job.feed(frame.data)
            return
        if frame.uuid in self._refused_imports:
            return
        now = time.monotonic()
        for uuid in [u for u, b in self._blobs.items() if now - b.started > BLOB_MAX_AGE_S]:
            self._drop_blob(uuid)
        blob = self._blobs.setdefault(frame.uuid, _Blob())
        if blob.too_large:
            return
        if self._blob_bytes + len(frame.data) > self.config.max_blob_bytes:
            self._drop_blob(frame.uuid)
            self._blobs[frame.uuid] = _Blob(too_large=True)
            return
        blob.data += frame.data
        self._blob_bytes += len(frame.data)

    def _drop_blob(self, uuid: str) -> None:
        blob = self._blobs.pop(uuid, None)
        if blob is not None:
            self._blob_bytes -= len(blob.data)

    def take_blob(self, uuid: str) -> bytearray:
        """The complete blob sent under `uuid` (consumed), or ProjectError."""
        blob = self._blobs.get(uuid)
        if blob is None:
            raise ProjectError(f"no blob with uuid '{uuid}' was received")
        self._drop_blob(uuid)
        if blob.too_large:
            raise ProjectError(
                f"blob '{uuid}' is too large (the limit is {self.config.max_blob_bytes} bytes)"
            )
        return blob.data

    # ------------------------------------------------------------------------- requests

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        exc = None if task.cancelled() else task.exception()
        if exc is not None and not isinstance(exc, LinkError):
            log.error("request task failed", exc_info=exc)

    async def _run(
        self, handler: Callable[[Any, HubConnection], Awaitable[dict[str, Any] | None]], msg: Any
    ) -> None:
        try:
            result = await handler(msg, self)
        except ProjectError as exc:
            await self.error(msg.id, exc.text)
            return
        except LinkError:
            return
        except Exception as exc:
            log.exception("request failed", event_name=type(msg).__name__)
            await self.error(msg.id, f"internal error in the local hub: {type(exc).__name__}")
            return
        if result is not None:
            await self.reply(msg.id, result)

    # ------------------------------------------------------------------------- imports

    async def _open_import(self, msg: m.CopyImport) -> None:
        try:
            job = self.project.copies.start_import(msg)
        except ProjectError as exc:
            if isinstance(msg.id, str):
                self._refused_imports.add(msg.id)
            await self.error(msg.id, exc.text)
            return
        if job.uuid in self._imports:
            await self.error(msg.id, f"copy_import '{job.uuid}' is already running")
            return
        self._imports[job.uuid] = job
        self._spawn(self._finish_import(msg.id, job))

    async def _finish_import(self, id_: m.Id, job: ImportJob) -> None:
        try:
            await job.start()
        except ProjectError as exc:
            await self.error(id_, exc.text)
        else:
            await self.reply(id_, {"event": "success"})

    def _close_import(self, msg: m.CopyImportEnd) -> None:
        uuid = msg.id if isinstance(msg.id, str) else ""
        if uuid in self._refused_imports:
            self._refused_imports.discard(uuid)
            return
        job = self._imports.pop(uuid, None)
        if job is None:
            return
        if msg.abort:
            job.abort()
        else:
            job.end(is_dir=msg.is_dir)
