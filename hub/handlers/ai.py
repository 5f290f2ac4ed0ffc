"""chatgpt and openai_embeddings_save/search/remove (the work is in hub/ai/)."""

from __future__ import annotations

from typing import Any

import msgspec

from hub.ai import embeddings
from hub.ai.chat import chatgpt as relay_chat
from hub.handlers.context import Context
from hub.handlers.registry import Routes
from hub.protocol import Reply
from hub.protocol.messages import (
    Chatgpt,
    OpenaiEmbeddingsRemove,
    OpenaiEmbeddingsSave,
    OpenaiEmbeddingsSearch,
)

routes = Routes()


def _given(value: Any) -> Any:
    return None if value is msgspec.UNSET else value


@routes.handler(Chatgpt)
async def chatgpt(msg: Chatgpt, ctx: Context) -> Reply | None:
    return await relay_chat(msg, ctx)


@routes.handler(OpenaiEmbeddingsSave)
async def openai_embeddings_save(msg: OpenaiEmbeddingsSave, ctx: Context) -> Reply:
    ids = await embeddings.save(ctx, msg.project_id, msg.path, msg.data)
    return {"event": "openai_embeddings_save_response", "ids": ids}


@routes.handler(OpenaiEmbeddingsRemove)
async def openai_embeddings_remove(msg: OpenaiEmbeddingsRemove, ctx: Context) -> Reply:
    ids = await embeddings.remove(ctx, msg.project_id, msg.path, msg.data)
    return {"event": "openai_embeddings_remove_response", "ids": ids}


@routes.handler(OpenaiEmbeddingsSearch)
async def openai_embeddings_search(msg: OpenaiEmbeddingsSearch, ctx: Context) -> Reply:
    matches = await embeddings.search(
        ctx,
        scope=msg.scope,
        text=_given(msg.text),
        filter_=_given(msg.filter),
        limit=msg.limit,
        selector=_given(msg.selector),
        offset=_given(msg.offset),
    )
    return {"event": "openai_embeddings_search_response", "matches": matches}
