"""A search's `filter`, in the subset of Qdrant's filter language CoCalc clients send,
turned into a parameterised SQL condition on `ai_embeddings`. No I/O.

    {"must": [c, …], "should": [c, …], "must_not": [c, …]}   (each optional)

a condition `c` is a nested filter of the same shape, `{"has_id": [uuid, …]}`, or
`{"key": K, …}` with one of
    "match": {"value": v}      equal (strings, numbers, booleans)
    "match": {"any": [v, …]}   equal to one of them
    "match": {"text": s}       url: starts with s; other keys: contains s
    "range": {"gt"|"gte"|"lt"|"lte": number, …}
where K is `url`, `text`, `hash`, or `meta.a.b` (a field inside the item's meta).
Anything else is refused with a clear message, never passed through.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from hub.errors import BadRequest

MAX_CONDITIONS = 64
MAX_DEPTH = 4
_COLUMNS = ("url", "text", "hash")
_RANGE_OPS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_META_KEY = re.compile(r"^meta(\.[A-Za-z0-9_\-]{1,100}){1,8}$")


class _Sql:
    def __init__(self) -> None:
        self.params: list[object] = []
        self.count = 0

    def param(self, value: object, cast: str) -> str:
        self.params.append(value)
        return f"${len(self.params)}::{cast}"


def to_sql(filter_: Any) -> tuple[str, list[object]]:
    """(condition, parameters numbered from $1); `TRUE` for no filter."""
    if filter_ is None:
        return "TRUE", []
    sql = _Sql()
    return _filter(filter_, sql, 0), sql.params


def _filter(value: Any, sql: _Sql, depth: int) -> str:
    if not isinstance(value, dict):
        raise BadRequest("filter must be an object with must, should or must_not lists")
    if depth > MAX_DEPTH:
        raise BadRequest(f"filter is nested deeper than {MAX_DEPTH} levels")
    unknown = set(value) - {"must", "should", "must_not"}
    if unknown:
        raise BadRequest(f"filter: unsupported field '{sorted(unknown)[0]}'")
    parts: list[str] = []
    for clause, joiner in (("must", " AND "), ("should", " OR "), ("must_not", " OR ")):
        items = value.get(clause)
        if items is None:
            continue
        if isinstance(items, dict):
            items = [items]
        if not isinstance(items, list):
            raise BadRequest(f"filter: {clause} must be a list of conditions")
        if not items:
            continue
        joined = "(" + joiner.join(_condition(c, sql, depth + 1) for c in items) + ")"
        parts.append(f"NOT {joined}" if clause == "must_not" else joined)
    return " AND ".join(parts) if parts else "TRUE"


def _condition(value: Any, sql: _Sql, depth: int) -> str:
    sql.count += 1
    if sql.count > MAX_CONDITIONS:
        raise BadRequest(f"filter has more than {MAX_CONDITIONS} conditions")
    if not isinstance(value, dict):
        raise BadRequest("filter: each condition must be an object")
    if "key" not in value:
        if "has_id" in value:
            return _has_id(value["has_id"], sql)
        return f"({_filter(value, sql, depth)})"
    key = value["key"]
    if not isinstance(key, str):
        raise BadRequest("filter: key must be a string")
    if "match" in value:
        return _match(key, value["match"], sql)
    if "range" in value:
        return _range(key, value["range"], sql)
    raise BadRequest(f"filter: condition on '{key[:100]}' needs match or range")


def _has_id(ids: Any, sql: _Sql) -> str:
    if not isinstance(ids, list):
        raise BadRequest("filter: has_id must be a list of point ids")
    try:
        parsed = [uuid.UUID(str(i)) for i in ids]
    except ValueError:
        raise BadRequest("filter: has_id must be a list of point ids (uuids)") from None
    return f"point_id = ANY({sql.param(parsed, 'uuid[]')})"


def _json_path(key: str) -> list[str]:
    if not _META_KEY.match(key):
        raise BadRequest(f"filter: unsupported key '{key[:100]}' (url, text, hash or meta.<field>)")
    return key.split(".")[1:]


def _scalar(value: Any) -> None:
    if not isinstance(value, str | int | float | bool) or value is None:
        raise BadRequest("filter: match values must be strings, numbers or booleans")


def _match(key: str, match: Any, sql: _Sql) -> str:
    if not isinstance(match, dict) or len(match) != 1:
        raise BadRequest("filter: match must be one of {value}, {any} or {text}")
    ((kind, value),) = match.items()
    if kind == "text":
        if not isinstance(value, str):
            raise BadRequest("filter: match.text must be a string")
        if key == "url":
            return f"starts_with(url, {sql.param(value, 'text')})"
        target = key if key in _COLUMNS else f"(meta #>> {sql.param(_json_path(key), 'text[]')})"
        return f"strpos({target}, {sql.param(value, 'text')}) > 0"
    if kind == "value":
        values = [value]
    elif kind == "any":
        if not isinstance(value, list) or not value:
            raise BadRequest("filter: match.any must be a nonempty list")
        values = value
    else:
        raise BadRequest(f"filter: unsupported match '{str(kind)[:50]}'")
    for v in values:
        _scalar(v)
    if key in _COLUMNS:
        if not all(isinstance(v, str) for v in values):
            raise BadRequest(f"filter: {key} is compared with strings")
        return f"{key} = ANY({sql.param(values, 'text[]')})"
    path = sql.param(_json_path(key), "text[]")
    return f"(meta #> {path}) = ANY({sql.param(values, 'jsonb[]')})"


def _range(key: str, range_: Any, sql: _Sql) -> str:
    if not isinstance(range_, dict) or not range_:
        raise BadRequest("filter: range must be an object with gt, gte, lt or lte")
    path = sql.param(_json_path(key), "text[]")
    number = (
        f"(CASE WHEN jsonb_typeof(meta #> {path}) = 'number' THEN (meta #> {path})::numeric END)"
    )
    parts = []
    for op, bound in range_.items():
        if op not in _RANGE_OPS:
            raise BadRequest(f"filter: unsupported range bound '{str(op)[:50]}'")
        if not isinstance(bound, int | float) or isinstance(bound, bool):
            raise BadRequest("filter: range bounds must be numbers")
        parts.append(f"{number} {_RANGE_OPS[op]} {sql.param(bound, 'numeric')}")
    return "(" + " AND ".join(parts) + ")"
