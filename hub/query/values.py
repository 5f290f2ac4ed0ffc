"""Client values turned into the Python values asyncpg sends for a column's type."""

from __future__ import annotations

import datetime
from typing import Any
from uuid import UUID

from hub.query.parse import QueryError
from hub.query.schema import Table

_UNITS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400, "weeks": 604800}


def quote(name: str) -> str:
    """A registry identifier, double-quoted (registry names never contain quotes)."""
    return '"' + name + '"'


def _bad(table: Table, field: str) -> QueryError:
    return QueryError(f"FATAL: invalid value for {table.name}.{field}")


def to_timestamp(value: Any) -> datetime.datetime | None:
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
    if isinstance(value, dict) and "relative_time" in value:
        amount = value.get("relative_time")
        unit = value.get("unit", "seconds")
        if isinstance(amount, bool) or not isinstance(amount, int | float) or unit not in _UNITS:
            return None
        now = datetime.datetime.now(datetime.UTC)
        return now + datetime.timedelta(seconds=amount * _UNITS[unit])
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.datetime.fromtimestamp(value / 1000, datetime.UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)
    return None


def convert(table: Table, field: str, value: Any, pg_type: str | None = None) -> Any:
    """`value` as the Python value for a column of `pg_type` (default: the field's type)."""
    kind = pg_type or table.column(field).type
    if value is None or kind == "jsonb":
        return value
    if kind == "uuid":
        if isinstance(value, UUID):
            return value
        if isinstance(value, str):
            try:
                return UUID(value)
            except ValueError:
                raise _bad(table, field) from None
        raise _bad(table, field)
    if kind == "timestamptz":
        ts = to_timestamp(value)
        if ts is None:
            raise _bad(table, field)
        return ts
    if kind == "integer":
        if isinstance(value, bool):
            raise _bad(table, field)
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise _bad(table, field)
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        raise _bad(table, field)
    if kind == "text":
        if isinstance(value, str):
            return value
        raise _bad(table, field)
    if kind.endswith("[]"):
        if not isinstance(value, list):
            raise _bad(table, field)
        return [convert(table, field, v, kind[:-2]) for v in value]
    raise _bad(table, field)


def to_json_value(value: Any) -> Any:
    """A value read from the database as the client sees it (uuids as strings)."""
    if isinstance(value, UUID):
        return str(value)
    return value
