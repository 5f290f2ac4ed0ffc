"""Data access for `blobs`: short-lived file downloads and uploads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from hub.db.database import Queryable


@dataclass(frozen=True, slots=True)
class Blob:
    id: UUID
    project_id: UUID | None
    account_id: UUID | None
    data: bytes
    name: str | None


async def save(
    db: Queryable,
    blob_id: UUID,
    data: bytes,
    *,
    ttl_s: float,
    project_id: UUID | None = None,
    account_id: UUID | None = None,
    name: str | None = None,
) -> None:
    expire = datetime.now(UTC) + timedelta(seconds=ttl_s)
    await db.execute(
        """
        INSERT INTO blobs (id, project_id, account_id, data, size, name, expire)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data, size = EXCLUDED.size,
            expire = EXCLUDED.expire
        """,
        blob_id,
        project_id,
        account_id,
        data,
        len(data),
        name,
        expire,
    )


async def get(db: Queryable, blob_id: UUID) -> Blob | None:
    row = await db.fetchrow(
        "SELECT id, project_id, account_id, data, name FROM blobs WHERE id = $1 AND expire > now()",
        blob_id,
    )
    if row is None:
        return None
    return Blob(row["id"], row["project_id"], row["account_id"], bytes(row["data"]), row["name"])
