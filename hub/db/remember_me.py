"""Data access for `remember_me`: cookie tokens, stored only as SHA-256 hashes.

Expiry is enforced in every lookup (CoCalc relied on a cleanup job instead).
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from hub.db.database import Queryable


@dataclass(frozen=True, slots=True)
class CookieOwner:
    account_id: UUID
    email_address: str | None
    groups: tuple[str, ...]
    # read in the same query, so a connection signed in by cookie costs one round trip
    first_name: str | None = None
    last_name: str | None = None


async def insert(db: Queryable, token_hash: bytes, account_id: UUID, ttl_s: float) -> None:
    await db.execute(
        """
        INSERT INTO remember_me (hash, account_id, expire)
        VALUES ($1, $2, now() + make_interval(secs => $3))
        """,
        token_hash,
        account_id,
        float(ttl_s),
    )


async def owner(db: Queryable, token_hash: bytes) -> CookieOwner | None:
    """The live, unbanned account an unexpired token belongs to."""
    record = await db.fetchrow(
        """
        SELECT a.account_id, a.email_address, a.groups, a.first_name, a.last_name
          FROM remember_me r JOIN accounts a USING (account_id)
         WHERE r.hash = $1 AND r.expire > now() AND NOT a.deleted AND NOT a.banned
        """,
        token_hash,
    )
    if record is None:
        return None
    return CookieOwner(
        account_id=record["account_id"],
        email_address=record["email_address"],
        groups=tuple(record["groups"] or ()),
        first_name=record["first_name"],
        last_name=record["last_name"],
    )


async def mark_cookie_set(db: Queryable, token_hash: bytes, within_s: float) -> bool:
    """Claim the one-time right to set this token as a cookie (only soon after creation)."""
    status = await db.execute(
        """
        UPDATE remember_me SET cookie_set = true
         WHERE hash = $1 AND NOT cookie_set AND expire > now()
           AND created > now() - make_interval(secs => $2)
        """,
        token_hash,
        float(within_s),
    )
    return status == "UPDATE 1"


async def delete(db: Queryable, token_hash: bytes) -> None:
    await db.execute("DELETE FROM remember_me WHERE hash = $1", token_hash)


async def delete_all(db: Queryable, account_id: UUID) -> int:
    status = await db.execute("DELETE FROM remember_me WHERE account_id = $1", account_id)
    return int(status.split()[-1])
