"""The `query` event: get and set rows with CoCalc's semantics (hub/query/).

Changefeeds (`changes: true`) are not wired in yet: such a query is answered with
a clear error rather than a result that would never be followed by changes.
"""

from __future__ import annotations

from typing import Any

from hub.errors import BadRequest
from hub.handlers.context import Context
from hub.handlers.registry import Routes
from hub.protocol.messages import Query
from hub.query import run_user_query

routes = Routes()

FEEDS_NOT_YET = "changefeeds (changes: true) are not available on this hub yet"


@routes.handler(Query, signed_in=False, http_needs_key=True)
async def query(msg: Query, ctx: Context) -> Query:
    """Run the query; the reply is the request with `query` replaced by the result."""
    if msg.changes is True or (isinstance(msg.changes, str) and msg.changes):
        raise BadRequest(FEEDS_NOT_YET)
    options: list[Any] | None
    if isinstance(msg.options, list):
        options = msg.options
    elif isinstance(msg.options, dict):
        options = [msg.options]
    else:
        options = None
    async with ctx.session.query_limiter().slot():
        result = await run_user_query(ctx.hub.db, ctx.identity, msg.query, options)
    return Query(
        id=msg.id,
        query=result,
        changes=msg.changes,
        multi_response=msg.multi_response,
        options=msg.options,
    )
