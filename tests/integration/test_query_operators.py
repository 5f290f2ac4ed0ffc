"""Filter operators, limit and order_by on get queries (over system_notifications)."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import pytest

from hub.db.database import Database
from hub.handlers.context import Identity
from hub.query import run_user_query
from tests.integration.test_query_accounts import fatal, make_account

T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


@pytest.fixture
async def me(db: Database) -> Identity:
    admin = await make_account(db, "admin@example.com", groups=("admin",))
    for i, (text, priority, done) in enumerate(
        [("alpha", "high", True), ("Beta", "low", False), ("gamma", None, False)]
    ):
        q = {
            "system_notifications": {
                "id": str(uuid.UUID(int=i + 1)),
                "time": (T0 + datetime.timedelta(days=i)).isoformat(),
                "text": text,
                "done": done,
            }
        }
        if priority is not None:
            q["system_notifications"]["priority"] = priority
        assert await run_user_query(db, admin, q, None) == {}
    return await make_account(db, "user@example.com")


async def texts(
    db: Database, me: Identity, filters: dict[str, Any], options: Any = None
) -> list[str]:
    row: dict[str, Any] = {"id": None, "text": None, **filters}
    got = await run_user_query(
        db, me, {"system_notifications": [row]}, options or [{"order_by": "time"}]
    )
    return [r["text"] for r in got["system_notifications"]]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"done": False}, ["Beta", "gamma"]),
        ({"done": {"=": True}}, ["alpha"]),
        ({"done": {"==": True}}, ["alpha"]),
        ({"done": {"!=": True}}, ["Beta", "gamma"]),
        ({"done": {"<>": True}}, ["Beta", "gamma"]),
        ({"time": {"<": "2026-01-02T00:00:00Z"}}, ["alpha"]),
        ({"time": {"<=": "2026-01-02T00:00:00Z"}}, ["alpha", "Beta"]),
        ({"time": {">": "2026-01-02T00:00:00Z"}}, ["gamma"]),
        ({"time": {">=": "2026-01-02T00:00:00Z", "<": "2026-01-03T00:00:00Z"}}, ["Beta"]),
        ({"time": {">=": {"relative_time": -3650, "unit": "days"}}}, ["alpha", "Beta", "gamma"]),
        ({"priority": {"IS": None}}, ["gamma"]),
        ({"priority": {"IS NOT": None}}, ["alpha", "Beta"]),
        ({"done": {"IS": True}}, ["alpha"]),
        ({"text": {"LIKE": "%a"}}, ["alpha", "Beta", "gamma"]),
        ({"text": {"LIKE": "b%"}}, []),
        ({"text": {"ILIKE": "b%"}}, ["Beta"]),
        ({"text": {"NOT LIKE": "%mm%"}}, ["alpha", "Beta"]),
        ({"text": {"NOT ILIKE": "B%"}}, ["alpha", "gamma"]),
        ({"text": {"ANY": ["alpha", "gamma", "x'--"]}}, ["alpha", "gamma"]),
        ({"text": {"MINLEN": 5}}, ["alpha", "gamma"]),
        ({"text": {"MAXLEN": 4}}, ["Beta"]),
        ({"text": "'; DELETE FROM system_notifications; --"}, []),
    ],
)
async def test_operator(
    db: Database, me: Identity, filters: dict[str, Any], expected: list[str]
) -> None:
    assert await texts(db, me, filters) == expected


async def test_order_by_limit_and_defaults(db: Database, me: Identity) -> None:
    assert await texts(db, me, {}, [{"order_by": "-time"}]) == ["gamma", "Beta", "alpha"]
    assert await texts(db, me, {}, [{"order_by": "-time"}, {"limit": 2}]) == ["gamma", "Beta"]
    got = await run_user_query(
        db, me, {"system_notifications": {"text": "gamma", "priority": None, "done": None}}, None
    )
    assert got == {"system_notifications": {"text": "gamma", "priority": "low", "done": False}}
    assert await db.fetchval("SELECT count(*) FROM system_notifications") == 3


async def test_bad_filters(db: Database, me: Identity) -> None:
    q = {"system_notifications": [{"text": None, "time": {"<": "not a time"}}]}
    assert await fatal(db, me, q) == "FATAL: invalid value for system_notifications.time"
    q = {"system_notifications": [{"text": None}]}
    assert await fatal(db, me, q, [{"order_by": "secret"}]) == (
        "FATAL: user get query not allowed for system_notifications.secret"
    )
    q = {"system_notifications": [{"text": None, "priority": {"IS": "1=1"}}]}
    assert await fatal(db, me, q) == "FATAL: invalid value for system_notifications.priority"


async def test_only_admins_write_notifications(db: Database, me: Identity) -> None:
    q = {"system_notifications": {"id": str(uuid.UUID(int=1)), "done": False}}
    assert await fatal(db, me, q) == "FATAL: user must be an admin"
