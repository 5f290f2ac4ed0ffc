"""Table-specific checks a set query runs (`Table.set_hook`), after the generic ones.

Each hook gets the values about to be written (account_id fields already forced,
project_write fields already checked) and may change them or raise `QueryError`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from hub.db.database import Queryable
from hub.handlers.context import Identity
from hub.query.parse import QueryError
from hub.upgrades.enforce import check_available

SetHook = Callable[[Queryable, Identity, dict[str, Any]], Awaitable[None]]

UPGRADE_KEYS = frozenset(
    {
        "cores",
        "memory",
        "memory_request",
        "mintime",
        "network",
        "cpu_shares",
        "disk_quota",
        "member_host",
        "always_running",
        "ephemeral_state",
        "ephemeral_disk",
    }
)
_USER_ENTRY_KEYS = frozenset({"group", "hide", "upgrades", "ssh_keys"})


def public_path_id(project_id: str, path: str) -> str:
    """public_paths.id: sha1 hex of the project_id and path concatenated."""
    return hashlib.sha1((project_id + path).encode()).hexdigest()


def check_users(identity: Identity, users: Any) -> dict[str, Any]:
    """projects.users as a user may set it: their own hide, upgrades and ssh_keys."""
    if not isinstance(users, dict):
        raise QueryError("FATAL: invalid value for projects.users")
    caller = str(identity.account_id)
    out: dict[str, Any] = {}
    for account_id, entry in users.items():
        try:
            account_id = str(UUID(account_id))
        except ValueError:
            continue  # as CoCalc: keys that are not uuids are dropped
        if not isinstance(entry, dict):
            raise QueryError("FATAL: invalid value for projects.users")
        for key, value in entry.items():
            if key not in _USER_ENTRY_KEYS:
                raise QueryError(f"unknown field '{key}")
            if key == "group" and not identity.is_admin:
                raise QueryError("FATAL: changing projects.users.group not allowed")
            if key == "hide" and not isinstance(value, bool | None):
                raise QueryError("FATAL: invalid value for projects.users.hide")
            if key == "upgrades":
                if not isinstance(value, dict):
                    raise QueryError("FATAL: invalid value for projects.users.upgrades")
                for k, v in value.items():
                    ok = v is None or (isinstance(v, int | float) and not isinstance(v, bool))
                    if k not in UPGRADE_KEYS or not ok:
                        raise QueryError(f"invalid upgrades field '{k}'")
        if account_id != caller and not identity.is_admin:
            if "upgrades" in entry:
                raise QueryError(
                    f"FATAL: user '{caller}' tried to change user '{account_id}'"
                    " allocation toward a project"
                )
            raise QueryError(f"FATAL: user '{caller}' may only change their own projects.users")
        out[account_id] = entry
    return out


def check_account_names(values: dict[str, Any]) -> None:
    for f in ("first_name", "last_name"):
        if f in values and isinstance(values[f], str):
            values[f] = values[f][:254]
            if not values[f].strip():
                raise QueryError(f"{f} must be nonempty")


async def accounts_hook(db: Queryable, identity: Identity, values: dict[str, Any]) -> None:
    check_account_names(values)
    name = values.get("name")
    if isinstance(name, str):
        taken = await db.fetchval(
            "SELECT 1 FROM accounts WHERE lower(name) = lower($1) AND account_id <> $2",
            name,
            identity.account_id,
        )
        if taken:
            raise QueryError(f'name "{name}" is already taken by another organization or account')


async def projects_hook(db: Queryable, identity: Identity, values: dict[str, Any]) -> None:
    if "users" in values:
        values["users"] = check_users(identity, values["users"])
        # no more upgrades than the account's licenses leave (hub/upgrades/enforce.py)
        await check_available(db, values.get("project_id"), values["users"])


async def public_paths_hook(db: Queryable, identity: Identity, values: dict[str, Any]) -> None:
    path = values.get("path")
    if not isinstance(path, str):
        raise QueryError("FATAL: must specify public_paths.path")
    values["id"] = public_path_id(str(values["project_id"]), path)
