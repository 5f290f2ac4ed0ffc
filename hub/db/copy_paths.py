"""Data access for `copy_paths`: one row per copy between projects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from hub.db.database import Queryable

_COLUMNS = (
    "id, time, source_project_id, source_path, target_project_id, target_path, exclude,"
    " overwrite_newer, delete_missing, backup, timeout, scheduled, started, finished, error"
)


@dataclass(frozen=True, slots=True)
class CopyPath:
    id: UUID
    time: datetime
    source_project_id: UUID
    source_path: str
    target_project_id: UUID
    target_path: str
    exclude: list[str]
    overwrite_newer: bool
    delete_missing: bool
    backup: bool
    timeout: float | None
    scheduled: datetime | None
    started: datetime | None
    finished: datetime | None
    error: str | None

    def status(self) -> dict[str, Any]:
        """The row as copy_path_status reports it (CoCalc's field names)."""
        return {
            "copy_path_id": str(self.id),
            "time": self.time,
            "source_project_id": str(self.source_project_id),
            "source_path": self.source_path,
            "target_project_id": str(self.target_project_id),
            "target_path": self.target_path,
            "overwrite_newer": self.overwrite_newer,
            "delete_missing": self.delete_missing,
            "backup": self.backup,
            "started": self.started,
            "finished": self.finished,
            "scheduled": self.scheduled,
            "error": self.error,
            "exclude": self.exclude,
        }


def _row(row: asyncpg.Record) -> CopyPath:
    return CopyPath(
        id=row["id"],
        time=row["time"],
        source_project_id=row["source_project_id"],
        source_path=row["source_path"],
        target_project_id=row["target_project_id"],
        target_path=row["target_path"],
        exclude=list(row["exclude"] or []),
        overwrite_newer=row["overwrite_newer"],
        delete_missing=row["delete_missing"],
        backup=row["backup"],
        timeout=row["timeout"],
        scheduled=row["scheduled"],
        started=row["started"],
        finished=row["finished"],
        error=row["error"],
    )


async def insert(
    db: Queryable,
    *,
    account_id: UUID,
    source_project_id: UUID,
    source_path: str,
    target_project_id: UUID,
    target_path: str,
    exclude: list[str],
    overwrite_newer: bool,
    delete_missing: bool,
    backup: bool,
    timeout: float | None,
    scheduled: datetime | None,
    expire_days: float,
) -> UUID:
    copy_id: UUID = await db.fetchval(
        """
        INSERT INTO copy_paths (account_id, source_project_id, source_path, target_project_id,
            target_path, exclude, overwrite_newer, delete_missing, backup, timeout, scheduled,
            expire)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
            coalesce($11, now()) + make_interval(secs => $12))
        RETURNING id
        """,
        account_id,
        source_project_id,
        source_path,
        target_project_id,
        target_path,
        exclude,
        overwrite_newer,
        delete_missing,
        backup,
        timeout,
        scheduled,
        expire_days * 86400.0,
    )
    return copy_id


async def get(db: Queryable, copy_id: UUID) -> CopyPath | None:
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM copy_paths WHERE id = $1", copy_id)
    return None if row is None else _row(row)


async def claim(db: Queryable, copy_id: UUID, hub_id: str) -> CopyPath | None:
    """Mark one copy as started by this hub, unless another hub already took it."""
    row = await db.fetchrow(
        f"""
        UPDATE copy_paths SET started = now(), claimed_by = $2
        WHERE id = $1 AND started IS NULL
        RETURNING {_COLUMNS}
        """,
        copy_id,
        hub_id,
    )
    return None if row is None else _row(row)


async def claim_due(db: Queryable, hub_id: str) -> CopyPath | None:
    """Take the oldest copy whose time has come and that nobody has started."""
    row = await db.fetchrow(
        f"""
        UPDATE copy_paths SET started = now(), claimed_by = $1
        WHERE id = (
            SELECT id FROM copy_paths
            WHERE started IS NULL AND scheduled IS NOT NULL AND scheduled <= now()
            ORDER BY scheduled FOR UPDATE SKIP LOCKED LIMIT 1
        )
        RETURNING {_COLUMNS}
        """,
        hub_id,
    )
    return None if row is None else _row(row)


async def finish(db: Queryable, copy_id: UUID, error: str | None) -> None:
    await db.execute(
        "UPDATE copy_paths SET finished = now(), error = $2 WHERE id = $1", copy_id, error
    )


async def search(
    db: Queryable,
    *,
    source_project_id: UUID | None,
    target_project_id: UUID | None,
    source_path: str | None,
    pending: bool,
    failed: bool,
    limit: int,
    offset: int,
) -> list[CopyPath]:
    where = ["true"]
    args: list[Any] = []
    if source_project_id is not None:
        args.append(source_project_id)
        where.append(f"source_project_id = ${len(args)}")
    if target_project_id is not None:
        args.append(target_project_id)
        where.append(f"target_project_id = ${len(args)}")
    if source_path is not None:
        args.append(source_path)
        where.append(f"source_path = ${len(args)}")
    if failed:
        where.append("error IS NOT NULL")
    elif pending:
        where.append("finished IS NULL")
    else:
        where.append("finished IS NOT NULL")
    args.extend([limit, offset])
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM copy_paths WHERE {' AND '.join(where)}"
        f" ORDER BY time DESC LIMIT ${len(args) - 1} OFFSET ${len(args)}",
        *args,
    )
    return [_row(r) for r in rows]


async def delete_scheduled(db: Queryable, copy_id: UUID) -> bool:
    status = await db.execute(
        "DELETE FROM copy_paths WHERE id = $1 AND scheduled IS NOT NULL AND started IS NULL",
        copy_id,
    )
    return status.endswith(" 1")
