"""Blobs named by their content (`save_blob`): id = uuidsha1(data), stored once.

    blob_id = uuidsha1(data)                                  # CoCalc's uuid form of the SHA-1
    await save(db, data, ttl_s=86400, project_id=p)           # None ttl: forever
    await keep(db, blob_id, ttl_s=None)                       # an existing blob: forever

Saving never shortens a blob's life: the later of the old and the new expiry wins,
and "forever" is the timestamp `infinity`, which the hourly clean-up never reaches.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from uuid import UUID

from hub.db.database import Queryable


def uuidsha1(data: bytes) -> str:
    """CoCalc's `misc.uuidsha1`: the SHA-1 hex digits poured into a version-4 uuid shape."""
    digest = hashlib.sha1(data).hexdigest()
    out = []
    i = 0
    for c in "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx":
        if c == "x":
            out.append(digest[i])
            i += 1
        elif c == "y":
            out.append(format((int(digest[i], 16) & 0x3) | 0x8, "x"))
            i += 1
        else:
            out.append(c)
    return "".join(out)


def _expire(ttl_s: float | None) -> datetime | str:
    if ttl_s is None:
        return "infinity"
    return datetime.now(UTC) + timedelta(seconds=ttl_s)


async def save(
    db: Queryable,
    data: bytes,
    *,
    ttl_s: float | None,
    project_id: UUID | None = None,
    account_id: UUID | None = None,
) -> str:
    """Store `data` under its uuidsha1 (once); returns that id."""
    blob_id = uuidsha1(data)
    expire = _expire(ttl_s)
    await db.execute(
        """
        INSERT INTO blobs (id, project_id, account_id, data, size, expire, sha1)
        VALUES ($1, $2, $3, $4, $5, $6::text::timestamptz, $7)
        ON CONFLICT (id) DO UPDATE SET expire = GREATEST(blobs.expire, EXCLUDED.expire),
            sha1 = EXCLUDED.sha1,
            project_id = COALESCE(blobs.project_id, EXCLUDED.project_id)
        """,
        UUID(blob_id),
        project_id,
        account_id,
        data,
        len(data),
        expire if isinstance(expire, str) else expire.isoformat(),
        hashlib.sha1(data).hexdigest(),
    )
    return blob_id


async def find(db: Queryable, name: str) -> tuple[UUID, UUID | None, UUID | None] | None:
    """(id, project_id, account_id) of the live blob `name` (its uuid or its SHA-1 hex)."""
    if len(name) == 40:
        row = await db.fetchrow(
            "SELECT id, project_id, account_id FROM blobs WHERE sha1 = $1 AND expire > now()",
            name.lower(),
        )
    else:
        try:
            blob_id = UUID(name)
        except ValueError:
            return None
        row = await db.fetchrow(
            "SELECT id, project_id, account_id FROM blobs WHERE id = $1 AND expire > now()",
            blob_id,
        )
    if row is None:
        return None
    return row["id"], row["project_id"], row["account_id"]


async def keep(db: Queryable, blob_id: UUID, *, ttl_s: float | None) -> bool:
    """Extend a live blob's life to `ttl_s` from now (None: forever); never shortens it."""
    expire = _expire(ttl_s)
    status = await db.execute(
        "UPDATE blobs SET expire = GREATEST(expire, $2::text::timestamptz)"
        " WHERE id = $1 AND expire > now()",
        blob_id,
        expire if isinstance(expire, str) else expire.isoformat(),
    )
    return status.endswith(" 1")


async def forever(db: Queryable, blob_id: UUID) -> bool:
    value = await db.fetchval("SELECT expire = 'infinity' FROM blobs WHERE id = $1", blob_id)
    return bool(value)
