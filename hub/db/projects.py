"""Data access for `projects`: creation, membership, state and activity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from hub.db.database import Queryable

OWNER = "owner"
COLLABORATOR = "collaborator"
VIEWER = "viewer"


@dataclass(frozen=True, slots=True)
class Project:
    project_id: UUID
    title: str
    description: str
    users: dict[str, Any]
    deleted: bool
    state: dict[str, Any]

    def group_of(self, account_id: UUID) -> str | None:
        entry = self.users.get(str(account_id))
        group = entry.get("group") if isinstance(entry, dict) else None
        return group if isinstance(group, str) else None


def _project(row: asyncpg.Record | None) -> Project | None:
    if row is None:
        return None
    return Project(
        project_id=row["project_id"],
        title=row["title"],
        description=row["description"],
        users=row["users"] or {},
        deleted=row["deleted"],
        state=row["state"] or {},
    )


async def create(db: Queryable, owner: UUID, title: str, description: str) -> UUID:
    project_id: UUID = await db.fetchval(
        """
        INSERT INTO projects (title, description, users)
        VALUES ($1, $2, jsonb_build_object($3::text, jsonb_build_object('group', 'owner')))
        RETURNING project_id
        """,
        title,
        description,
        str(owner),
    )
    return project_id


async def get(db: Queryable, project_id: UUID) -> Project | None:
    row = await db.fetchrow(
        "SELECT project_id, title, description, users, deleted, state"
        " FROM projects WHERE project_id = $1",
        project_id,
    )
    return _project(row)


async def group_of(db: Queryable, project_id: UUID, account_id: UUID) -> str | None:
    """The account's group in a live project, or None (no such project, deleted, not a member)."""
    group: str | None = await db.fetchval(
        "SELECT users -> $2::text ->> 'group' FROM projects WHERE project_id = $1 AND NOT deleted",
        project_id,
        str(account_id),
    )
    return group


async def add_user(db: Queryable, project_id: UUID, account_id: UUID, group: str) -> bool:
    """Add the account in `group`; False if it is already a member (or no such project)."""
    status = await db.execute(
        """
        UPDATE projects
        SET users = users || jsonb_build_object($2::text, jsonb_build_object('group', $3::text))
        WHERE project_id = $1 AND NOT users ? $2::text
        """,
        project_id,
        str(account_id),
        group,
    )
    return status.endswith(" 1")


async def remove_user(db: Queryable, project_id: UUID, account_id: UUID) -> bool:
    """Remove a non-owner member; True if someone was removed."""
    status = await db.execute(
        """
        UPDATE projects SET users = users - $2::text
        WHERE project_id = $1 AND users ? $2::text
          AND users -> $2::text ->> 'group' <> 'owner'
        """,
        project_id,
        str(account_id),
    )
    return status.endswith(" 1")


async def set_state(db: Queryable, project_id: UUID, state: str, error: str | None = None) -> None:
    value: dict[str, Any] = {"state": state}
    if error is not None:
        value["error"] = error
    await db.execute(
        "UPDATE projects SET state = $2::jsonb || jsonb_build_object('time', now())"
        " WHERE project_id = $1",
        project_id,
        value,
    )


async def touch(db: Queryable, project_id: UUID, account_id: UUID | None) -> None:
    """Record activity: last_edited, and the account's entry in last_active."""
    if account_id is None:
        await db.execute(
            "UPDATE projects SET last_edited = now() WHERE project_id = $1", project_id
        )
        return
    await db.execute(
        """
        UPDATE projects SET last_edited = now(),
            last_active = last_active || jsonb_build_object($2::text, now())
        WHERE project_id = $1
        """,
        project_id,
        str(account_id),
    )
