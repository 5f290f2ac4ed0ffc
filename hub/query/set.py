"""Set queries: write the caller's changes, deep-merging JSONB fields.

A JSONB field merges into the stored value (`hub_jsonb_merge`, migration 0003):
`{"editor_settings": {"jupyter_classic": false}}` changes one key and a `null`
removes one. `account_id` fields are forced to the caller, `project_write`
fields need write access to that project.
"""

from __future__ import annotations

from typing import Any

from hub.db.database import Queryable
from hub.handlers.context import Identity
from hub.query.access import require_write
from hub.query.get import Params
from hub.query.parse import ParsedQuery, QueryError
from hub.query.schema import Table
from hub.query.values import convert, quote


async def run_set(
    db: Queryable, identity: Identity | None, table: Table, q: ParsedQuery
) -> dict[str, Any]:
    if not table.set_fields:
        raise QueryError(f"FATAL: user set queries not allowed for table '{table.name}'")
    if identity is None:
        raise QueryError("FATAL: no anonymous set queries")
    row = q.row
    for k in row:
        if k not in table.set_fields and k != table.primary_key:
            raise QueryError(f"FATAL: changing {table.name}.{k} not allowed")
    if table.admin_set and not identity.is_admin:
        raise QueryError("FATAL: user must be an admin")

    values: dict[str, Any] = {k: v for k, v in row.items() if v is not None}
    guard: str | None = None  # a column an existing row must keep (upsert break-in guard)
    for f, spec in table.set_fields.items():
        if spec == "account_id":
            values[f] = identity.account_id
        elif spec == "project_write":
            if values.get(f) is None:
                raise QueryError(f"FATAL: must specify {table.name}.{f}")
            values[f] = convert(table, f, values[f])
            await require_write(db, identity, values[f])
            guard = f
        elif spec == "computed":
            values.pop(f, None)
    if table.set_hook is not None:
        await table.set_hook(db, identity, values)

    pk = table.primary_key
    if values.get(pk) is None:
        raise QueryError(f"FATAL: query must specify (primary) key '{pk}'")
    params = Params()
    converted = {k: convert(table, k, v) for k, v in values.items()}

    if q.options.delete:
        if not table.allow_delete:
            raise QueryError(f"FATAL: delete from {table.name} not allowed")
        sql = (
            f"DELETE FROM {quote(table.sql_table)} WHERE {quote(pk)} = {params.add(converted[pk])}"
        )
        if guard is not None:
            sql += f" AND {quote(guard)} = {params.add(converted[guard])}"
        await db.execute(sql, *params.values)
        return {}

    changes = [k for k in converted if k != pk and table.set_fields.get(k) != "project_write"]
    if not changes and table.set_update_only:
        return {}  # nothing but keys: nothing to do

    def cast(k: str) -> str:
        return f"{params.add(converted[k])}::{table.column(k).type}"

    if table.set_update_only:
        sets = []
        for k in changes:
            if table.column(k).type == "jsonb":
                sets.append(f"{quote(k)} = hub_jsonb_merge({quote(k)}, {cast(k)})")
            else:
                sets.append(f"{quote(k)} = {cast(k)}")
        sql = (
            f"UPDATE {quote(table.sql_table)} SET {', '.join(sets)} WHERE {quote(pk)} = {cast(pk)}"
        )
        await db.execute(sql, *params.values)
        return {}

    cols = list(converted)
    # a new row's JSONB values are stored with their null keys dropped, as a merge would
    placeholders = ", ".join(
        f"hub_jsonb_merge(NULL, {cast(k)})" if table.column(k).type == "jsonb" else cast(k)
        for k in cols
    )
    t = quote(table.sql_table)
    updates = []
    for k in cols:
        if k == pk:
            continue
        if table.column(k).type == "jsonb":
            updates.append(f"{quote(k)} = hub_jsonb_merge({t}.{quote(k)}, EXCLUDED.{quote(k)})")
        else:
            updates.append(f"{quote(k)} = EXCLUDED.{quote(k)}")
    sql = (
        f"INSERT INTO {t} ({', '.join(quote(k) for k in cols)}) VALUES ({placeholders})"
        f" ON CONFLICT ({quote(pk)}) DO "
    )
    if updates:
        sql += "UPDATE SET " + ", ".join(updates)
        if guard is not None:
            sql += f" WHERE {t}.{quote(guard)} = EXCLUDED.{quote(guard)}"
    else:
        sql += "NOTHING"
    await db.execute(sql, *params.values)
    return {}
