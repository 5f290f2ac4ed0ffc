"""Data access for `ai_usage`: one row per AI request, for the per-account limits.

Kept in PostgreSQL (not in a hub's memory) so that the limits hold for an account
whatever hub its requests reach. `admit` runs in one transaction holding a
per-account advisory lock, so two requests at once cannot both take the last slot.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from hub.db.database import Database

# pg_advisory_xact_lock(key1, key2): this constant and a hash of the account id
LOCK_CLASS = 0x61_69_75  # "aiu"


@dataclass(frozen=True, slots=True)
class Usage:
    requests_last_minute: int
    tokens_last_day: int
    retry_after_s: float  # until the oldest request of the last minute leaves the window


@dataclass(frozen=True, slots=True)
class Admitted:
    row_id: int | None  # None: refused
    usage: Usage


async def admit(
    db: Database,
    account_id: UUID,
    *,
    kind: str,
    model: str | None,
    requests_per_minute: int,
    tokens_per_day: int,
    project_id: UUID | None = None,
    path: str | None = None,
    tag: str | None = None,
) -> Admitted:
    """Record a request unless the account is at a limit; the usage as it was before."""
    async with db.transaction() as conn:
        await conn.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2::text))", LOCK_CLASS, str(account_id)
        )
        await conn.execute(
            "DELETE FROM ai_usage WHERE account_id = $1 AND time < now() - interval '1 day'",
            account_id,
        )
        row = await conn.fetchrow(
            """
            SELECT count(*) FILTER (WHERE time > now() - interval '1 minute') AS recent,
                   coalesce(sum(tokens), 0) AS tokens,
                   extract(epoch FROM min(time) FILTER (WHERE time > now() - interval '1 minute')
                           + interval '1 minute' - now()) AS wait
            FROM ai_usage WHERE account_id = $1
            """,
            account_id,
        )
        assert row is not None
        usage = Usage(int(row["recent"]), int(row["tokens"]), max(0.0, float(row["wait"] or 0)))
        if (
            usage.requests_last_minute >= requests_per_minute
            or usage.tokens_last_day >= tokens_per_day
        ):
            return Admitted(None, usage)
        row_id = await conn.fetchval(
            "INSERT INTO ai_usage (account_id, kind, model, project_id, path, tag)"
            " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            account_id,
            kind,
            model,
            project_id,
            path,
            tag,
        )
        return Admitted(int(row_id), usage)


async def record_tokens(db: Database, row_id: int, tokens: int) -> None:
    await db.execute("UPDATE ai_usage SET tokens = $2 WHERE id = $1", row_id, max(0, tokens))
