"""Project membership checks for user queries, worded as CoCalc words them."""

from __future__ import annotations

from uuid import UUID

from hub.db.database import Queryable
from hub.handlers.context import Identity
from hub.projects.access import READ_GROUPS, WRITE_GROUPS
from hub.query.parse import QueryError

READ_DENIED = "FATAL: you do not have read access to this project"


async def _group(db: Queryable, project_id: UUID, account_id: UUID) -> tuple[bool, str | None]:
    row = await db.fetchrow(
        "SELECT users -> $2::text ->> 'group' AS g FROM projects WHERE project_id = $1",
        project_id,
        str(account_id),
    )
    if row is None:
        return False, None
    group: str | None = row["g"]
    return True, group


async def require_read(db: Queryable, identity: Identity, project_id: UUID) -> None:
    if identity.project_id is not None and identity.project_id != project_id:
        raise QueryError(READ_DENIED)
    if identity.is_admin:
        return
    _, group = await _group(db, project_id, identity.account_id)
    if group not in READ_GROUPS:
        raise QueryError(READ_DENIED)


async def require_write(db: Queryable, identity: Identity, project_id: UUID) -> None:
    if identity.project_id is not None and identity.project_id != project_id:
        raise QueryError("FATAL: can only query same project")
    exists, group = await _group(db, project_id, identity.account_id)
    if not exists:
        raise QueryError(f"FATAL: unknown project_id '{str(project_id)[:100]}'")
    if group not in WRITE_GROUPS and not identity.is_admin:
        raise QueryError("FATAL: user must be an admin")
