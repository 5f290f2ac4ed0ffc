"""System events: ping, heartbeat, version, and the client-side logs."""

from __future__ import annotations

from datetime import UTC, datetime

from hub.db import client_logs
from hub.errors import CloseCode
from hub.handlers.context import Context
from hub.handlers.registry import Routes
from hub.protocol.messages import (
    Heartbeat,
    LogClientError,
    Ping,
    Pong,
    Success,
    UserTracking,
    Version,
    WebappError,
)

routes = Routes()

# A client below the minimum version that just connected is closed at once; one
# that has been connected a while gets a minute to save its work (as CoCalc did).
RECENT_CONNECT_S = 30.0
CLOSE_DELAY_S = 60.0


@routes.handler(Ping, signed_in=False, inline=True)
async def ping(msg: Ping, ctx: Context) -> Pong:
    return Pong(id=msg.id, now=datetime.now(UTC))


@routes.handler(Heartbeat, signed_in=False, inline=True)
async def heartbeat(msg: Heartbeat, ctx: Context) -> None:
    return None


@routes.handler(Version, signed_in=False, inline=True)
async def version(msg: Version, ctx: Context) -> Version | None:
    settings = ctx.hub.settings
    client_version = msg.version if isinstance(msg.version, int) else 0
    ctx.session.set_client_version(client_version)
    recommended = max(settings.version_recommended, settings.version_min)
    if client_version >= recommended:
        return None
    if settings.version_min and client_version < settings.version_min:
        connected_for = ctx.session.connected_for_s
        delay = 0.5 if connected_for <= RECENT_CONNECT_S else CLOSE_DELAY_S
        ctx.session.close_soon(CloseCode.CLIENT_TOO_OLD, "client version too old", delay)
    return Version(version=recommended, min_version=settings.version_min)


def _clip(text: str | None, limit: int) -> str | None:
    return None if text is None else text[:limit]


@routes.handler(LogClientError, signed_in=False, http_needs_key=True)
async def log_client_error(msg: LogClientError, ctx: Context) -> Success:
    limit = ctx.hub.settings.client_log_max_chars
    await client_logs.log_client_error(
        ctx.hub.db, msg.id or None, _clip(str(msg.error), limit) or "", ctx.session.account_id
    )
    return Success(id=msg.id)


@routes.handler(WebappError, signed_in=False)
async def webapp_error(msg: WebappError, ctx: Context) -> Success | None:
    limit = ctx.hub.settings.client_log_max_chars
    await client_logs.log_webapp_error(ctx.hub.db, msg, ctx.session.account_id, limit)
    return Success(id=msg.id) if msg.id else None


@routes.handler(UserTracking)
async def user_tracking(msg: UserTracking, ctx: Context) -> Success | None:
    account_id = ctx.session.account_id
    assert account_id is not None
    limit = ctx.hub.settings.client_log_max_chars
    await client_logs.track(ctx.hub.db, account_id, str(msg.evt)[:limit], msg.value, limit)
    return Success(id=msg.id) if msg.id else None
