"""`hub license grant` from the shell, as an operator runs it: JSON out, a clear error
for a bad quota or an unknown account, and the license counts in available upgrades."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any
from uuid import UUID

from hub.db import licenses

HUB = [sys.executable, "-m", "hub"]


async def shell(*argv: str) -> tuple[int, dict[str, Any]]:
    done = await asyncio.to_thread(
        subprocess.run, [*HUB, *argv], capture_output=True, text=True, timeout=60
    )
    return done.returncode, json.loads(done.stdout.strip().splitlines()[-1])


async def test_grant_from_the_shell(hub, dsn, connect) -> None:
    code, made = await shell(
        "account", "create", "--email", "op@example.com", "--password", "pw-123456",
        "--database-url", dsn, "--argon2-memory-kib", "8",
    )  # fmt: skip
    assert code == 0, made
    code, granted = await shell(
        "license", "grant", "--email", "op@example.com", "--quota", '{"memory": 1000}',
        "--quantity", "2", "--days", "30", "--database-url", dsn,
    )  # fmt: skip
    assert code == 0, granted
    assert granted["license_id"]
    rows = await licenses.of_account(hub.db, UUID(made["account_id"]))
    assert [str(r.id) for r in rows] == [str(granted["license_id"])]

    code, bad = await shell(
        "license", "grant", "--email", "op@example.com", "--quota", "{nope",
        "--database-url", dsn,
    )  # fmt: skip
    assert code != 0 and bad.get("error"), bad
    code, unknown = await shell(
        "license", "grant", "--email", "nobody@example.com", "--quota", '{"memory": 1}',
        "--database-url", dsn,
    )  # fmt: skip
    assert code == 1 and unknown["error"], unknown
