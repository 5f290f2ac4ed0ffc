"""Deciding in Python whether a changed row passes a feed's filters.

The same operators as a get query (hub/query/get.py), for the column types whose
JSON form compares the way PostgreSQL compares them: text, uuid, boolean and
integer columns. Filters on timestamps and JSON documents are refused for feeds
(`Unsupported`), since their JSON text does not order like the values do.
"""

from __future__ import annotations

import re
from typing import Any

from hub.query.get import COMPARISONS, LIKES

_COMPARABLE = frozenset({"text", "uuid", "boolean", "integer"})
_NULLS = (None, "null", "undefined")


class Unsupported(Exception):
    """This filter cannot be evaluated on a changed row; the feed is refused."""


def check(kind: str, op: str) -> None:
    if op in ("IS", "IS NOT", "MINLEN", "MAXLEN"):
        return
    if kind not in _COMPARABLE and not (kind == "text[]" and op == "ANY"):
        raise Unsupported(f"{op} on a {kind} column")


def matches(kind: str, stored: Any, op: str, wanted: Any) -> bool:
    if op in COMPARISONS:
        if stored is None:
            return False
        a, b = _normal(kind, stored), _normal(kind, wanted)
        sql = COMPARISONS[op]
        if sql == "=":
            return bool(a == b)
        if sql == "<>":
            return bool(a != b)
        try:
            return bool({"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[sql])
        except TypeError:
            return False
    if op in ("IS", "IS NOT"):
        if wanted in _NULLS:
            result = stored is None
        elif wanted in (True, "true"):
            result = stored is True
        elif wanted in (False, "false"):
            result = stored is False
        else:
            raise Unsupported(f"IS {wanted!r}")
        return result if op == "IS" else not result
    if op in LIKES:
        if not isinstance(stored, str) or not isinstance(wanted, str):
            return False
        flags = re.IGNORECASE if "ILIKE" in op else 0
        found = re.fullmatch(_like_pattern(wanted), stored, flags | re.DOTALL) is not None
        return not found if op.startswith("NOT") else found
    if op == "ANY":
        if kind == "text[]":
            return isinstance(stored, list) and wanted in stored
        return isinstance(wanted, list) and any(
            _normal(kind, w) == _normal(kind, stored) for w in wanted
        )
    if op in ("MINLEN", "MAXLEN"):
        if not isinstance(stored, str | list | dict) or not isinstance(wanted, int):
            return False
        return len(stored) >= wanted if op == "MINLEN" else len(stored) <= wanted
    raise Unsupported(op)


def _normal(kind: str, value: Any) -> Any:
    if kind == "uuid":
        return str(value).lower()
    return value


def _like_pattern(like: str) -> str:
    out = []
    i = 0
    while i < len(like):
        ch = like[i]
        if ch == "\\" and i + 1 < len(like):
            out.append(re.escape(like[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return "".join(out)
