"""Relaying work to a project's local hub: `project_exec` and the generic `local_hub`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import msgspec

from hub.errors import BadRequest, HubError
from hub.handlers.context import Context
from hub.handlers.registry import Routes
from hub.projects.access import require
from hub.protocol import Message, Reply
from hub.protocol.messages import LocalHub, ProjectExec

routes = Routes()

# The project enforces a command's own timeout; the hub waits this much longer
# before giving up on the reply (start-up of a stopped project included).
REPLY_MARGIN_S = 15.0
DEFAULT_LOCAL_HUB_TIMEOUT_S = 30.0


def to_project(msg: Message) -> dict[str, Any]:
    """The request as the project sees it: the same fields, without the client's id."""
    message: dict[str, Any] = msgspec.to_builtins(msg)
    message.pop("id", None)
    return message


async def last_reply(replies: AsyncIterator[dict[str, Any]]) -> dict[str, Any]:
    """The final reply of a call (streams: the message without multi_response)."""
    last: dict[str, Any] = {"event": "error", "error": "no reply from the project"}
    async for reply in replies:
        last = reply
    return last


def raise_if_error(reply: dict[str, Any]) -> dict[str, Any]:
    if reply.get("event") == "error":
        raise HubError(str(reply.get("error", "error in project")))
    return reply


async def call_project(
    ctx: Context, project_id: UUID, message: dict[str, Any], timeout: float
) -> dict[str, Any]:
    reply = await ctx.hub.projects.call(project_id, message, timeout=timeout)
    return raise_if_error(reply)


@routes.handler(ProjectExec)
async def project_exec(msg: ProjectExec, ctx: Context) -> Reply:
    await require(ctx, msg.project_id, "write")
    timeout = float(msg.timeout) + REPLY_MARGIN_S
    reply = await call_project(ctx, msg.project_id, to_project(msg), timeout)
    reply["id"] = msg.id if isinstance(msg.id, str) else None
    if reply["id"] is None:
        del reply["id"]
    return reply


@routes.handler(LocalHub)
async def local_hub(msg: LocalHub, ctx: Context) -> Reply | None:
    """Relay any message to the project; replies come back with this request's id."""
    await require(ctx, msg.project_id, "write")
    message = dict(msg.message)
    if not isinstance(message.get("event"), str):
        raise BadRequest("message must be an object with an 'event' field")
    message.pop("id", None)
    message["project_id"] = str(msg.project_id)
    timeout = float(msg.timeout) if isinstance(msg.timeout, int | float) else None
    timeout = timeout if timeout and timeout > 0 else DEFAULT_LOCAL_HUB_TIMEOUT_S
    outer_id = msg.id if isinstance(msg.id, str) else None
    if not msg.multi_response:
        reply = await call_project(ctx, msg.project_id, message, timeout)
        _set_id(reply, outer_id)
        return reply
    last: dict[str, Any] | None = None
    async for reply in ctx.hub.projects.stream(msg.project_id, message, timeout=timeout):
        _set_id(reply, outer_id)
        if reply.get("multi_response") is True:
            ctx.session.push(reply)
            await ctx.session.drain()
        else:
            last = reply
    return last


def _set_id(reply: dict[str, Any], outer_id: str | None) -> None:
    if outer_id is None:
        reply.pop("id", None)
    else:
        reply["id"] = outer_id
