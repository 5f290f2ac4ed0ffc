"""save_blob: blobs named by their content, kept for a ttl or forever, stored once.

Two senders, as in CoCalc:

- a project, over its link: blob frames named `uuidsha1(data)`, then
  `{"event": "save_blob", "sha1": <that uuid>, "ttl": <s>}` without an id. The
  hub checks the name against the bytes, stores them (for the project, for
  `ttl` capped at `save_blob_max_ttl_s`, default `save_blob_project_ttl_s`) and
  answers on the link `{"event": "save_blob", "sha1": …, "ttl": …}`, or the same
  with `error`. (CoCalc saved on the blob frame alone; here the JSON message
  marks the end of a blob the link may have split into several frames.)
- a client: `save_blob {sha1, ttl}` keeps a blob it may read (its project's, or
  its own) for `ttl` more seconds, or forever when `ttl` is absent or 0. `sha1`
  is the blob's uuid (as CoCalc names it) or the 40-digit SHA-1 hex. The reply
  is `save_blob {id, sha1: <uuid>, ttl}`.

Saving never shortens a blob's life; expired blobs go with the hourly clean-up.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any
from uuid import UUID

import structlog
from msgspec import UnsetType

from hub.db import sha1_blobs
from hub.errors import BadRequest, HubError
from hub.handlers.context import Context
from hub.handlers.registry import Routes
from hub.projects.access import require
from hub.protocol.messages import SaveBlob

if TYPE_CHECKING:
    from hub.state import HubState

log = structlog.get_logger()
routes = Routes()

NO_SUCH_BLOB = "no such blob (unknown or expired)"


@routes.handler(SaveBlob)
async def save_blob(msg: SaveBlob, ctx: Context) -> SaveBlob:
    identity = ctx.identity
    assert identity is not None
    ttl: float | None = None if isinstance(msg.ttl, UnsetType) else msg.ttl
    if ttl is not None and ttl < 0:
        raise BadRequest("ttl must be a number of seconds >= 0 (0 or none: forever)")
    found = await sha1_blobs.find(ctx.hub.db, msg.sha1.strip())
    if found is None:
        raise BadRequest(NO_SUCH_BLOB)
    blob_id, project_id, owner = found
    if project_id is not None:
        try:
            await require(ctx, project_id, "read")
        except HubError:
            raise BadRequest(NO_SUCH_BLOB) from None  # whether it exists is not told
    elif owner != identity.account_id and not identity.is_admin:
        raise BadRequest(NO_SUCH_BLOB)
    await sha1_blobs.keep(ctx.hub.db, blob_id, ttl_s=ttl or None)
    return SaveBlob(id=msg.id, sha1=str(blob_id), ttl=ttl or 0)


class ProjectBlobSaver:
    """The hub's side of a project's save_blob (listener on the project links)."""

    def __init__(self, state: HubState) -> None:
        self.state = state
        self._tasks: set[asyncio.Task[None]] = set()

    def install(self) -> None:
        self.state.projects.event_listeners["save_blob"] = self.on_message

    def on_message(self, project_id: UUID, message: dict[str, Any]) -> None:
        task = asyncio.get_running_loop().create_task(self._save(project_id, message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _save(self, project_id: UUID, message: dict[str, Any]) -> None:
        links = self.state.projects
        if project_id not in links.linked():
            return  # the link went: nobody to answer
        conn = await links.get(project_id)
        name = message.get("sha1")
        reply: dict[str, Any] = {"event": "save_blob", "sha1": name}
        try:
            reply["ttl"] = await self._store(conn, project_id, name, message.get("ttl"))
        except HubError as exc:
            reply["error"] = exc.text
        with contextlib.suppress(HubError):  # the link closed meanwhile
            await conn.send(reply)

    async def _store(self, conn: Any, project_id: UUID, name: Any, ttl: Any) -> float:
        settings = self.state.settings
        if not isinstance(name, str):
            raise BadRequest("save_blob needs sha1: the uuid its blob frames were named by")
        data = conn.take_blob(name)
        if data is None:
            raise BadRequest(f"no blob frame named {name[:36]} came before save_blob")
        if sha1_blobs.uuidsha1(data) != name:
            raise BadRequest("the blob's content does not match its name (uuidsha1 of the data)")
        if ttl is None:
            ttl_s = settings.save_blob_project_ttl_s
        elif isinstance(ttl, bool) or not isinstance(ttl, int | float) or ttl < 0:
            raise BadRequest("ttl must be a number of seconds >= 0")
        else:
            ttl_s = min(float(ttl) or settings.save_blob_max_ttl_s, settings.save_blob_max_ttl_s)
        await sha1_blobs.save(self.state.db, data, ttl_s=ttl_s, project_id=project_id)
        return ttl_s

    async def close(self) -> None:
        if self.state.projects.event_listeners.get("save_blob") == self.on_message:
            del self.state.projects.event_listeners["save_blob"]
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
