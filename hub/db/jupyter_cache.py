"""Data access for `jupyter_execute_cache`: finished jupyter_execute results by hash."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from hub.db.client_logs import pg_json, pg_text
from hub.db.database import Queryable


@dataclass(frozen=True, slots=True)
class CachedRun:
    hash: str
    project_id: UUID | None
    output: Any
    total_time_s: float | None
    time: datetime


async def get(db: Queryable, hash_: str) -> CachedRun | None:
    """The unexpired result stored under `hash_`, or None."""
    row = await db.fetchrow(
        "SELECT hash, project_id, output, total_time_s, time FROM jupyter_execute_cache"
        " WHERE hash = $1 AND expire > now()",
        hash_,
    )
    if row is None:
        return None
    return CachedRun(
        row["hash"], row["project_id"], row["output"], row["total_time_s"], row["time"]
    )


async def put(
    db: Queryable,
    hash_: str,
    *,
    project_id: UUID | None,
    account_id: UUID | None,
    kernel: str,
    path: str | None,
    tag: str | None,
    output: Any,
    total_time_s: float,
    time: datetime,
    ttl_s: float,
) -> None:
    await db.execute(
        """
        INSERT INTO jupyter_execute_cache
            (hash, project_id, account_id, kernel, path, tag, output, total_time_s, time, expire)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        ON CONFLICT (hash) DO UPDATE SET output = EXCLUDED.output,
            total_time_s = EXCLUDED.total_time_s, time = EXCLUDED.time, expire = EXCLUDED.expire
        """,
        hash_,
        project_id,
        account_id,
        pg_text(kernel),
        None if path is None else pg_text(path),
        None if tag is None else pg_text(tag[:1000]),
        pg_json(output),
        total_time_s,
        time,
        datetime.now(UTC) + timedelta(seconds=ttl_s),
    )
