"""Kernels started ahead of time, so a `jupyter_execute` does not wait for start-up.

The pool keeps, per kernelspec name, a *target* number of ready kernels (raised by
`jupyter_start_pool`). A kernel taken from the pool is used once and killed; a
replacement starts in the background at once ("recycled after use"). A ready
kernel nobody took for `idle_s` is shut down and the target lowered by one, so a
pool nobody uses shrinks to nothing. `max_kernels` bounds ready plus starting
kernels of all names together.

Pooled kernels start in HOME; `Kernels` moves a Python kernel to the request's
directory before running anything (other languages get a fresh kernel there).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from hub.local_hub.daemon.kernel_run import KernelProcess

log = structlog.get_logger("hub.local_hub.daemon")


@dataclass(slots=True)
class PoolSettings:
    max_kernels: int = 4
    idle_s: float = 600.0
    start_timeout_s: float = 60.0


class KernelPool:
    def __init__(self, factory: Callable[[str], KernelProcess], home: str) -> None:
        self._factory = factory
        self._home = home
        self.settings = PoolSettings()
        self.targets: dict[str, int] = {}
        self._ready: dict[str, list[KernelProcess]] = {}
        self._starting: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._culler: asyncio.Task[None] | None = None
        self._closed = False
        self._changed = asyncio.Event()
        self.recycled = 0
        """Kernels started to replace one taken (for tests and the benchmark)."""
        self.culled = 0

    # ------------------------------------------------------------------------- state

    def counts(self) -> dict[str, int]:
        """Ready kernels by name."""
        return {name: len(kernels) for name, kernels in self._ready.items() if kernels}

    def starting(self) -> dict[str, int]:
        return {name: n for name, n in self._starting.items() if n}

    def total(self) -> int:
        return sum(len(k) for k in self._ready.values()) + sum(self._starting.values())

    # ------------------------------------------------------------------------- use

    async def take(self, name: str) -> KernelProcess | None:
        """A ready kernel of `name` (the caller owns and kills it), or None; refills.

        When none is ready but one is starting, waits for it: it is ready sooner
        than a kernel started now would be.
        """
        while True:
            ready = self._ready.get(name)
            if ready:
                kernel = ready.pop()
                self.recycled += 1
                self._refill(name)
                return kernel
            if not self._starting.get(name) or self._closed:
                return None
            changed = self._changed
            await changed.wait()

    def _signal(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def fill(self, wanted: dict[str, int]) -> dict[str, int]:
        """Raise the targets to `wanted` (within the bound) and wait for those kernels."""
        room = self.settings.max_kernels - sum(self.targets.values())
        for name, count in wanted.items():
            more = max(0, min(count - self.targets.get(name, 0), room))
            if more:
                self.targets[name] = self.targets.get(name, 0) + more
                room -= more
        for name in wanted:
            self._refill(name)
        self._ensure_culler()
        deadline = time.monotonic() + self.settings.start_timeout_s
        while any(self._starting.get(n) for n in wanted) and time.monotonic() < deadline:
            await asyncio.wait(list(self._tasks), timeout=0.5, return_when=asyncio.FIRST_COMPLETED)
        return self.counts()

    # ------------------------------------------------------------------------- inside

    def _refill(self, name: str) -> None:
        while (
            not self._closed
            and len(self._ready.get(name, ())) + self._starting.get(name, 0)
            < self.targets.get(name, 0)
            and self.total() < self.settings.max_kernels
        ):
            self._starting[name] = self._starting.get(name, 0) + 1
            task = asyncio.get_running_loop().create_task(self._start_one(name))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _start_one(self, name: str) -> None:
        kernel = self._factory(name)
        try:
            await kernel.start(self._home, self.settings.start_timeout_s)
            if self._closed:
                await kernel.kill()
            else:
                self._ready.setdefault(name, []).append(kernel)
        except asyncio.CancelledError:
            await kernel.kill()
            raise
        except Exception as exc:
            # a kernel that cannot start would be retried forever: stop pooling that name
            log.warning("pooled kernel failed to start", kernel=name, error=str(exc))
            self.targets[name] = 0
        finally:
            # counted as starting until it is ready, so a waiting take() never misses it
            self._starting[name] -= 1
            self._signal()

    def _ensure_culler(self) -> None:
        if self._culler is None or self._culler.done():
            self._culler = asyncio.get_running_loop().create_task(self._cull_loop())

    async def _cull_loop(self) -> None:
        while not self._closed and (self.total() or any(self.targets.values())):
            await asyncio.sleep(max(0.05, min(self.settings.idle_s / 4, 5.0)))
            await self.cull()

    async def cull(self) -> int:
        """Shut down kernels ready for longer than `idle_s`; how many went."""
        now = time.monotonic()
        gone: list[KernelProcess] = []
        for name, ready in self._ready.items():
            keep = [k for k in ready if now - k.ready_at < self.settings.idle_s]
            for kernel in ready:
                if kernel not in keep:
                    gone.append(kernel)
                    self.targets[name] = max(0, self.targets.get(name, 0) - 1)
            ready[:] = keep
        for kernel in gone:
            await kernel.kill()
        self.culled += len(gone)
        return len(gone)

    async def close(self) -> None:
        self._closed = True
        self._signal()
        tasks = list(self._tasks)
        if self._culler is not None:
            tasks.append(self._culler)
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)
        ready = [k for kernels in self._ready.values() for k in kernels]
        self._ready.clear()
        await asyncio.gather(*(k.kill() for k in ready))
