"""Deleting rows whose time is up: blobs, remember-me cookies, impersonation tokens,
cached Jupyter results, and the rows of hubs that stopped renewing theirs."""

from __future__ import annotations

from hub.db.database import Queryable

# fixed table names, never from input
_TABLES = ("blobs", "remember_me", "auth_tokens", "jupyter_execute_cache", "hub_servers")


async def delete_expired(db: Queryable) -> dict[str, int]:
    """Delete expired rows of each table; how many went, by table."""
    counts: dict[str, int] = {}
    for table in _TABLES:
        status = await db.execute(f"DELETE FROM {table} WHERE expire <= now()")
        counts[table] = int(status.rsplit(" ", 1)[-1])
    return counts
