"""Terminal events: `start_session` (type console), `terminal_resize`, `terminal_detach`.

The terminal's bytes do not pass through here: they travel as binary WebSocket
frames (see hub/live/terminals.py and docs/terminals.md).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from msgspec import UnsetType

from hub.errors import BadRequest
from hub.handlers.context import Context
from hub.handlers.registry import Routes
from hub.projects.access import require
from hub.protocol import Reply
from hub.protocol.messages import StartSession, Success, TerminalDetach, TerminalResize

routes = Routes()

PARAMS = ("command", "args", "path", "rows", "cols")


@routes.handler(StartSession)
async def start_session(msg: StartSession, ctx: Context) -> Reply | None:
    if msg.type != "console":
        raise BadRequest(f"unknown session type '{msg.type}' (only 'console')")
    if isinstance(msg.project_id, UnsetType):
        raise BadRequest("start_session needs a project_id")
    await require(ctx, msg.project_id, "write")
    if ctx.session.kind != "websocket":
        raise BadRequest("a terminal needs a WebSocket connection (its bytes are binary frames)")
    if isinstance(msg.session_uuid, UnsetType):
        session_uuid = str(uuid4())
    else:
        try:
            session_uuid = str(UUID(msg.session_uuid))
        except ValueError:
            raise BadRequest(f"session_uuid '{msg.session_uuid[:64]}' is not a uuid") from None
    params: dict[str, Any] = {}
    if not isinstance(msg.params, UnsetType):
        params = {k: msg.params[k] for k in PARAMS if msg.params.get(k) is not None}
    ctx.hub.live.audience.join(msg.project_id, ctx.session, session_uuid=session_uuid)
    request_id = msg.id if isinstance(msg.id, str) else None
    await ctx.hub.live.terminals.start(
        ctx.session, msg.project_id, session_uuid, params, request_id
    )
    return None  # session_started was pushed, ahead of the scrollback


@routes.handler(TerminalResize)
async def terminal_resize(msg: TerminalResize, ctx: Context) -> Reply:
    await ctx.hub.live.terminals.resize(ctx.session, msg.session_uuid, msg.rows, msg.cols)
    return Success()


@routes.handler(TerminalDetach)
async def terminal_detach(msg: TerminalDetach, ctx: Context) -> Reply:
    ctx.hub.live.terminals.detach(ctx.session, msg.session_uuid)
    return Success()
