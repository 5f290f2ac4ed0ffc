"""The `query` event: get and set rows with CoCalc's semantics (hub/query/).

With `changes: true` (over the WebSocket) the first reply is the result, then every
change arrives with the same id (see hub/query/feeds.py); `query_cancel` ends it.
"""

from __future__ import annotations

from typing import Any

from hub.errors import BadRequest
from hub.handlers.context import Context
from hub.handlers.registry import Routes
from hub.protocol.messages import Query, QueryCancel, Success
from hub.query import run_user_query
from hub.query.feeds import Feed, plan_feed

routes = Routes()


@routes.handler(Query, signed_in=False, http_needs_key=True)
async def query(msg: Query, ctx: Context) -> Query | None:
    """Run the query; the reply is the request with `query` replaced by the result."""
    options: list[Any] | None
    if isinstance(msg.options, list):
        options = msg.options
    elif isinstance(msg.options, dict):
        options = [msg.options]
    else:
        options = None
    if msg.changes is True or (isinstance(msg.changes, str) and msg.changes):
        await _feed(msg, ctx, options)
        return None
    async with ctx.session.query_limiter().slot():
        result = await run_user_query(ctx.hub.db, ctx.identity, msg.query, options)
    return Query(
        id=msg.id,
        query=result,
        changes=msg.changes,
        multi_response=msg.multi_response,
        options=msg.options,
    )


async def _feed(msg: Query, ctx: Context, options: list[Any] | None) -> None:
    feeds = ctx.hub.feeds
    if ctx.session.kind != "websocket" or feeds is None:
        raise BadRequest("changefeeds need a WebSocket connection")
    if not isinstance(msg.id, str):
        raise BadRequest("a changefeed needs an id")
    table, fields, equals, conditions = plan_feed(ctx.identity, msg.query, options)
    since = _since(options)
    feed = Feed(msg.id, table, ctx.identity, fields, equals, ctx.session.push, conditions)
    feeds.add(ctx.session, feed)  # changes from now on wait in the feed until it starts
    try:
        async with ctx.session.query_limiter().slot():
            await feeds.change_log.wait_caught_up()
            if since is not None:
                missed = await feeds.change_log.read_since(since)
                if missed is not None:
                    ctx.session.push(
                        {"event": "query", "id": msg.id, "multi_response": True, "query": {}}
                    )
                    feed.resume(since, missed)
                    return
            result = await run_user_query(ctx.hub.db, ctx.identity, msg.query, options)
    except BaseException:
        feeds.cancel(ctx.session, msg.id)
        raise
    found = result.get(table.name) if isinstance(result, dict) else None
    initial = found if isinstance(found, list) else [found] if isinstance(found, dict) else []
    reply: dict[str, Any] = {
        "event": "query",
        "id": msg.id,
        "query": result,
        "changes": msg.changes,
        "multi_response": True,
    }
    if isinstance(msg.options, list | dict):
        reply["options"] = msg.options
    if since is not None:
        reply["resync"] = True  # too old to resume: here is the whole result again
    ctx.session.push(reply)
    feed.start(initial)


def _since(options: list[Any] | None) -> int | None:
    for option in options or []:
        if isinstance(option, dict) and isinstance(option.get("since"), int):
            return int(option["since"])
    return None


@routes.handler(QueryCancel, signed_in=False)
async def query_cancel(msg: QueryCancel, ctx: Context) -> Success:
    """End the changefeed with this id (of this connection)."""
    if ctx.hub.feeds is not None and isinstance(msg.id, str):
        ctx.hub.feeds.cancel(ctx.session, msg.id)
    return Success(id=msg.id)
