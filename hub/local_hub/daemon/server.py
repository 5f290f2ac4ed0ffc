"""The daemon: its files in HOME/.smc, the listening socket, and every hub's connection.

    daemon = Daemon(config)
    port = await daemon.start()   # .smc/ (0700), lock, token, listen, port file, stdout line
    ...
    await daemon.stop()           # stop listening, drop links, kill commands and servers

HOME/.smc holds `secret_token` (0600, kept across restarts), `hub-server.port`
(written by rename once listening), `local-hub.pid` (the daemon's pid, locked
with `flock` while it runs: a second daemon on the same HOME exits at once) and
`tmp/` (staging for copies and archives, emptied at start).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import secrets
import shutil
from pathlib import Path
from typing import IO, Any

import structlog

from hub.local_hub.daemon.aggregate import Aggregator
from hub.local_hub.daemon.archives import Archives
from hub.local_hub.daemon.config import DaemonConfig
from hub.local_hub.daemon.connection import HubConnection
from hub.local_hub.daemon.copy import Copies
from hub.local_hub.daemon.execute import ExecResult, Executor, OutputBudget
from hub.local_hub.daemon.files import Files
from hub.local_hub.daemon.kernels import Kernels
from hub.local_hub.daemon.named_servers import NamedServers
from hub.local_hub.daemon.paths import ProjectPaths
from hub.local_hub.daemon.terminals import Terminals
from hub.local_hub.daemon.worksheets import Worksheets
from hub.local_hub.link import LinkError, LinkRefused, accept

log = structlog.get_logger("hub.local_hub.daemon")

TOKEN_FILE = "secret_token"
PORT_FILE = "hub-server.port"
PID_FILE = "local-hub.pid"
MIN_TOKEN_CHARS = 16
_STREAM_LIMIT = 1024 * 1024


class DaemonError(Exception):
    """The daemon cannot start (another one holds HOME, the port is taken, …)."""


class Project:
    """What all of a daemon's connections share: settings, paths, services."""

    def __init__(self, config: DaemonConfig) -> None:
        self.config = config
        self.paths = ProjectPaths(config.home)
        tmp = config.smc_dir / "tmp"
        env = dict(config.env)
        self.executor = Executor(self.paths, env, OutputBudget(config.max_output_bytes))
        self.aggregator: Aggregator[ExecResult] = Aggregator(
            lambda r: len(r.stdout) + len(r.stderr), config.max_output_bytes
        )
        self.files = Files(self.paths, config.max_file_bytes)
        self.archives = Archives(
            self.paths,
            max_file_bytes=config.max_file_bytes,
            max_archive_bytes=config.max_archive_bytes,
            tmp_dir=tmp,
        )
        self.copies = Copies(self.paths, tmp)
        self.named_servers = NamedServers(config.home, env)
        self.worksheets = Worksheets(config, self.paths, self.broadcast)
        self.terminals = Terminals(config, self.paths)
        self.kernels = Kernels(config, self.paths)
        self.links: set[HubConnection] = set()
        """Every hub connected now (messages from the project go to all of them)."""

    def forget_link(self, conn: HubConnection) -> None:
        self.links.discard(conn)
        self.worksheets.forget_link(conn)
        self.terminals.forget_link(conn)
        self.kernels.forget_link(conn)

    async def broadcast(self, message: dict[str, Any], skip: HubConnection | None = None) -> None:
        """Send an unsolicited message (no id) to every connected hub but `skip`."""
        for conn in list(self.links):
            if conn is not skip:
                with contextlib.suppress(LinkError):
                    await conn.link.send(message)

    async def close(self) -> None:
        await self.aggregator.close()
        await self.named_servers.stop_all()
        await self.worksheets.close()
        await self.terminals.close()
        await self.kernels.close()


def _write_by_rename(path: Path, text: str, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def load_token(smc: Path) -> bytes:
    """The secret token: kept from an earlier run when sane, else 64 new URL-safe characters."""
    path = smc / TOKEN_FILE
    with contextlib.suppress(OSError, UnicodeDecodeError):
        token = path.read_text().strip()
        if len(token) >= MIN_TOKEN_CHARS:
            os.chmod(path, 0o600)
            return token.encode()
    token = secrets.token_urlsafe(48)
    _write_by_rename(path, token, 0o600)
    return token.encode()


class Daemon:
    def __init__(self, config: DaemonConfig) -> None:
        self.config = config
        self.project = Project(config)
        self.port = 0
        self._token = b""
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._lock_file: IO[str] | None = None

    async def start(self) -> int:
        smc = self.config.smc_dir
        self.config.home.mkdir(parents=True, exist_ok=True)
        if smc.is_symlink():
            raise DaemonError(f"{smc} is a symbolic link; refusing to keep secrets there")
        smc.mkdir(mode=0o700, exist_ok=True)
        os.chmod(smc, 0o700)
        self._lock()
        self._token = load_token(smc)
        shutil.rmtree(smc / "tmp", ignore_errors=True)
        try:
            self._server = await asyncio.start_server(
                self._on_connect, self.config.host, self.config.port, limit=_STREAM_LIMIT
            )
        except OSError as exc:
            where = f"{self.config.host}:{self.config.port}"
            raise DaemonError(f"cannot listen on {where}: {exc}") from None
        self.port = self._server.sockets[0].getsockname()[1]
        _write_by_rename(smc / PORT_FILE, str(self.port), 0o644)
        print(json.dumps({"event": "listening", "port": self.port, "pid": os.getpid()}), flush=True)
        log.info("listening", home=str(self.config.home), host=self.config.host, port=self.port)
        return self.port

    def _lock(self) -> None:
        path = self.config.smc_dir / PID_FILE
        f = open(path, "a+")  # noqa: SIM115 — held open for the daemon's life
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            raise DaemonError(f"another local hub is serving {self.config.home}") from None
        f.truncate(0)
        f.write(f"{os.getpid()}\n")
        f.flush()
        self._lock_file = f

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            try:
                link = await accept(
                    reader,
                    writer,
                    self._token,
                    timeout=self.config.handshake_timeout_s,
                    max_frame_bytes=self.config.max_frame_bytes,
                )
            except LinkRefused:
                log.warning("hub refused: invalid secret token", peer=_peer(writer))
                return
            except LinkError as exc:
                log.info("handshake failed", peer=_peer(writer), reason=str(exc))
                return
            log.info("hub connected", peer=link.peer)
            await HubConnection(link, self.project).serve()
        finally:
            self._connections.discard(task)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        connections = list(self._connections)
        for task in connections:
            task.cancel()
        await asyncio.gather(*connections, return_exceptions=True)
        await self.project.close()
        port_file = self.config.smc_dir / PORT_FILE
        with contextlib.suppress(OSError):
            if port_file.read_text().strip() == str(self.port):
                port_file.unlink()
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None
        log.info("stopped", port=self.port)


def _peer(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
