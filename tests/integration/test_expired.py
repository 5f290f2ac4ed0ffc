"""Expired rows go: blobs, remember-me cookies and impersonation tokens."""

from __future__ import annotations

import uuid

from hub.db import blobs
from hub.db.database import Database
from hub.db.expired import delete_expired


async def test_only_expired_rows_are_deleted(db: Database) -> None:
    live, dead = uuid.uuid4(), uuid.uuid4()
    await blobs.save(db, live, b"keep", ttl_s=3600)
    await blobs.save(db, dead, b"drop", ttl_s=3600)
    await db.execute("UPDATE blobs SET expire = now() - interval '1 second' WHERE id = $1", dead)
    counts = await delete_expired(db)
    assert counts == {
        "blobs": 1,
        "remember_me": 0,
        "auth_tokens": 0,
        "jupyter_execute_cache": 0,
        "hub_servers": 0,
    }
    assert await blobs.get(db, live) is not None
    assert await db.fetchval("SELECT count(*) FROM blobs") == 1
