"""Pure parsing of a user query: which table, which rows, get or set, which options.

A query is `{table: {...}}` (one row) or `{table: [{...}]}` (many). It is a get
if any leaf is null, else a set; options `[{set: true|false}]` override. The
strings `{account_id}`, `{project_id}` and `{now}` are substituted anywhere.
Errors are `QueryError`s worded as CoCalc words them.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from hub.errors import BadRequest

MAX_LIMIT = 100_000
# account_id: an admin's "sudo" (handled in run.py); since: changefeed resume
KNOWN_OPTIONS = frozenset(
    {"limit", "order_by", "set", "delete", "only_changes", "heartbeat", "since", "account_id"}
)


class QueryError(BadRequest):
    """A user query the hub refuses, with CoCalc's text (mostly `FATAL: ...`)."""


@dataclass(slots=True)
class Options:
    limit: int | None = None
    order_by: list[str] = field(default_factory=list)  # "-field" means descending
    set: bool | None = None
    delete: bool = False
    sudo: str | None = None  # options [{account_id: ...}]: run as that account (admins only)


@dataclass(slots=True)
class ParsedQuery:
    table: str
    row: dict[str, Any]
    multi: bool
    is_set: bool
    options: Options


def has_null_leaf(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, dict):
        return any(has_null_leaf(v) for v in value.values())
    if isinstance(value, list):
        return any(has_null_leaf(v) for v in value)
    return False


def substitute(value: Any, subs: dict[str, Any]) -> Any:
    """`value` with every string equal to a key of `subs` replaced (keys of dicts too)."""
    if isinstance(value, str):
        return subs.get(value, value)
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for k, v in value.items():
            key = subs.get(k, k) if isinstance(k, str) else k
            out[str(key)] = substitute(v, subs)
        return out
    if isinstance(value, list):
        return [substitute(v, subs) for v in value]
    return value


def substitutions(account_id: str | None, project_id: str | None) -> dict[str, Any]:
    subs: dict[str, Any] = {"{now}": datetime.datetime.now(datetime.UTC)}
    if account_id is not None:
        subs["{account_id}"] = account_id
    if project_id is not None:
        subs["{project_id}"] = project_id
    return subs


def parse_options(options: Any) -> Options:
    r = Options()
    if options is None:
        return r
    if not isinstance(options, list):
        raise QueryError("FATAL: options must be an array")
    for item in options:
        if not isinstance(item, dict):
            raise QueryError("FATAL: options must be an array of objects")
        for name, value in item.items():
            if name == "limit":
                try:
                    limit = int(value)
                except (TypeError, ValueError):
                    limit = MAX_LIMIT
                r.limit = max(0, min(limit, MAX_LIMIT))
            elif name == "order_by":
                if not isinstance(value, str) or not value.lstrip("-"):
                    raise QueryError("FATAL: order_by must be a field name")
                r.order_by.append(value)
            elif name == "set":
                r.set = bool(value)
            elif name == "delete":
                r.delete = bool(value)
            elif name == "account_id":
                r.sudo = str(value)
            elif name == "slice":
                raise QueryError("slice not implemented")
            elif name not in KNOWN_OPTIONS:
                raise QueryError(f"unknown option '{name}'")
    return r


def parse_query(query: Any, options: Any, subs: dict[str, Any]) -> ParsedQuery:
    """One table's query (not an array of them) parsed; raises `QueryError`."""
    if not isinstance(query, dict) or len(query) != 1:
        raise QueryError("FATAL: must specify exactly one key in the query")
    opts = parse_options(options)
    ((table, value),) = query.items()
    multi = False
    if isinstance(value, list):
        if len(value) > 1:
            raise QueryError("FATAL: array of length > 1 not yet implemented")
        multi = True
        value = value[0] if value else {}
    if not isinstance(value, dict):
        raise QueryError(f"FATAL: invalid user_query of '{table}' -- query must be an object")
    row = substitute(value, subs)
    is_set = not has_null_leaf(row) if opts.set is None else opts.set
    return ParsedQuery(table=str(table), row=row, multi=multi, is_set=is_set, options=opts)
