"""Get queries: SELECT the requested fields of the rows the caller may see."""

from __future__ import annotations

import copy
from typing import Any

from hub.db.database import Queryable
from hub.handlers.context import Identity
from hub.query.access import require_read
from hub.query.parse import MAX_LIMIT, ParsedQuery, QueryError
from hub.query.schema import Table
from hub.query.values import convert, quote, to_json_value

COMPARISONS = {
    "=": "=",
    "==": "=",
    "!=": "<>",
    "<>": "<>",
    "<": "<",
    "<=": "<=",
    ">": ">",
    ">=": ">=",
}
LIKES = {"LIKE": "LIKE", "ILIKE": "ILIKE", "NOT LIKE": "NOT LIKE", "NOT ILIKE": "NOT ILIKE"}
OPERATORS = frozenset({*COMPARISONS, *LIKES, "IS", "IS NOT", "ANY", "MINLEN", "MAXLEN"})
_IS_VALUES: dict[Any, str] = {
    None: "NULL",
    "null": "NULL",
    "undefined": "NULL",
    "unknown": "UNKNOWN",
    True: "TRUE",
    "true": "TRUE",
    False: "FALSE",
    "false": "FALSE",
}


class Params:
    """Positional parameters of one statement: `add(value)` returns its `$n`."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def add(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def _operator_condition(table: Table, field: str, op: str, value: Any, p: Params) -> str:
    col = quote(field)
    kind = table.column(field).type
    if op in COMPARISONS:
        if kind == "jsonb":
            return f"{col} {COMPARISONS[op]} {p.add(value)}::jsonb"
        return f"{col} {COMPARISONS[op]} {p.add(convert(table, field, value))}::{kind}"
    if op in ("IS", "IS NOT"):
        key = value if value is None or isinstance(value, bool | str) else object()
        literal = _IS_VALUES.get(key)
        if literal is None:
            raise QueryError(f"FATAL: invalid value for {table.name}.{field}")
        return f"{col} {op} {literal}"
    if op in LIKES:
        if not isinstance(value, str):
            raise QueryError(f"FATAL: invalid value for {table.name}.{field}")
        return f"{col}::text {LIKES[op]} {p.add(value)}::text"
    if op == "ANY":
        if kind.endswith("[]"):
            elem = kind[:-2]
            return f"{p.add(convert(table, field, value, elem))}::{elem} = ANY({col})"
        if not isinstance(value, list):
            raise QueryError(f"FATAL: invalid value for {table.name}.{field}")
        if kind == "jsonb":
            return f"{col} = ANY({p.add(value)}::jsonb[])"
        values = [convert(table, field, v) for v in value]
        return f"{col} = ANY({p.add(values)}::{kind}[])"
    # MINLEN / MAXLEN
    if isinstance(value, bool) or not isinstance(value, int):
        raise QueryError(f"FATAL: invalid value for {table.name}.{field}")
    cmp = ">=" if op == "MINLEN" else "<="
    if kind.endswith("[]"):
        length = f"coalesce(array_length({col}, 1), 0)"
    elif kind == "jsonb":
        length = f"(CASE WHEN jsonb_typeof({col}) = 'array' THEN jsonb_array_length({col}) END)"
    else:
        length = f"char_length({col}::text)"
    return f"{length} {cmp} {p.add(value)}::integer"


def filter_condition(table: Table, field: str, value: Any, p: Params) -> str:
    """SQL for one non-null field of a get query (equality or operator object)."""
    if isinstance(value, dict) and value and all(k in OPERATORS for k in value):
        return " AND ".join(_operator_condition(table, field, op, v, p) for op, v in value.items())
    return _operator_condition(table, field, "=", value, p)


def _fill_defaults(table: Table, fields: list[str], row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields:
        value = to_json_value(row.get(f))
        default = table.column(f).default
        if default is not None:
            if value is None:
                value = copy.deepcopy(default)
            elif isinstance(value, dict) and isinstance(default, dict):
                value = {**copy.deepcopy(default), **value}
        if value is not None:
            out[f] = value
    return out


async def _rule_conditions(
    db: Queryable, identity: Identity | None, table: Table, row: dict[str, Any], p: Params
) -> list[str]:
    rule = table.get_rule
    if rule == "everyone":
        return []
    if rule == "public":
        if row.get("project_id") is None or isinstance(row["project_id"], dict | list):
            raise QueryError("FATAL: must specify project_id")
        return []  # the project_id filter itself restricts the rows
    if identity is None:
        raise QueryError(f"FATAL: anonymous get queries not allowed for table '{table.name}'")
    caller = identity.account_id
    if rule == "own_account":
        return [f"account_id = {p.add(caller)}::uuid"]
    if rule == "collaborators":
        return [
            "account_id IN (SELECT jsonb_object_keys(users)::uuid FROM projects"
            f" WHERE users ? {p.add(str(caller))}::text AND NOT deleted)",
            "NOT deleted",
        ]
    pid = row.get("project_id")
    if pid is None or isinstance(pid, dict | list):
        if rule == "project_id":
            raise QueryError("FATAL: must specify project_id")
        conds = [f"users ? {p.add(str(caller))}::text"]
        if identity.project_id is not None:
            conds.append(f"project_id = {p.add(identity.project_id)}::uuid")
        return conds
    await require_read(db, identity, convert(table, "project_id", pid))
    return []


async def run_get(
    db: Queryable, identity: Identity | None, table: Table, q: ParsedQuery
) -> dict[str, Any]:
    if not table.get_fields:
        raise QueryError(f"FATAL: get queries not allowed for table '{table.name}'")
    if identity is None and not table.anonymous_get:
        raise QueryError(f"FATAL: anonymous get queries not allowed for table '{table.name}'")
    fields = list(q.row)
    for f in fields:
        if f not in table.get_fields:
            raise QueryError(f"FATAL: user get query not allowed for {table.name}.{f}")
    p = Params()
    conds = await _rule_conditions(db, identity, table, q.row, p)
    if table.get_where:
        conds.append(table.get_where)
    for f, value in q.row.items():
        if value is not None:
            conds.append(filter_condition(table, f, value, p))
    select = ", ".join(quote(f) for f in fields) if fields else "1"
    sql = f"SELECT {select} FROM {quote(table.sql_table)}"
    if conds:
        sql += " WHERE " + " AND ".join(f"({c})" for c in conds)
    order_by = q.options.order_by or ([table.default_order_by] if table.default_order_by else [])
    terms = []
    for term in order_by:
        name = term.lstrip("-")
        if name not in table.get_fields:
            raise QueryError(f"FATAL: user get query not allowed for {table.name}.{name}")
        terms.append(quote(name) + (" DESC" if term.startswith("-") else ""))
    if terms:
        sql += " ORDER BY " + ", ".join(terms)
    if q.multi:
        limit = q.options.limit
        if limit is None:
            limit = table.default_limit if table.default_limit is not None else MAX_LIMIT
    else:
        limit = 1
    sql += f" LIMIT {p.add(limit)}::integer"
    records = await db.fetch(sql, *p.values)
    rows = [_fill_defaults(table, fields, dict(r)) for r in records]
    if q.multi:
        return {table.name: rows}
    return {table.name: rows[0]} if rows else {}
