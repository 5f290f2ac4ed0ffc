"""A per-client queue for one kind of request: so many running, so many waiting,
and a waiting time after which a request fails instead of starting late."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from hub.errors import Overloaded, Timeout


class Limiter:
    def __init__(self, running: int, waiting: int, wait_timeout_s: float) -> None:
        self._slots = asyncio.Semaphore(running)
        self.max_waiting = waiting
        self.wait_timeout_s = wait_timeout_s
        self.waiting = 0

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self._slots.locked():
            if self.waiting >= self.max_waiting:
                raise Overloaded(f"too many queries queued (at most {self.max_waiting})")
            self.waiting += 1
            try:
                async with asyncio.timeout(self.wait_timeout_s):
                    await self._slots.acquire()
            except TimeoutError:
                raise Timeout("timeout") from None
            finally:
                self.waiting -= 1
        else:
            await self._slots.acquire()
        try:
            yield
        finally:
            self._slots.release()
