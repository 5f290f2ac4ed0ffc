"""Data access for `api_keys`: only SHA-256 hashes of keys are stored.

An account has at most one *legacy* key (`legacy = true`, managed by the
`api_key` event, like CoCalc's `accounts.api_key`) and any number of named keys
(`api_keys` event, and the fresh key `get_api_key` makes at sign-in).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from hub.db.database import Queryable

# CoCalc's limit, with its words.
MAX_KEYS_PER_ACCOUNT = 100_000
TOO_MANY_KEYS = (
    f"There is a limit of {MAX_KEYS_PER_ACCOUNT} per account; please delete some api keys."
)


@dataclass(frozen=True, slots=True)
class ApiKeyRow:
    id: int
    account_id: UUID
    project_id: UUID | None
    name: str
    trunc: str
    created: datetime | None
    expire: datetime | None
    last_active: datetime | None

    def public(self) -> dict[str, Any]:
        """What a client may see of a key (never the hash)."""
        return {
            "id": self.id,
            "account_id": self.account_id,
            "name": self.name,
            "trunc": self.trunc,
            "created": self.created,
            "expire": self.expire,
            "last_active": self.last_active,
        }


@dataclass(frozen=True, slots=True)
class KeyOwner:
    """A key found by its hash, with what authentication needs about its account."""

    key_id: int
    account_id: UUID
    project_id: UUID | None
    expire: datetime | None
    groups: tuple[str, ...]
    banned: bool
    deleted: bool


_ROW = "id, account_id, project_id, name, trunc, created, expire, last_active"


def _row(record: asyncpg.Record) -> ApiKeyRow:
    return ApiKeyRow(
        id=record["id"],
        account_id=record["account_id"],
        project_id=record["project_id"],
        name=record["name"],
        trunc=record["trunc"],
        created=record["created"],
        expire=record["expire"],
        last_active=record["last_active"],
    )


async def count(db: Queryable, account_id: UUID) -> int:
    n: int = await db.fetchval("SELECT count(*) FROM api_keys WHERE account_id = $1", account_id)
    return n


async def insert(
    db: Queryable,
    *,
    account_id: UUID,
    key_hash: bytes,
    trunc: str,
    name: str = "",
    legacy: bool = False,
    project_id: UUID | None = None,
    expire: datetime | None = None,
) -> ApiKeyRow:
    record = await db.fetchrow(
        f"""
        INSERT INTO api_keys (account_id, project_id, name, trunc, hash, legacy, expire)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        RETURNING {_ROW}
        """,
        account_id,
        project_id,
        name,
        trunc,
        key_hash,
        legacy,
        expire,
    )
    assert record is not None
    return _row(record)


async def owner(db: Queryable, key_hash: bytes) -> KeyOwner | None:
    record = await db.fetchrow(
        """
        SELECT k.id, k.account_id, k.project_id, k.expire, a.groups, a.banned, a.deleted
          FROM api_keys k JOIN accounts a USING (account_id)
         WHERE k.hash = $1
        """,
        key_hash,
    )
    if record is None:
        return None
    return KeyOwner(
        key_id=record["id"],
        account_id=record["account_id"],
        project_id=record["project_id"],
        expire=record["expire"],
        groups=tuple(record["groups"] or ()),
        banned=record["banned"],
        deleted=record["deleted"],
    )


async def touch(db: Queryable, key_id: int, min_interval_s: float) -> None:
    """Set last_active, unless it was set less than `min_interval_s` ago."""
    await db.execute(
        """
        UPDATE api_keys SET last_active = now()
         WHERE id = $1
           AND (last_active IS NULL OR last_active < now() - make_interval(secs => $2))
        """,
        key_id,
        float(min_interval_s),
    )


# The keys one may manage: with a project, every key of that project (made by any of
# its collaborators); without, the account's own account-wide named keys.
_SCOPE = "NOT legacy AND (($3::uuid IS NULL AND account_id = $1) OR project_id = $3)"


async def list_named(
    db: Queryable, account_id: UUID, key_id: int | None = None, project_id: UUID | None = None
) -> list[ApiKeyRow]:
    """The named keys in scope (not the legacy one), newest first."""
    records = await db.fetch(
        f"""
        SELECT {_ROW} FROM api_keys
         WHERE {_SCOPE} AND ($3::uuid IS NOT NULL OR project_id IS NULL)
           AND ($2::bigint IS NULL OR id = $2)
         ORDER BY created DESC, id DESC
        """,
        account_id,
        key_id,
        project_id,
    )
    return [_row(r) for r in records]


async def delete_named(
    db: Queryable, account_id: UUID, key_id: int, project_id: UUID | None = None
) -> bytes | None:
    """Delete one named key in scope; its hash (to uncache), or None if not found."""
    key_hash: bytes | None = await db.fetchval(
        f"DELETE FROM api_keys WHERE id = $2 AND {_SCOPE} RETURNING hash",
        account_id,
        key_id,
        project_id,
    )
    return key_hash


async def edit_named(
    db: Queryable,
    account_id: UUID,
    key_id: int,
    *,
    name: str | None,
    expire: datetime | None,
    project_id: UUID | None = None,
) -> tuple[ApiKeyRow, bytes] | None:
    """Change a named key's name and/or expiry (None leaves it as it is).

    Returns the new row and the key's hash (to uncache), or None if not found.
    """
    record = await db.fetchrow(
        f"""
        UPDATE api_keys
           SET name = coalesce($4, name), expire = coalesce($5, expire)
         WHERE id = $2 AND {_SCOPE}
        RETURNING {_ROW}, hash
        """,
        account_id,
        key_id,
        project_id,
        name,
        expire,
    )
    return None if record is None else (_row(record), record["hash"])


async def legacy(db: Queryable, account_id: UUID) -> ApiKeyRow | None:
    record = await db.fetchrow(
        f"SELECT {_ROW} FROM api_keys WHERE account_id = $1 AND legacy ORDER BY id DESC LIMIT 1",
        account_id,
    )
    return None if record is None else _row(record)


async def delete_legacy(db: Queryable, account_id: UUID) -> list[bytes]:
    """Delete the account's legacy key; the hashes deleted (to uncache)."""
    records = await db.fetch(
        "DELETE FROM api_keys WHERE account_id = $1 AND legacy RETURNING hash", account_id
    )
    return [r["hash"] for r in records]
