"""Who may do what in a project.

read = owner, collaborator or viewer; write = owner or collaborator; admins may
do anything. A project-scoped API key acts only on its own project, with the
rights of the account that made it.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from hub.db import projects
from hub.errors import NotSignedIn, PermissionDenied
from hub.handlers.context import Context

Level = Literal["read", "write"]

READ_GROUPS = frozenset({projects.OWNER, projects.COLLABORATOR, projects.VIEWER})
WRITE_GROUPS = frozenset({projects.OWNER, projects.COLLABORATOR})


def denied(account_id: UUID, level: Level, project_id: UUID) -> PermissionDenied:
    return PermissionDenied(
        f"User {account_id} does not have {level} access to project {project_id}"
    )


async def require(ctx: Context, project_id: UUID, level: Level) -> UUID:
    """Raise unless the caller has `level` access to the project; return the caller's id."""
    identity = ctx.identity
    if identity is None:
        raise NotSignedIn("user must be signed in before accessing projects")
    account_id = identity.account_id
    if identity.project_id is not None and identity.project_id != project_id:
        raise denied(account_id, level, project_id)
    if identity.is_admin:
        return account_id
    group = await projects.group_of(ctx.hub.db, project_id, account_id)
    allowed = READ_GROUPS if level == "read" else WRITE_GROUPS
    if group not in allowed:
        raise denied(account_id, level, project_id)
    return account_id
