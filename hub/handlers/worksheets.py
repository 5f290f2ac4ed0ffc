"""`sagews_*`: worksheets in a project (the relay is hub/live/worksheets.py).

Every request names its project (`project_id`) and needs write access to it;
the caller joins the project's audience, so `execute_javascript` from a cell
reaches it. `sagews_output_ack` is never answered (it may arrive after its
stream ended, which is not an error). These are not HTTP API events; execute
refuses any session but a WebSocket all the same.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from msgspec import UnsetType

from hub.errors import BadRequest
from hub.handlers.context import Context
from hub.handlers.registry import Routes
from hub.projects.access import require
from hub.protocol import Reply
from hub.protocol.messages import (
    SagewsExecuteCode,
    SagewsInterrupt,
    SagewsOutputAck,
    SagewsQuit,
    SagewsStart,
    Success,
)

routes = Routes()


async def _project(ctx: Context, project_id: UUID | UnsetType) -> UUID:
    if not isinstance(project_id, UUID):
        raise BadRequest("project_id is required")
    await require(ctx, project_id, "write")
    ctx.hub.live.audience.join(project_id, ctx.session)
    return project_id


def _message(event: str, project_id: UUID, path: str) -> dict[str, Any]:
    return {"event": event, "project_id": str(project_id), "path": path}


@routes.handler(SagewsStart)
async def sagews_start(msg: SagewsStart, ctx: Context) -> Reply:
    project_id = await _project(ctx, msg.project_id)
    await ctx.hub.live.worksheets.call(project_id, _message("sagews_start", project_id, msg.path))
    return Success(id=msg.id)


@routes.handler(SagewsExecuteCode)
async def sagews_execute_code(msg: SagewsExecuteCode, ctx: Context) -> Reply:
    if ctx.session.kind != "websocket":
        # a cell's parts and its acks need a connection; HTTP sends one reply
        raise BadRequest("sagews_execute_code streams its output: use the WebSocket")
    if not isinstance(msg.id, str):
        # the parts carry it, and acks name it
        raise BadRequest("sagews_execute_code needs an id")
    relay = ctx.hub.live.worksheets
    turn = relay.turn(ctx.session, msg.project_id, msg.path)  # before any await
    try:
        project_id = await _project(ctx, msg.project_id)
        return await relay.execute(msg, project_id, ctx.session, ctx.hub.db, turn)
    finally:
        turn.done()


# inline: an ack must not wait for a handler slot held by the cells it unblocks
@routes.handler(SagewsOutputAck, inline=True)
async def sagews_output_ack(msg: SagewsOutputAck, ctx: Context) -> Reply | None:
    ctx.hub.live.worksheets.ack(ctx.session.session_id, msg.id)
    return None


@routes.handler(SagewsInterrupt)
async def sagews_interrupt(msg: SagewsInterrupt, ctx: Context) -> Reply:
    project_id = await _project(ctx, msg.project_id)
    message = _message("sagews_interrupt", project_id, msg.path)
    await ctx.hub.live.worksheets.call(project_id, message)
    return Success(id=msg.id)


@routes.handler(SagewsQuit)
async def sagews_quit(msg: SagewsQuit, ctx: Context) -> Reply:
    project_id = await _project(ctx, msg.project_id)
    await ctx.hub.live.worksheets.call(project_id, _message("sagews_quit", project_id, msg.path))
    return Success(id=msg.id)
