"""Data access for `licenses` and the upgrades accounts applied to projects."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

from hub.db.database import Queryable
from hub.upgrades import quotas
from hub.upgrades.licenses import License
from hub.upgrades.quotas import Upgrades


def _license(row: Any) -> License:
    quota = row["quota"]
    if isinstance(quota, str):
        quota = json.loads(quota)
    source = row["source"]
    if isinstance(source, str):
        source = json.loads(source)
    return License(
        id=str(row["id"]),
        account_id=str(row["account_id"]),
        quota=quotas.lenient(quota),
        quantity=row["quantity"],
        start=row["start"],
        expires=row["expires"],
        created=row["created"],
        source=source if isinstance(source, dict) else {},
    )


async def create(
    db: Queryable,
    account_id: UUID,
    quota: Upgrades,
    quantity: int,
    start: datetime,
    expires: datetime | None,
    *,
    granted_by: UUID | None = None,
    source: dict[str, Any] | None = None,
) -> License:
    row = await db.fetchrow(
        """
        INSERT INTO licenses (account_id, quota, quantity, start, expires, granted_by, source)
        VALUES ($1, $2::text::jsonb, $3, $4, $5, $6, $7::text::jsonb)
        RETURNING id, account_id, quota, quantity, start, expires, created, source
        """,
        account_id,
        json.dumps(quota),
        quantity,
        start,
        expires,
        granted_by,
        json.dumps(source or {}),
    )
    assert row is not None
    return _license(row)


async def of_account(db: Queryable, account_id: UUID) -> list[License]:
    rows = await db.fetch(
        "SELECT id, account_id, quota, quantity, start, expires, created, source"
        " FROM licenses WHERE account_id = $1 ORDER BY created",
        account_id,
    )
    return [_license(r) for r in rows]


async def applied_by(db: Queryable, account_id: UUID) -> dict[str, Upgrades]:
    """{project_id: upgrades} for every project this account applied upgrades to."""
    rows = await db.fetch(
        """
        SELECT project_id, users -> $1::text -> 'upgrades' AS upgrades FROM projects
        WHERE users ? $1::text AND NOT deleted
          AND jsonb_typeof(users -> $1::text -> 'upgrades') = 'object'
        """,
        str(account_id),
    )
    out: dict[str, Upgrades] = {}
    for row in rows:
        value = row["upgrades"]
        if isinstance(value, str):
            value = json.loads(value)
        cleaned = quotas.lenient(value)
        if cleaned:
            out[str(row["project_id"])] = cleaned
    return out


async def project_upgrades(db: Queryable, project_id: UUID) -> list[Upgrades] | None:
    """Every user's upgrades applied to the project (None: no such project)."""
    users = await db.fetchval("SELECT users FROM projects WHERE project_id = $1", project_id)
    if users is None:
        return None
    if isinstance(users, str):
        users = json.loads(users)
    out = []
    for entry in users.values() if isinstance(users, dict) else ():
        if isinstance(entry, dict):
            cleaned = quotas.lenient(entry.get("upgrades"))
            if cleaned:
                out.append(cleaned)
    return out


async def remove_upgrades(
    db: Queryable, account_id: UUID, projects: list[UUID] | None
) -> list[UUID]:
    """Drop this account's upgrades from all its projects (or the listed ones)."""
    rows = await db.fetch(
        """
        UPDATE projects SET users = jsonb_set(users, ARRAY[$1::text],
                                              (users -> $1::text) - 'upgrades')
        WHERE users -> $1::text ? 'upgrades'
          AND ($2::uuid[] IS NULL OR project_id = ANY($2::uuid[]))
        RETURNING project_id
        """,
        str(account_id),
        projects,
    )
    return [r["project_id"] for r in rows]
