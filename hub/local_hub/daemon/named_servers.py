"""`named_server_port`: start a known server (Jupyter, code-server, …) once, report its port.

A server is started on first request when its program is on the project's PATH,
on a free loopback port, in its own process group, with HOME = the project and
its output in HOME/.smc/named-servers/<name>.log. Later requests get the same
port while it runs (a dead one is started again). The daemon stops them all
when it stops.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from hub.local_hub.daemon.errors import ProjectError
from hub.local_hub.daemon.process import Child

REGISTRY: Mapping[str, tuple[str, ...]] = {
    "jupyter": (
        "jupyter", "lab", "--no-browser", "--port={port}", "--ip=127.0.0.1",
        "--port-retries=0", "--ServerApp.root_dir={home}",
    ),
    "jupyterlab": (
        "jupyter", "lab", "--no-browser", "--port={port}", "--ip=127.0.0.1",
        "--port-retries=0", "--ServerApp.root_dir={home}",
    ),
    "jupyter-notebook": (
        "jupyter", "notebook", "--no-browser", "--port={port}", "--ip=127.0.0.1",
        "--port-retries=0",
    ),
    "code": ("code-server", "--bind-addr=127.0.0.1:{port}", "--auth=none", "{home}"),
    "pluto": (
        "julia", "-e",
        'import Pluto; Pluto.run(host="127.0.0.1", port={port}, launch_browser=false)',
    ),
    "rserver": ("rserver", "--www-port={port}", "--www-address=127.0.0.1"),
}  # fmt: skip
"""name -> argv, with `{port}` and `{home}` filled in."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(slots=True)
class _Running:
    port: int
    child: Child


class NamedServers:
    def __init__(
        self,
        home: Path,
        env: Mapping[str, str],
        registry: Mapping[str, tuple[str, ...]] = REGISTRY,
    ) -> None:
        self.home = home
        self.env = dict(env)
        self.registry = registry
        self.log_dir = home / ".smc" / "named-servers"
        self._running: dict[str, _Running] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def port(self, name: str) -> int:
        template = self.registry.get(name)
        if template is None:
            raise ProjectError(f"unknown named server '{name}'")
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            running = self._running.get(name)
            if running is not None and running.child.running:
                return running.port
            if running is not None:
                running.child.close()
            port = free_port()
            argv = [a.format(port=port, home=self.home) for a in template]
            program = shutil.which(argv[0], path=self.env.get("PATH"))
            if program is None:
                raise ProjectError(f"named server '{name}' is not installed in this project")
            log = await asyncio.to_thread(self._open_log, name)
            with log:
                try:
                    child = Child.spawn(
                        [program, *argv[1:]], cwd=self.home, env=self.env, output=log
                    )
                except OSError as exc:
                    raise ProjectError(f"named server '{name}' could not start: {exc}") from None
            self._running[name] = _Running(port, child)
            return port

    def _open_log(self, name: str) -> IO[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return open(self.log_dir / f"{name}.log", "ab")

    async def stop_all(self) -> None:
        running, self._running = list(self._running.values()), {}
        for r in running:
            r.child.kill_group(signal.SIGTERM)
        for r in running:
            try:
                await asyncio.wait_for(r.child.wait(), 3.0)
            except TimeoutError:
                r.child.kill_group(signal.SIGKILL)
                await r.child.wait()
            r.child.close()
