"""Relaying work to a project's local hub: `project_exec` and the generic `local_hub`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import msgspec

from hub.errors import BadRequest, HubError
from hub.handlers.context import Context
from hub.handlers.registry import Routes
from hub.live.output_rate import OutputRate
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


async def relay_once(
    ctx: Context, project_id: UUID, message: dict[str, Any], timeout: float, outer_id: str | None
) -> Reply | None:
    """Relay one request and pass its reply on with the client's id: as the project's
    own bytes when they can be rewritten (nothing decoded or encoded again)."""
    conn = await ctx.hub.projects.get(project_id)
    call = await conn.open_call(message)
    try:
        item = await call.next_relayed(timeout, timeout)
    finally:
        call.close()
    if item.event == "error":
        raise_if_error(item.message())
    if outer_id is not None:
        data = item.with_id(call.id, outer_id)
        if data is not None:
            ctx.session.push_encoded(data)
            return None
    reply = item.message()
    _set_id(reply, outer_id)
    return reply


@routes.handler(ProjectExec)
async def project_exec(msg: ProjectExec, ctx: Context) -> Reply | None:
    await require(ctx, msg.project_id, "write")
    ctx.hub.live.audience.join(msg.project_id, ctx.session)
    timeout = float(msg.timeout) + REPLY_MARGIN_S
    outer_id = msg.id if isinstance(msg.id, str) else None
    return await relay_once(ctx, msg.project_id, to_project(msg), timeout, outer_id)


@routes.handler(LocalHub)
async def local_hub(msg: LocalHub, ctx: Context) -> Reply | None:
    """Relay any message to the project; replies come back with this request's id."""
    await require(ctx, msg.project_id, "write")
    ctx.hub.live.audience.join(msg.project_id, ctx.session)
    message = dict(msg.message)
    if not isinstance(message.get("event"), str):
        raise BadRequest("message must be an object with an 'event' field")
    message.pop("id", None)
    message["project_id"] = str(msg.project_id)
    timeout = float(msg.timeout) if isinstance(msg.timeout, int | float) else None
    timeout = timeout if timeout and timeout > 0 else DEFAULT_LOCAL_HUB_TIMEOUT_S
    outer_id = msg.id if isinstance(msg.id, str) else None
    if not msg.multi_response:
        return await relay_once(ctx, msg.project_id, message, timeout, outer_id)
    conn = await ctx.hub.projects.get(msg.project_id)
    call = await conn.open_call(message)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    settings = ctx.hub.settings
    rate = OutputRate(settings.stream_max_messages_per_s, settings.stream_max_bytes_per_s)
    try:
        while True:
            item = await call.next_relayed(deadline - loop.time(), timeout)
            if not item.multi_response:
                last = item.message()
                _set_id(last, outer_id)
                _push_notice(ctx, rate, outer_id)
                return last
            if not rate.admit(len(item.payload or b"")):
                continue  # over the stream's rate: dropped, and counted for the notice
            _push_notice(ctx, rate, outer_id)
            # the parts of a stream pass through as bytes, only their id rewritten
            data = item.with_id(call.id, outer_id) if outer_id is not None else None
            if data is not None:
                ctx.session.push_encoded(data)
            else:
                part = item.message()
                _set_id(part, outer_id)
                ctx.session.push(part)
            await ctx.session.drain()
    finally:
        call.close()


def _push_notice(ctx: Context, rate: OutputRate, outer_id: str | None) -> None:
    """Tell the client what the rate limit dropped (the relay cannot know the parts' shape,
    so the notice is a generic `output` part of the same stream)."""
    notice = rate.take_notice()
    if notice is not None:
        part: dict[str, Any] = {"event": "output", "stderr": notice, "multi_response": True}
        _set_id(part, outer_id)
        ctx.session.push(part)


def _set_id(reply: dict[str, Any], outer_id: str | None) -> None:
    if outer_id is None:
        reply.pop("id", None)
    else:
        reply["id"] = outer_id
