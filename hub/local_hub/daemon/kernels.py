"""Jupyter kernels (`jupyter_*`): the requests, and the engine started on first use.

The request structs and handlers live here; the engine (`kernel_service`, with
jupyter_client, pyzmq, the pool and the limits) is imported and made on the first
jupyter_* request, so a project that never runs a kernel does not load it
(about 80 ms and 11 MB less per local hub).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from hub.local_hub.daemon import messages as m
from hub.local_hub.daemon.config import DaemonConfig
from hub.local_hub.daemon.paths import ProjectPaths

if TYPE_CHECKING:
    from hub.local_hub.daemon.connection import HubConnection
    from hub.local_hub.daemon.handlers import Handler
    from hub.local_hub.daemon.kernel_service import KernelService


class ExecLimits(msgspec.Struct, kw_only=True):
    timeout_ms: int | None = None
    timeout_ms_per_cell: int | None = None
    max_output: int | None = None
    max_output_per_cell: int | None = None


class PoolOptions(msgspec.Struct, kw_only=True):
    """The hub's pool settings, sent with every request (the daemon keeps the last)."""

    max_kernels: int | None = None
    idle_s: float | None = None
    max_running: int | None = None


class JupyterKernels(m.Request, tag="jupyter_kernels"):
    pass


class JupyterExecute(m.Request, tag="jupyter_execute"):
    input: str
    kernel: str
    history: list[str] | None = None
    path: str | None = None
    limits: ExecLimits | None = None
    pool_options: PoolOptions | None = None


class JupyterStartPool(m.Request, tag="jupyter_start_pool"):
    kernels: dict[str, int]
    pool_options: PoolOptions | None = None


class Kernels:
    """The project's Jupyter engine (`kernel_service.KernelService`), made on first use."""

    def __init__(self, config: DaemonConfig, paths: ProjectPaths) -> None:
        self.config = config
        self.paths = paths
        self._service: KernelService | None = None

    @property
    def service(self) -> KernelService:
        if self._service is None:
            from hub.local_hub.daemon.kernel_service import KernelService

            self._service = KernelService(self.config, self.paths)
        return self._service

    @property
    def started(self) -> bool:
        return self._service is not None

    def forget_link(self, conn: HubConnection) -> None:
        """A hub's link ended: its running executions are cancelled by the connection."""

    async def close(self) -> None:
        """The daemon stops: shut every kernel down."""
        if self._service is not None:
            await self._service.close()


async def jupyter_kernels(msg: JupyterKernels, conn: HubConnection) -> dict[str, Any]:
    return {"event": "jupyter_kernels", "kernels": conn.project.kernels.service.kernel_list()}


async def jupyter_execute(msg: JupyterExecute, conn: HubConnection) -> dict[str, Any]:
    kernels = conn.project.kernels.service
    kernels.configure(msg.pool_options)
    return await kernels.execute(msg)


async def jupyter_start_pool(msg: JupyterStartPool, conn: HubConnection) -> dict[str, Any]:
    kernels = conn.project.kernels.service
    kernels.configure(msg.pool_options)
    return await kernels.start_pool(msg)


HANDLERS: dict[type[m.Request], Handler] = {
    JupyterKernels: jupyter_kernels,
    JupyterExecute: jupyter_execute,
    JupyterStartPool: jupyter_start_pool,
}
