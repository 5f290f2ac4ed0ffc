"""The Jupyter engine of a project: kernelspecs, executions, the pool (jupyter_client).

Imported on the first jupyter_* request only (`kernels.Kernels`), so a project
that never runs a kernel does not load jupyter_client and pyzmq.

`execute` runs `history` then `input`, each as its own cell, in one kernel
(taken from the pool when one of that name is ready, else started) and kills the
kernel afterwards, whatever happened: no kernel is ever used for two requests.
Only the input's outputs are returned (as CoCalc does); the history's outputs are
dropped, but count towards the output limits. Limits come with the request (the
hub sends its settings, lowered by the client's); the first one exceeded ends the
request with an error naming it.

The working directory is the directory of `path` (a notebook's path, relative to
HOME, confined to the project), HOME without one. Kernel processes get the
project's command environment, and their connection files live in HOME/.smc.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path
from typing import Any

from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from jupyter_core.paths import jupyter_path

from hub.local_hub.daemon.config import DaemonConfig
from hub.local_hub.daemon.errors import ProjectError
from hub.local_hub.daemon.kernel_pool import KernelPool, PoolSettings
from hub.local_hub.daemon.kernel_run import (
    Budget,
    KernelDied,
    KernelProcess,
    LimitExceeded,
    Limits,
)
from hub.local_hub.daemon.kernels import ExecLimits, JupyterExecute, JupyterStartPool, PoolOptions
from hub.local_hub.daemon.paths import ProjectPaths

RUNTIME_DIR = "jupyter"  # under HOME/.smc


class KernelService:
    """Kernelspecs, the pool and the running kernels of one project."""

    def __init__(self, config: DaemonConfig, paths: ProjectPaths) -> None:
        self.config = config
        self.paths = paths
        # the project's own kernelspecs first, wherever the daemon's HOME points
        own = str(paths.home / ".local" / "share" / "jupyter" / "kernels")
        dirs = [own, *(d for d in jupyter_path("kernels") if d != own)]
        self.specs = KernelSpecManager(kernel_dirs=dirs)
        self._runtime_dir = config.smc_dir / RUNTIME_DIR
        self.pool = KernelPool(self._new_kernel, str(paths.home))
        self.pool.settings = PoolSettings(
            max_kernels=config.jupyter_pool_max_kernels, idle_s=config.jupyter_pool_idle_s
        )
        self.max_running = config.jupyter_max_running
        self.running: set[KernelProcess] = set()
        self._killing: set[asyncio.Task[None]] = set()
        self._waiting = 0  # executions waiting for a pooled kernel that is starting
        self.cold_starts = 0

    def _new_kernel(self, name: str) -> KernelProcess:
        return KernelProcess(name, self.specs, self._runtime_dir, self.config.env)

    def configure(self, options: PoolOptions | None) -> None:
        if options is None:
            return
        current = self.pool.settings
        self.pool.settings = PoolSettings(
            max_kernels=current.max_kernels if options.max_kernels is None else options.max_kernels,
            idle_s=current.idle_s if options.idle_s is None else options.idle_s,
            start_timeout_s=current.start_timeout_s,
        )
        if options.max_running is not None:
            self.max_running = options.max_running

    # ------------------------------------------------------------------------- requests

    def kernel_list(self) -> list[dict[str, Any]]:
        out = []
        for name, entry in sorted(self.specs.get_all_specs().items()):
            spec = entry.get("spec", {})
            out.append(
                {
                    "name": name,
                    "display_name": spec.get("display_name", name),
                    "language": spec.get("language", ""),
                    "interrupt_mode": spec.get("interrupt_mode", "signal"),
                    "metadata": spec.get("metadata", {}),
                }
            )
        return out

    def _check_kernel(self, name: str) -> None:
        try:
            self.specs.get_kernel_spec(name)
        except NoSuchKernel:
            names = ", ".join(sorted(self.specs.find_kernel_specs())) or "none"
            raise ProjectError(
                f"jupyter_execute: no kernel named '{name}' (available: {names})"
            ) from None

    def _working_directory(self, path: str | None) -> str:
        if not path:
            return str(self.paths.home)
        real = self.paths.resolve(path)
        directory = real if path.endswith("/") else real.parent
        if not directory.is_dir():
            rel = self.paths.relative(directory) or "."
            raise ProjectError(f"jupyter_execute: directory '{rel}' does not exist")
        return str(directory)

    async def execute(self, msg: JupyterExecute) -> dict[str, Any]:
        self._check_kernel(msg.kernel)
        cwd = self._working_directory(msg.path)
        limits = _limits(msg.limits)
        if len(self.running) + self._waiting >= self.max_running:
            raise ProjectError(
                "jupyter_execute: too many kernels running in this project"
                f" (at most {self.max_running}); try again later"
            )
        budget = Budget(limits)
        self._waiting += 1
        try:
            async with asyncio.timeout(max(0.0, budget.remaining_s())):
                kernel = await self.pool.take(msg.kernel)
        except TimeoutError:
            raise ProjectError(budget.cell_timeout_s()[1]) from None
        finally:
            self._waiting -= 1
        pooled = kernel is not None
        if kernel is not None and cwd != str(self.paths.home) and kernel.language != "python":
            await kernel.kill()  # cannot move it: start one in the right directory
            kernel, pooled = None, False
        if kernel is None:
            kernel = self._new_kernel(msg.kernel)
            self.cold_starts += 1
        self.running.add(kernel)
        try:
            if not pooled:
                timeout = budget.remaining_s()
                if timeout <= 0:
                    raise LimitExceeded(budget.cell_timeout_s()[1])
                try:
                    await kernel.start(cwd, timeout)
                except TimeoutError:
                    raise LimitExceeded(
                        "jupyter_execute: the kernel did not start within"
                        f" {limits.timeout_ms / 1000:g} seconds"
                    ) from None
            elif cwd != str(self.paths.home):
                await kernel.chdir(cwd, max(0.1, budget.remaining_s()))
            ready_s = time.monotonic() - budget.started
            for cell in msg.history or []:
                await kernel.run(cell, budget)
            output = await kernel.run(msg.input, budget)
        except (LimitExceeded, KernelDied) as exc:
            raise ProjectError(str(exc)) from None
        except (RuntimeError, OSError) as exc:
            # jupyter_client reports a kernel that did not start or answer this way
            raise ProjectError(f"jupyter_execute: the kernel failed: {exc}") from None
        finally:
            self._dispose(kernel)
        return {
            "event": "jupyter_execute_response",
            "output": output,
            "total_time_s": round(time.monotonic() - budget.started, 6),
            "pooled": pooled,
            "kernel_ready_s": round(ready_s, 6),
        }

    def _dispose(self, kernel: KernelProcess) -> None:
        """Kill a used kernel after the reply is on its way (it counts as running until gone)."""

        async def kill() -> None:
            try:
                await kernel.kill()
            finally:
                self.running.discard(kernel)

        task = asyncio.get_running_loop().create_task(kill())
        self._killing.add(task)
        task.add_done_callback(self._killing.discard)

    async def start_pool(self, msg: JupyterStartPool) -> dict[str, Any]:
        for name, count in msg.kernels.items():
            self._check_kernel(name)
            if count < 0:
                raise ProjectError("jupyter_start_pool: a kernel count must not be negative")
        ready = await self.pool.fill(msg.kernels)
        return {
            "event": "jupyter_start_pool",
            "pool": ready,
            "max_kernels": self.pool.settings.max_kernels,
        }

    # ------------------------------------------------------------------------- life

    async def close(self) -> None:
        """The daemon stops: shut every kernel down."""
        await self.pool.close()
        await asyncio.gather(*self._killing, return_exceptions=True)
        for kernel in list(self.running):
            await kernel.kill()
        self.running.clear()
        _remove_connection_files(self._runtime_dir)


def _remove_connection_files(directory: Path) -> None:
    """Files of kernels killed before jupyter_client could clean up after them."""
    with contextlib.suppress(OSError):
        for leftover in directory.glob("kernel-*.json"):
            os.unlink(leftover)


def _limits(requested: ExecLimits | None) -> Limits:
    base = Limits()
    if requested is None:
        return base

    def pick(value: int | None, default: int) -> int:
        return default if value is None or value <= 0 else value

    return Limits(
        timeout_ms=pick(requested.timeout_ms, base.timeout_ms),
        timeout_ms_per_cell=pick(requested.timeout_ms_per_cell, base.timeout_ms_per_cell),
        max_output=pick(requested.max_output, base.max_output),
        max_output_per_cell=pick(requested.max_output_per_cell, base.max_output_per_cell),
    )
