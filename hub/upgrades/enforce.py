"""Refuse a `query` that applies more upgrades to a project than the account has left.

Called by the projects set hook (hub/query/hooks.py) with the checked `users`
value about to be merged into the project. Only quantities the change raises
are checked, so lowering one upgrade still works while another is in excess
(e.g. after a license ended). Two writes racing may both pass the check;
`get_available_upgrades` then reports the overlap as `excess`.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from hub.db import licenses as license_table
from hub.db.database import Queryable
from hub.query.parse import QueryError
from hub.upgrades import licenses, quotas


async def check_available(db: Queryable, project_id: Any, users: dict[str, Any]) -> None:
    for account_id, entry in users.items():
        if not isinstance(entry, dict) or "upgrades" not in entry:
            continue
        change = entry["upgrades"]
        if change is None:
            continue
        if not isinstance(change, dict):
            raise QueryError("FATAL: invalid value for projects.users.upgrades")
        for key, value in change.items():
            if value is not None and value < 0:
                raise QueryError(f"invalid upgrades field '{key}': must be >= 0")
        await _check_account(db, UUID(str(project_id)), UUID(account_id), change)


async def _check_account(
    db: Queryable, project_id: UUID, account_id: UUID, change: dict[str, Any]
) -> None:
    applied = await license_table.applied_by(db, account_id)
    current = applied.pop(str(project_id), {})
    merged = dict(current)
    for key, value in change.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    wanted = quotas.lenient(merged)
    raised = {k: v for k, v in wanted.items() if v > current.get(k, 0)}
    if not raised:
        return
    total = licenses.total(await license_table.of_account(db, account_id))
    why = licenses.refusal(total, applied, raised)
    if why is not None:
        raise QueryError(why)
