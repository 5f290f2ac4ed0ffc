"""`chatgpt`: a question relayed to the operator's OpenAI-compatible chat endpoint.

The request becomes `messages` = [system?] + history + [user text]. Before the
endpoint is called: the model must be allowed, the prompt (estimated at four
characters a token) must leave room for a reply within `ai_max_tokens`, and the
account must be under `ai_requests_per_minute` and `ai_tokens_per_day`. The reply's
`max_tokens` is what remains of the request's budget (and of the day's). The tokens
the endpoint reports (or the estimate when it reports none) are added to the day's.

With `stream: true` on a WebSocket the text arrives as `chatgpt_response` parts with
`multi_response: true`, each carrying the next piece; the last message is a
`chatgpt_response` without `text` and without `multi_response`, as CoCalc sent it
(the client has joined the pieces by then). Over HTTP there is only one reply, so
a streamed request is answered with the whole text at once.
"""

from __future__ import annotations

import time
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import structlog

from hub.ai.client import Completion, Endpoint
from hub.ai.usage import estimate_tokens, record, require_configured, take
from hub.config import Settings
from hub.errors import BadRequest, HubError
from hub.handlers.context import Context
from hub.live.output_rate import OutputRate
from hub.projects.access import require
from hub.protocol import Reply
from hub.protocol.messages import Chatgpt

log = structlog.get_logger(__name__)

ROLES = ("system", "user", "assistant")


def allowed_models(settings: Settings) -> list[str]:
    models = [m.strip() for m in settings.ai_models.split(",") if m.strip()]
    default = settings.ai_default_model.strip()
    if default and default not in models:
        models.insert(0, default)
    return models


def choose_model(settings: Settings, asked: Any) -> str:
    allowed = allowed_models(settings)
    if not isinstance(asked, str) or not asked:
        if not allowed:
            raise HubError("no AI model is configured on this server (ai_default_model)")
        return allowed[0]
    if asked not in allowed:
        raise BadRequest(
            f"model '{asked[:100]}' is not available on this server; use one of: "
            + ", ".join(allowed)
        )
    return asked


def build_messages(msg: Chatgpt) -> list[dict[str, str]]:
    if not msg.text.strip():
        raise BadRequest("chatgpt: text must not be empty")
    messages: list[dict[str, str]] = []
    if isinstance(msg.system, str) and msg.system:
        messages.append({"role": "system", "content": msg.system})
    history = msg.history if isinstance(msg.history, list) else []
    for i, item in enumerate(history):
        if not isinstance(item, dict):
            raise BadRequest(f"chatgpt: history[{i}] must be an object {{role, content}}")
        role, content = item.get("role"), item.get("content")
        if role not in ROLES or not isinstance(content, str):
            raise BadRequest(
                f"chatgpt: history[{i}] needs a role ({', '.join(ROLES)}) and a content string"
            )
        messages.append({"role": str(role), "content": content})
    messages.append({"role": "user", "content": msg.text})
    return messages


@dataclass(slots=True)
class Plan:
    body: dict[str, Any]
    prompt_tokens: int
    project_id: UUID | None
    path: str | None


async def plan(msg: Chatgpt, ctx: Context) -> Plan:
    """Everything checked that can be checked before counting the request."""
    settings = ctx.hub.settings
    require_configured(settings)
    model = choose_model(settings, msg.model)
    messages = build_messages(msg)
    prompt = estimate_tokens("".join(m["content"] for m in messages))
    if prompt >= settings.ai_max_tokens:
        raise BadRequest(
            f"chatgpt: the request is too long: about {prompt} tokens, and a request"
            f" (prompt and reply) may have at most {settings.ai_max_tokens}"
        )
    project_id = msg.project_id if isinstance(msg.project_id, UUID) else None
    if project_id is not None:
        await require(ctx, project_id, "write")
        ctx.hub.live.audience.join(project_id, ctx.session)
    path = msg.path if isinstance(msg.path, str) else None
    return Plan({"model": model, "messages": messages}, prompt, project_id, path)


async def chatgpt(msg: Chatgpt, ctx: Context) -> Reply | None:
    settings = ctx.hub.settings
    p = await plan(msg, ctx)
    row_id, tokens_left = await take(
        ctx.hub.db,
        settings,
        ctx.session.account_id,
        kind="chat",
        model=p.body["model"],
        project_id=p.project_id,
        path=p.path,
        tag=msg.tag[:1000] if isinstance(msg.tag, str) else None,
    )
    p.body["max_tokens"] = max(1, min(settings.ai_max_tokens - p.prompt_tokens, tokens_left))
    endpoint = Endpoint.of(settings)
    started = time.perf_counter()
    done = Completion("", None)
    try:
        if msg.stream is True and ctx.session.kind == "websocket":
            await _stream(endpoint, p.body, done, msg.id, ctx)
            reply: dict[str, Any] = {"event": "chatgpt_response"}
        else:
            done = await endpoint.chat(p.body)
            reply = {"event": "chatgpt_response", "text": done.text}
    finally:
        tokens = done.tokens
        if tokens is None and done.text:  # the endpoint did not count: our estimate
            tokens = p.prompt_tokens + estimate_tokens(done.text)
        tokens = tokens or 0  # a request that failed before any reply cost nothing
        await record(ctx.hub.db, row_id, tokens)
        log.info(
            "ai chat",
            model=p.body["model"],
            tokens=tokens,
            stream=msg.stream is True,
            seconds=round(time.perf_counter() - started, 3),
        )
    return reply


async def _stream(
    endpoint: Endpoint, body: dict[str, Any], done: Completion, request_id: Any, ctx: Context
) -> None:
    settings = ctx.hub.settings
    rate = OutputRate(settings.stream_max_messages_per_s, settings.stream_max_bytes_per_s)
    # pieces over the stream's rate are held and joined to the next one, never dropped:
    # a reply with words missing would be worse than a slower one
    pending = ""
    # closed at once (and its HTTP connection with it) when the client goes away
    async with aclosing(endpoint.chat_stream(body, done)) as pieces:
        async for piece in pieces:
            pending += piece
            if rate.admit(len(pending.encode())):
                _push_part(ctx, request_id, pending)
                pending = ""
                await ctx.session.drain()
    if pending:
        _push_part(ctx, request_id, pending)


def _push_part(ctx: Context, request_id: Any, text: str) -> None:
    part: dict[str, Any] = {"event": "chatgpt_response", "text": text, "multi_response": True}
    if isinstance(request_id, str):
        part["id"] = request_id
    ctx.session.push(part)
