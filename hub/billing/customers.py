"""The account ↔ provider customer link, in the `accounts` table (migration 0010)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from hub.db.database import Queryable


async def customer_id(db: Queryable, account_id: UUID) -> str | None:
    value = await db.fetchval(
        "SELECT stripe_customer_id FROM accounts WHERE account_id = $1", account_id
    )
    return str(value) if value else None


async def link(db: Queryable, account_id: UUID, new_id: str) -> str:
    """Record `new_id` unless the account got a customer meanwhile; return the one kept."""
    kept = await db.fetchval(
        "UPDATE accounts SET stripe_customer_id = $2"
        " WHERE account_id = $1 AND stripe_customer_id IS NULL RETURNING stripe_customer_id",
        account_id,
        new_id,
    )
    if kept is not None:
        return str(kept)
    existing = await customer_id(db, account_id)
    return existing or new_id


async def save_snapshot(db: Queryable, account_id: UUID, customer: dict[str, Any]) -> None:
    await db.execute(
        "UPDATE accounts SET stripe_customer = $2 WHERE account_id = $1",
        account_id,
        customer,
    )


async def forget(db: Queryable, account_id: UUID) -> None:
    """The provider deleted the customer: the next payment method makes a new one."""
    await db.execute(
        "UPDATE accounts SET stripe_customer_id = NULL, stripe_customer = NULL"
        " WHERE account_id = $1",
        account_id,
    )
