"""Data access for `ai_usage`: one row per AI request, for the per-account limits.

Kept in PostgreSQL (not in a hub's memory) so that the limits hold for an account
whatever hub its requests reach. `admit` is one call of the SQL function
`ai_usage_admit` (migration 0009), which holds a per-account advisory lock while it
checks and inserts, so two requests at once cannot both take the last slot.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from hub.db.database import Database


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
    row = await db.fetchrow(
        "SELECT row_id, recent, tokens, wait_s FROM ai_usage_admit($1, $2, $3, $4, $5, $6, $7, $8)",
        account_id,
        kind,
        model,
        project_id,
        path,
        tag,
        requests_per_minute,
        tokens_per_day,
    )
    assert row is not None
    usage = Usage(int(row["recent"]), int(row["tokens"]), max(0.0, float(row["wait_s"] or 0)))
    return Admitted(row["row_id"], usage)


async def record_tokens(db: Database, row_id: int, tokens: int) -> None:
    await db.execute("UPDATE ai_usage SET tokens = $2 WHERE id = $1", row_id, max(0, tokens))
