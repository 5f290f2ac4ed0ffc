"""Data access for `auth_tokens`: `user_auth` tokens, stored only as SHA-256 hashes."""

from __future__ import annotations

from uuid import UUID

from hub.db.database import Queryable


async def insert(db: Queryable, token_hash: bytes, account_id: UUID, ttl_s: float) -> None:
    await db.execute(
        """
        INSERT INTO auth_tokens (hash, account_id, expire)
        VALUES ($1, $2, now() + make_interval(secs => $3))
        """,
        token_hash,
        account_id,
        float(ttl_s),
    )


async def take(db: Queryable, token_hash: bytes) -> UUID | None:
    """Use up an unexpired token: delete it and return its live, unbanned account."""
    account_id: UUID | None = await db.fetchval(
        """
        WITH used AS (
            DELETE FROM auth_tokens WHERE hash = $1 RETURNING account_id, expire
        )
        SELECT a.account_id FROM used JOIN accounts a USING (account_id)
         WHERE used.expire > now() AND NOT a.deleted AND NOT a.banned
        """,
        token_hash,
    )
    return account_id
