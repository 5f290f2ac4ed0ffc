"""Worksheets on the hub's side: relay `sagews_*` to the project, stream the output back.

A cell's output passes through one `OutputRate` per stream (what is dropped
becomes one `stderr` notice). A `file` part (a figure, `show_file`) arrives after
its bytes as a blob frame on the project link: the relay stores them in the
`blobs` table (the project's, for `blob_ttl_s`) and adds `url: /blobs/<uuid>`.

Flow control: the project sends `worksheet_output_window` parts, then waits for
`sagews_output_ack {id}` (the id of the `sagews_execute_code` request). The relay
maps (session, id) to the running call and forwards the ack with the call's id
on the link; an ack acknowledges every part the client was sent before it. Parts
the rate limit dropped are acknowledged by the relay itself (the client never
sees them, so it could never acknowledge them). When the client goes
away mid-cell, the project is told to forget the call (its output is dropped,
it never waits for acks again); the cell itself keeps running.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any
from uuid import UUID

from hub.config import Settings
from hub.db import blobs
from hub.db.database import Database
from hub.errors import BadRequest, HubError
from hub.live.output_rate import OutputRate
from hub.local_hub.pool import ProjectConnection, ProjectLinks
from hub.protocol import Reply
from hub.protocol.messages import SagewsExecuteCode

if TYPE_CHECKING:
    from hub.handlers.context import Session

# a cell may run (or wait for its turn) as long as it likes; the client's going away ends it
FOREVER_S = 10.0 * 365 * 86400


class Turn:
    """A cell's place in its worksheet's line: it may send once the cell before it has."""

    __slots__ = ("_key", "_mine", "_previous", "_turns")

    def __init__(
        self,
        turns: dict[Any, asyncio.Future[None]],
        key: Any,
    ) -> None:
        self._turns = turns
        self._key = key
        self._previous = turns.get(key)
        self._mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        turns[key] = self._mine

    async def wait(self) -> None:
        if self._previous is not None:
            await asyncio.shield(self._previous)

    def done(self) -> None:
        if not self._mine.done():
            self._mine.set_result(None)
        if self._turns.get(self._key) is self._mine:
            del self._turns[self._key]


class WorksheetRelay:
    def __init__(self, settings: Settings, links: ProjectLinks) -> None:
        self.settings = settings
        self.links = links
        self._turns: dict[Any, asyncio.Future[None]] = {}
        self._streams: dict[tuple[str, str], _Stream] = {}
        self._cells: dict[str, int] = {}
        """Cells running or queued, by session: `worksheet_cells_per_client` at most."""
        self._tasks: set[asyncio.Task[None]] = set()

    async def call(self, project_id: UUID, message: dict[str, Any]) -> None:
        """A one-reply request (start, interrupt, quit); raises HubError on an error reply."""
        timeout = self.settings.worksheet_timeout_s
        reply = await self.links.call(project_id, message, timeout=timeout)
        if reply.get("event") == "error":
            raise HubError(str(reply.get("error", "error in project")))

    def turn(self, session: Session, project_id: Any, path: str) -> Turn:
        """Take a place in line, before the first await of the handler: handlers start in
        the order their messages arrived, but their access checks may finish in any
        order, and a worksheet's cells must reach the project in the client's order."""
        return Turn(self._turns, (session.session_id, str(project_id), path))

    async def execute(
        self,
        msg: SagewsExecuteCode,
        project_id: UUID,
        session: Session,
        db: Database,
        turn: Turn,
    ) -> Reply:
        outer_id = msg.id if isinstance(msg.id, str) else None
        cells = self._cells.get(session.session_id, 0)
        limit = self.settings.worksheet_cells_per_client
        if cells >= limit:
            raise BadRequest(
                f"too many worksheet cells running or waiting on this connection (at most"
                f" {limit}); wait for one to finish or interrupt it"
            )
        self._cells[session.session_id] = cells + 1
        try:
            return await self._execute(msg, project_id, session, db, outer_id, turn)
        finally:
            left = self._cells.pop(session.session_id, 1) - 1
            if left > 0:
                self._cells[session.session_id] = left

    async def _execute(
        self,
        msg: SagewsExecuteCode,
        project_id: UUID,
        session: Session,
        db: Database,
        outer_id: str | None,
        turn: Turn,
    ) -> Reply:
        message: dict[str, Any] = {
            "event": "sagews_execute_code",
            "project_id": str(project_id),
            "path": msg.path,
            "code": msg.code,
            "preparse": msg.preparse,
            "window": self.settings.worksheet_output_window,
        }
        if isinstance(msg.cell_id, str):
            message["cell_id"] = msg.cell_id
        await turn.wait()
        try:
            conn = await self.links.get(project_id)
            call = await conn.open_call(message)
        finally:
            turn.done()  # sent (or failed): the next cell of this worksheet may go
        key = (session.session_id, outer_id) if outer_id is not None else None
        stream = _Stream(conn, call.id)
        if key is not None:
            self._streams[key] = stream
        rate = OutputRate(
            self.settings.stream_max_messages_per_s, self.settings.stream_max_bytes_per_s
        )
        finished = False
        half_window = max(1, self.settings.worksheet_output_window // 2)

        def notice_part() -> None:
            notice = rate.take_notice()
            if notice is not None:
                session.push(_part(outer_id, msg.path, {"stderr": f"\n{notice}\n"}, True))

        try:
            while True:
                item = await call.next_relayed(FOREVER_S, FOREVER_S)
                if not item.multi_response:
                    finished = True
                    last = item.message()
                    if last.get("event") == "error":
                        raise HubError(str(last.get("error", "error in project")))
                    notice_part()
                    return _part(outer_id, msg.path, last.get("output"), False)
                payload = item.payload or b""
                is_file = b'"file"' in payload
                if not rate.admit(len(payload)):
                    if is_file:
                        self._drop_blob(conn, item.message())
                    # acknowledged in batches: at half a window, or when nothing else
                    # waits here (the project may be waiting for this very ack)
                    stream.dropped += 1
                    if stream.dropped >= half_window or call.pending.replies.empty():
                        await stream.ack(stream.dropped)
                        stream.dropped = 0
                    continue
                stream.delivered += 1
                notice_part()
                if is_file:
                    part = item.message()
                    await self._store_file(conn, db, project_id, part)
                    session.push(_part(outer_id, msg.path, part.get("output"), True))
                elif outer_id is not None and (data := item.with_id(call.id, outer_id)):
                    session.push_encoded(data)
                else:
                    session.push(_part(outer_id, msg.path, item.message().get("output"), True))
                await session.drain()
        finally:
            call.close()
            if key is not None and self._streams.get(key) is stream:
                del self._streams[key]
            if not finished and not conn.closed:
                self._spawn(conn.send({"event": "sagews_forget", "call_id": call.id}))

    def ack(self, session_id: str, id_: str) -> None:
        """Acknowledge every part of the stream `id_` of this session sent so far.

        Never waits (the send is a task of its own), so the ack is handled in the
        session's reader: with every handler slot taken by cells queued behind a
        cell waiting for this very ack, a queued ack would never run.
        """
        stream = self._streams.get((session_id, id_))
        if stream is None:
            return  # the stream ended before its ack arrived
        count, stream.delivered = stream.delivered, 0
        if count > 0:
            self._spawn(stream.ack(count))

    async def _store_file(
        self, conn: ProjectConnection, db: Database, project_id: UUID, part: dict[str, Any]
    ) -> None:
        output = part.get("output")
        file = output.get("file") if isinstance(output, dict) else None
        if not isinstance(file, dict) or not isinstance(file.get("uuid"), str):
            return
        blob_id = file["uuid"]
        data = conn.take_blob(blob_id)
        if data is None:
            file.pop("uuid")
            file["error"] = "the file's bytes did not arrive"
            return
        name = file.get("filename") if isinstance(file.get("filename"), str) else None
        await blobs.save(
            db,
            UUID(blob_id),
            data,
            ttl_s=self.settings.blob_ttl_s,
            project_id=project_id,
            name=name,
        )
        file["url"] = f"/blobs/{blob_id}"

    def _drop_blob(self, conn: ProjectConnection, part: dict[str, Any]) -> None:
        output = part.get("output")
        file = output.get("file") if isinstance(output, dict) else None
        if isinstance(file, dict) and isinstance(file.get("uuid"), str):
            conn.take_blob(file["uuid"])

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(_quietly(coro))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class _Stream:
    """A running cell's call on the link, and the parts its client got since its last ack."""

    __slots__ = ("call_id", "conn", "delivered", "dropped")

    def __init__(self, conn: ProjectConnection, call_id: str) -> None:
        self.conn = conn
        self.call_id = call_id
        self.delivered = 0
        self.dropped = 0  # dropped by the rate limit, not yet acknowledged

    async def ack(self, count: int) -> None:
        if count <= 0:
            return
        message = {"event": "sagews_output_ack", "call_id": self.call_id, "count": count}
        with contextlib.suppress(HubError):
            await self.conn.send(message)


async def _quietly(coro: Any) -> None:
    with contextlib.suppress(HubError):
        await coro


def _part(id_: str | None, path: str, output: Any, more: bool) -> dict[str, Any]:
    part: dict[str, Any] = {"event": "sagews_output"}
    if id_ is not None:
        part["id"] = id_
    part["path"] = path
    part["output"] = output if isinstance(output, dict) else {}
    if more:
        part["multi_response"] = True
    return part
