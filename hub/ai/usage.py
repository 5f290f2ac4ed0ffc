"""The per-account AI limits: requests per minute and tokens per 24 hours (both
settings, both counted in PostgreSQL by hub/db/ai_usage.py so every hub sees them)."""

from __future__ import annotations

import math
from uuid import UUID

from hub.config import Settings
from hub.db import ai_usage
from hub.db.database import Database
from hub.errors import HubError, NotSignedIn, RateLimited

NOT_CONFIGURED = "the AI assistant is not configured on this server (ai_base_url)"


def require_configured(settings: Settings) -> None:
    if not settings.ai_base_url.strip():
        raise HubError(NOT_CONFIGURED)


def estimate_tokens(text: str) -> int:
    """About four characters a token for English text (OpenAI's own rule of thumb);
    used only to bound a request before the endpoint counts it."""
    return math.ceil(len(text) / 4)


async def take(
    db: Database,
    settings: Settings,
    account_id: UUID | None,
    *,
    kind: str,
    model: str | None,
    project_id: UUID | None = None,
    path: str | None = None,
    tag: str | None = None,
) -> tuple[int, int]:
    """Count one request for the account or raise RateLimited; (usage row id, tokens left
    today before this request)."""
    if account_id is None:
        raise NotSignedIn("user must be signed in to use the AI assistant")
    admitted = await ai_usage.admit(
        db,
        account_id,
        kind=kind,
        model=model,
        requests_per_minute=settings.ai_requests_per_minute,
        tokens_per_day=settings.ai_tokens_per_day,
        project_id=project_id,
        path=path,
        tag=tag,
    )
    usage = admitted.usage
    if admitted.row_id is None:
        if usage.tokens_last_day >= settings.ai_tokens_per_day:
            raise RateLimited(
                f"AI token limit reached: {usage.tokens_last_day} of"
                f" {settings.ai_tokens_per_day} tokens used in the last 24 hours"
            )
        wait = max(1, math.ceil(usage.retry_after_s))
        raise RateLimited(
            f"AI rate limit reached: at most {settings.ai_requests_per_minute} requests"
            f" per minute; try again in {wait} s"
        )
    return admitted.row_id, settings.ai_tokens_per_day - usage.tokens_last_day


async def record(db: Database, row_id: int, tokens: int) -> None:
    await ai_usage.record_tokens(db, row_id, tokens)
