"""Wire the hub together: database, handlers, WebSocket and HTTP on one port.

`Hub.start()` brings everything up (an embedded PostgreSQL when no database URL
is given, migrations, the listening socket); `Hub.stop()` is the graceful stop:
stop accepting, tell clients to reconnect, close them with 1001, let running
handlers finish within `shutdown_grace_s`, then close the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from typing import Any

import structlog
from aiohttp import web

from hub.auth.api_keys import ApiKeyCache
from hub.auth.throttle import SignInThrottle
from hub.config import Settings
from hub.db.database import Database
from hub.db.embedded import EmbeddedPostgres
from hub.db.migrate import migrate
from hub.handlers import accounts, system
from hub.handlers.registry import Router
from hub.metrics import Metrics
from hub.sessions.registry import SessionRegistry
from hub.state import HubState
from hub.transport.http_api import HttpApi
from hub.transport.http_routes import HttpRoutes
from hub.transport.websocket import WebSocketEndpoint

log = structlog.get_logger()

ALL_ROUTES = (system.routes, accounts.routes)


def make_router() -> Router:
    return Router(ALL_ROUTES)


class Hub:
    def __init__(self, settings: Settings, router: Router | None = None) -> None:
        self.settings = settings
        self.router = router or make_router()
        self.sessions = SessionRegistry()
        self.embedded: EmbeddedPostgres | None = None
        self.db: Database | None = None
        self.state: HubState | None = None
        self._runner: web.AppRunner | None = None
        self.port: int = settings.port
        self._stopped = asyncio.Event()

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.port}"

    async def start(self) -> None:
        settings = self.settings
        dsn = settings.database_url
        if not dsn:
            self.embedded = EmbeddedPostgres()
            dsn = await asyncio.to_thread(self.embedded.start, settings.data_dir)
        applied = await migrate(dsn)
        if applied:
            log.info("migrations applied", names=applied)
        self.db = await Database.open(dsn, settings)
        self.db.start_health_monitor()
        metrics = Metrics()
        sock = _listen(settings.host, settings.port)
        self.port = sock.getsockname()[1]
        self.state = HubState(
            settings=settings,
            db=self.db,
            metrics=metrics,
            sign_in_throttle=SignInThrottle(settings),
            api_key_cache=ApiKeyCache(settings.api_key_cache_s),
            address=f"{settings.host}:{self.port}",
            sessions=self.sessions,
        )
        app = self._make_app(self.state)
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=settings.shutdown_grace_s
        )
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        log.info("hub serving", url=self.url, websocket=f"ws://{settings.host}:{self.port}/hub")

    def _make_app(self, state: HubState) -> web.Application:
        settings = state.settings
        app = web.Application(client_max_size=settings.api_max_body_bytes + 1)
        websocket = WebSocketEndpoint(state, self.router, self.sessions)
        api = HttpApi(state, self.router)
        routes = HttpRoutes(state)
        app.router.add_get("/hub", websocket.handle)
        app.router.add_get("/api/v1", api.reference)
        app.router.add_get("/api/v1/", api.reference)
        app.router.add_post("/api/v1/{event}", api.handle)
        app.router.add_get("/healthz", routes.healthz)
        app.router.add_get("/metrics", routes.metrics)
        app.router.add_get("/cookies", routes.cookies)
        app.router.add_get("/auth/impersonate", routes.impersonate)
        return app

    async def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        counts: dict[str, Any] = {}
        if self._runner is not None:
            counts = await self.sessions.shutdown(self.settings.shutdown_grace_s)
            await self._runner.cleanup()
        if self.db is not None:
            await self.db.close()
        if self.embedded is not None:
            await asyncio.to_thread(self.embedded.stop)
        log.info("hub stopped", **counts)

    async def serve_until_signalled(self) -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await self.start()
            await stop.wait()
            log.info("signal received; stopping")
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(Exception):
                    loop.remove_signal_handler(sig)
            await self.stop()


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock
