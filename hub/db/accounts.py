"""Data access for `accounts` (and the `central_log` lines about them).

Emails are stored lower-cased; the unique index on `lower(email_address)` is what
makes "exactly one of two racing sign-ups wins" true. A deleted account keeps its
row (projects still name it) with `email_address` NULL, so the address is free.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

import asyncpg
import msgspec

from hub.db.database import Queryable

if TYPE_CHECKING:
    from hub.handlers.context import Identity
    from hub.protocol.messages import SignedIn
    from hub.state import HubState


class EmailTaken(Exception):
    """Another live account has this email address."""


@dataclass(frozen=True, slots=True)
class Account:
    account_id: UUID
    email_address: str | None
    password_hash: str | None
    first_name: str | None
    last_name: str | None
    groups: tuple[str, ...]
    deleted: bool
    banned: bool

    @property
    def is_admin(self) -> bool:
        return "admin" in self.groups


_COLUMNS = (
    "account_id, email_address, password_hash, first_name, last_name, groups, deleted, banned"
)


def _account(row: asyncpg.Record | None) -> Account | None:
    if row is None:
        return None
    return Account(
        account_id=row["account_id"],
        email_address=row["email_address"],
        password_hash=row["password_hash"],
        first_name=row["first_name"],
        last_name=row["last_name"],
        groups=tuple(row["groups"] or ()),
        deleted=row["deleted"],
        banned=row["banned"],
    )


def inet_or_none(ip: str | None) -> str | None:
    """`ip` if PostgreSQL's inet accepts it, else None (e.g. "unknown")."""
    if not ip:
        return None
    try:
        return str(ipaddress.ip_address(ip))
    except ValueError:
        return None


async def by_email(db: Queryable, email: str) -> Account | None:
    """The live (not deleted) account with this address, whatever its case."""
    row = await db.fetchrow(
        f"SELECT {_COLUMNS} FROM accounts WHERE lower(email_address) = lower($1) AND NOT deleted",
        email,
    )
    return _account(row)


async def by_id(db: Queryable, account_id: UUID) -> Account | None:
    """The account with this id, deleted or not."""
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM accounts WHERE account_id = $1", account_id)
    return _account(row)


async def create(
    db: Queryable,
    *,
    email: str,
    password_hash: str | None,
    first_name: str | None,
    last_name: str | None,
    created_by: str | None = None,
    groups: tuple[str, ...] = (),
    usage_intent: str | None = None,
) -> UUID:
    """Insert an account; raise `EmailTaken` if the address is in use (races included)."""
    try:
        account_id: UUID = await db.fetchval(
            """
            INSERT INTO accounts (email_address, password_hash, first_name, last_name,
                                  created_by, groups, usage_intent, last_active)
            VALUES ($1, $2, $3, $4, $5::inet, $6, $7, now())
            RETURNING account_id
            """,
            email,
            password_hash,
            first_name,
            last_name,
            inet_or_none(created_by),
            list(groups),
            usage_intent,
        )
    except asyncpg.UniqueViolationError:
        raise EmailTaken(email) from None
    return account_id


async def count_created_from(db: Queryable, ip: str, window_s: float) -> int:
    """Accounts created from `ip` in the last `window_s` seconds."""
    inet = inet_or_none(ip)
    if inet is None:
        return 0
    count: int = await db.fetchval(
        "SELECT count(*) FROM accounts"
        " WHERE created_by = $1::inet AND created > now() - make_interval(secs => $2)",
        inet,
        float(window_s),
    )
    return count


async def replace_password_hash(db: Queryable, account_id: UUID, old: str, new: str) -> bool:
    """Store a re-made hash, unless the password changed meanwhile (compare-and-set)."""
    status = await db.execute(
        "UPDATE accounts SET password_hash = $3 WHERE account_id = $1 AND password_hash = $2",
        account_id,
        old,
        new,
    )
    return status == "UPDATE 1"


async def touch(db: Queryable, account_id: UUID) -> None:
    await db.execute("UPDATE accounts SET last_active = now() WHERE account_id = $1", account_id)


async def mark_deleted(db: Queryable, account_id: UUID) -> bool:
    """Mark deleted, free its email, drop its keys and tokens. False if unknown or gone.

    Run it inside a transaction so the account and its credentials go together.
    """
    status = await db.execute(
        """
        UPDATE accounts
           SET deleted = true,
               email_address_before_delete = email_address,
               email_address = NULL
         WHERE account_id = $1 AND NOT deleted
        """,
        account_id,
    )
    await db.execute("DELETE FROM api_keys WHERE account_id = $1", account_id)
    await db.execute("DELETE FROM remember_me WHERE account_id = $1", account_id)
    await db.execute("DELETE FROM auth_tokens WHERE account_id = $1", account_id)
    return status == "UPDATE 1"


async def central_log(db: Queryable, event: str, value: dict[str, Any]) -> None:
    """One line in `central_log` (never put secrets in `value`)."""
    await db.execute(
        "INSERT INTO central_log (event, value) VALUES ($1, $2::jsonb)",
        event,
        value,
    )


async def signed_in_message(hub: HubState, identity: Identity, *, remember_me: bool) -> SignedIn:
    """The `signed_in` message for a session that now acts as `identity`."""
    from hub.protocol.messages import SignedIn

    account = await by_id(hub.db, identity.account_id)
    email = account.email_address if account else identity.email_address
    return SignedIn(
        account_id=identity.account_id,
        email_address=email if email is not None else msgspec.UNSET,
        first_name=_or_unset(account.first_name if account else None),
        last_name=_or_unset(account.last_name if account else None),
        remember_me=remember_me,
        hub=hub.address,
    )


def _or_unset(value: str | None) -> Any:
    return msgspec.UNSET if value is None else value


async def lock(db: Queryable, account_id: UUID) -> bool:
    """Lock the account's row until the transaction ends; False if there is no such row."""
    found = await db.fetchval(
        "SELECT true FROM accounts WHERE account_id = $1 FOR UPDATE", account_id
    )
    return bool(found)
