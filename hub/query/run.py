"""The entry point: run one user query (get or set) as a caller.

    result = await run_user_query(db, identity, {"accounts": {"editor_settings": None}}, None)
    # -> {"accounts": {"editor_settings": {...}}}   (a set returns {})

An admin may run a query as another account with options `[{"account_id": ...}]`.
`query` may also be an array of such queries, run in order (result: an array).
Errors are `hub.query.parse.QueryError` (a `BadRequest`) with CoCalc's texts.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from hub.db.database import Queryable
from hub.handlers.context import Identity
from hub.query.get import run_get
from hub.query.parse import QueryError, parse_options, parse_query, substitutions
from hub.query.schema import TABLES
from hub.query.set import run_set


async def run_user_query(
    db: Queryable, identity: Identity | None, query: Any, options: list[dict[str, Any]] | None
) -> Any:
    """The value that replaces `query` in the reply; raises `QueryError` (a HubError)."""
    if query is None:
        raise QueryError("malformed query")
    sudo = parse_options(options).sudo
    if sudo is not None:
        if identity is None or not identity.is_admin:
            raise QueryError("user must be admin to sudo")
        try:
            identity = Identity(account_id=UUID(sudo))
        except ValueError:
            raise QueryError("FATAL: invalid account_id to sudo as") from None
    if isinstance(query, list):
        return [await _run_one(db, identity, q, options) for q in query]
    return await _run_one(db, identity, query, options)


async def _run_one(
    db: Queryable, identity: Identity | None, query: Any, options: list[dict[str, Any]] | None
) -> Any:
    subs = substitutions(
        str(identity.account_id) if identity else None,
        str(identity.project_id) if identity and identity.project_id else None,
    )
    q = parse_query(query, options, subs)
    table = TABLES.get(q.table)
    if table is None:
        raise QueryError(f"FATAL: table '{q.table}' does not exist")
    if q.is_set:
        return await run_set(db, identity, table, q)
    return await run_get(db, identity, table, q)
