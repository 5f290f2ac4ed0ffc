"""Wire the hub together: database, handlers, WebSocket and HTTP on one port.

`Hub.start()` brings everything up (an embedded PostgreSQL when no database URL
is given, migrations, the listening socket); `Hub.stop()` is the graceful stop:
stop accepting, tell clients to reconnect, close them with 1001, let running
handlers finish within `shutdown_grace_s`, then close the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import structlog
from aiohttp import web

from hub.auth.api_keys import ApiKeyCache
from hub.auth.throttle import SignInThrottle
from hub.config import Settings
from hub.db import expired
from hub.db.database import Database
from hub.db.embedded import EmbeddedPostgres
from hub.db.migrate import migrate
from hub.errors import HubError
from hub.handlers import (
    accounts,
    ai,
    billing,
    copy_path,
    files,
    jupyter,
    pdf,
    projects,
    query,
    relay,
    save_blob,
    system,
    terminals,
    upgrades,
    users,
    worksheets,
)
from hub.handlers.context import Context, Session
from hub.handlers.registry import Router
from hub.live.services import LiveServices
from hub.local_hub.pool import LinkSettings, ProjectLinks
from hub.local_hub.reachable import daemon_runnable_by_others
from hub.local_hub.runner import LocalProcessRunner
from hub.local_hub.runner_template import TemplateRunner
from hub.metrics import Metrics
from hub.peers import HubRegistration, advertised_host
from hub.projects.access import AccessCache, require
from hub.projects.copy import CopyWorker
from hub.query.changes import ChangeLog
from hub.query.feeds import Feeds
from hub.sessions.keepalive import keep_alive
from hub.sessions.registry import SessionRegistry
from hub.state import HubState
from hub.transport.blobs import BlobRoutes
from hub.transport.http_api import HttpApi
from hub.transport.http_routes import HttpRoutes
from hub.transport.web_console import WebConsole
from hub.transport.websocket import WebSocketEndpoint
from hub.upgrades.service import run_upgrade_services

log = structlog.get_logger()

ALL_ROUTES = (
    system.routes,
    accounts.routes,
    projects.routes,
    relay.routes,
    files.routes,
    copy_path.routes,
    query.routes,
    worksheets.routes,
    terminals.routes,
    jupyter.routes,
    ai.routes,
    billing.routes,
    pdf.routes,
    upgrades.routes,
    users.routes,
    save_blob.routes,
)


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
        self._background: list[asyncio.Task[None]] = []
        self.change_log: ChangeLog | None = None
        self.registration: HubRegistration | None = None

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
        hub_id = f"{socket.gethostname()}:{self.port}:{os.getpid()}"
        runner = choose_runner(settings)
        runner.start_reaper()
        links = ProjectLinks(runner, link_settings(settings))
        copies = CopyWorker(
            self.db,
            links,
            hub_id,
            default_timeout_s=settings.copy_timeout_s,
            poll_s=settings.copy_poll_s,
        )
        copies.start_scheduler()
        self.change_log = await ChangeLog.start(
            dsn, self.db, retention_s=settings.change_log_retention_s
        )
        self.state = HubState(
            settings=settings,
            db=self.db,
            metrics=metrics,
            sign_in_throttle=SignInThrottle(settings),
            api_key_cache=ApiKeyCache(settings.api_key_cache_s),
            address=f"{settings.host}:{self.port}",
            sessions=self.sessions,
            runner=runner,
            projects=links,
            copies=copies,
            access_cache=AccessCache(settings.project_access_cache_s),
            hub_id=hub_id,
            feeds=Feeds(self.change_log, settings.feeds_per_client),
            live=LiveServices.create(settings, links),
        )
        self.state.live.audience.may_write = write_access_check(self.state)
        self.registration = HubRegistration(
            self.db,
            self.sessions,
            hub_id,
            advertised_host(settings.host, settings.advertise_host),
            self.port,
            settings.hub_heartbeat_s,
        )
        await self.registration.register()
        metrics.watch_peers(self.registration)
        loop = asyncio.get_running_loop()
        self._background = [
            loop.create_task(keep_alive(self.sessions, settings.ws_heartbeat_s)),
            loop.create_task(clean_up_expired(self.db, settings.cleanup_interval_s)),
            loop.create_task(self.registration.run()),
            loop.create_task(run_upgrade_services(self.state, self.change_log)),
        ]
        app = self._make_app(self.state)
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=settings.shutdown_grace_s
        )
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        log.info("hub serving", url=self.url, websocket=f"ws://{settings.host}:{self.port}/hub")

    def _make_app(self, state: HubState) -> web.Application:
        settings = state.settings
        app = web.Application(
            client_max_size=max(settings.api_max_body_bytes, settings.blob_upload_max_bytes) + 1
        )
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
        blob_routes = BlobRoutes(state)
        app.router.add_get("/blobs/{blob_id}", blob_routes.download)
        app.router.add_post("/blobs", blob_routes.upload)
        if settings.web_console:
            WebConsole().add_routes(app)
        return app

    async def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        counts: dict[str, Any] = {}
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self.registration is not None:
            await self.registration.unregister()  # peers and `hub status` see us leave first
        if self._runner is not None:
            counts = await self.sessions.shutdown(self.settings.shutdown_grace_s)
            await self._runner.cleanup()
        if self.change_log is not None:
            await self.change_log.close()
        if self.state is not None:
            await self.state.live.close()
            await self.state.copies.close()
            await self.state.projects.close()
            await self.state.runner.close()  # projects keep running for the next hub
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


async def clean_up_expired(db: Database, interval_s: float) -> None:
    """Every interval, delete expired blobs, cookies and tokens (any hub may do it)."""
    while True:
        try:
            counts = await expired.delete_expired(db)
            if any(counts.values()):
                log.info("expired rows deleted", **counts)
        except HubError:
            pass  # database down: next time
        await asyncio.sleep(interval_s)


def isolate_projects(settings: Settings) -> bool:
    """Whether projects run as their own Unix users (only possible as root)."""
    choice = settings.project_isolate_users.strip().lower()
    if choice in ("on", "true", "1", "yes"):
        return True
    if choice in ("off", "false", "0", "no"):
        return False
    if os.geteuid() != 0:
        return False
    if daemon_runnable_by_others(settings.project_python or None):
        return True
    log.warning(
        "projects run as root: the daemon's interpreter or packages are not readable by"
        " other users; install the hub outside /root or set --project-python to enable"
        " one Unix user per project (or --project-isolate-users off to silence this)"
    )
    return False


def choose_runner(settings: Settings) -> LocalProcessRunner | TemplateRunner:
    """The runner `project_runner` names: `local` (the default) or `template`."""
    kind = settings.project_runner.strip().lower()
    if kind == "template":
        return TemplateRunner(
            settings.project_address_template, Path(settings.project_token_key_file)
        )
    if kind != "local":
        raise ValueError(f"project_runner must be local or template, not {kind!r}")
    return make_runner(settings)


def make_runner(settings: Settings) -> LocalProcessRunner:
    """The default project runner: local daemons under <data-dir>/projects."""
    data_dir = settings.data_dir.resolve()
    uid_range: tuple[int, int] | None = None
    if settings.project_uid_range:
        low, _, high = settings.project_uid_range.partition("-")
        uid_range = (int(low), int(high))
    return LocalProcessRunner(
        data_dir / "projects",
        data_dir / "runner",
        isolate_users=isolate_projects(settings),
        host=settings.project_host,
        python=settings.project_python or None,
        start_timeout_s=settings.project_start_timeout_s,
        stop_grace_s=settings.project_stop_grace_s,
        idle_timeout_s=settings.project_idle_timeout_s,
        reap_interval_s=settings.project_reap_interval_s,
        uid_range=uid_range,
        max_processes=settings.project_max_processes,
    )


def write_access_check(state: HubState) -> Callable[[Session, UUID], Awaitable[bool]]:
    """The access rules, for deliveries that have a session but no request."""

    async def may_write(session: Session, project_id: UUID) -> bool:
        try:
            await require(Context(state, session), project_id, "write")
        except HubError:
            return False
        return True

    return may_write


def link_settings(settings: Settings) -> LinkSettings:
    return LinkSettings(
        connect_timeout_s=settings.project_connect_timeout_s,
        heartbeat_s=settings.project_heartbeat_s,
        max_frame_bytes=settings.project_max_frame_bytes,
        max_blob_bytes=settings.project_max_blob_bytes,
    )


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock
