"""Who may do what in a project.

read = owner, collaborator or viewer; write = owner or collaborator; admins may
do anything. A project-scoped API key acts only on its own project, with the
rights of the account that made it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Literal
from uuid import UUID

from hub.db import projects
from hub.errors import NotSignedIn, PermissionDenied
from hub.handlers.context import Context

Level = Literal["read", "write"]

READ_GROUPS = frozenset({projects.OWNER, projects.COLLABORATOR, projects.VIEWER})
WRITE_GROUPS = frozenset({projects.OWNER, projects.COLLABORATOR})


class AccessCache:
    """Recently confirmed memberships, so a busy client's every call is not a query.

    Only a positive answer is kept, for `ttl_s`; this hub forgets it at once when
    the membership changes here, other hubs within `ttl_s`.
    """

    def __init__(self, ttl_s: float, max_entries: int = 100_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._groups: OrderedDict[tuple[UUID, UUID], tuple[str, float]] = OrderedDict()

    def get(self, account_id: UUID, project_id: UUID) -> str | None:
        entry = self._groups.get((account_id, project_id))
        if entry is None:
            return None
        group, until = entry
        if time.monotonic() > until:
            del self._groups[(account_id, project_id)]
            return None
        return group

    def put(self, account_id: UUID, project_id: UUID, group: str) -> None:
        if self.ttl_s <= 0:
            return
        self._groups[(account_id, project_id)] = (group, time.monotonic() + self.ttl_s)
        if len(self._groups) > self.max_entries:
            self._groups.popitem(last=False)

    def forget(self, account_id: UUID, project_id: UUID) -> None:
        self._groups.pop((account_id, project_id), None)


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
    cache = ctx.hub.access_cache
    group = cache.get(account_id, project_id)
    if group is None:
        group = await projects.group_of(ctx.hub.db, project_id, account_id)
        if group is not None:
            cache.put(account_id, project_id, group)
    allowed = READ_GROUPS if level == "read" else WRITE_GROUPS
    if group not in allowed:
        raise denied(account_id, level, project_id)
    return account_id
