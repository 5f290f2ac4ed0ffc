"""Data access for what clients report: errors and usage tracking."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec

from hub.db.database import Database
from hub.protocol.messages import WebappError

ID_MAX = 100  # the request id kept with a report (the reply still echoes it whole)


async def log_client_error(
    db: Database, request_id: str | None, error: str, account_id: UUID | None
) -> None:
    await db.execute(
        "INSERT INTO client_error_log (id, event, error, account_id) VALUES ($1, 'error', $2, $3)",
        None if request_id is None else pg_text(request_id[:ID_MAX]),
        pg_text(error),
        account_id,
    )


def pg_text(text: str) -> str:
    """PostgreSQL text cannot hold NUL; a client's report keeps the rest of it."""
    return text.replace("\x00", "\ufffd")


def pg_json(value: Any) -> Any:
    """A JSON value with every NUL in its strings (keys too) replaced, for jsonb."""
    if isinstance(value, str):
        return pg_text(value)
    if isinstance(value, list):
        return [pg_json(v) for v in value]
    if isinstance(value, dict):
        return {pg_text(str(k)): pg_json(v) for k, v in value.items()}
    return value


def _text(value: Any, limit: int) -> str | None:
    if value is None or value is msgspec.UNSET:
        return None
    return pg_text(str(value)[:limit])


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


async def log_webapp_error(
    db: Database, msg: WebappError, account_id: UUID | None, limit: int
) -> None:
    await db.execute(
        """
        INSERT INTO webapp_errors (account_id, name, message, comment, stacktrace, file, path,
            line_number, column_number, severity, browser, mobile, responsive, user_agent,
            smc_version, build_date, smc_git_rev, uptime)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
        """,
        account_id,
        _text(msg.name, limit),
        _text(msg.message, limit),
        _text(msg.comment, limit),
        _text(msg.stacktrace, limit),
        _text(msg.file, limit),
        _text(msg.path, limit),
        _int(msg.lineNumber),
        _int(msg.columnNumber),
        _text(msg.severity, limit),
        _text(msg.browser, limit),
        _bool(msg.mobile),
        _bool(msg.responsive),
        _text(msg.user_agent, limit),
        _text(msg.smc_version, limit),
        _text(msg.build_date, limit),
        _text(msg.smc_git_rev, limit),
        _text(msg.uptime, limit),
    )


async def track(db: Database, account_id: UUID, event: str, value: Any, limit: int) -> None:
    encoded = msgspec.json.encode(value)
    if len(encoded) > limit:
        value = {"truncated": encoded[:limit].decode("utf-8", "replace")}
    await db.execute(
        "INSERT INTO user_tracking (account_id, event, value) VALUES ($1, $2, $3)",
        account_id,
        pg_text(event),
        pg_json(value),
    )
