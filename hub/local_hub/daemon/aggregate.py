"""`aggregate`: concurrent calls with identical options share one run (CoCalc's `aggregate.ts`).

A call whose `aggregate` value is covered by the running (or a recently finished)
run's value (≤ for numbers; equality for `{"value": x}` and anything else) gets
that run's result. A larger value waits for the current run, then runs again.
Finished results are kept `CACHE_S` seconds. The runs are tasks owned here, so a
caller that goes away does not cancel a run others wait for; `close()` cancels
them all.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

CACHE_S = 60.0
MAX_ENTRIES = 256

T = TypeVar("T")


def covers(current: Any, wanted: Any) -> bool:
    """Whether a run made for `current` also serves a call asking for `wanted`."""
    if isinstance(current, dict) and isinstance(wanted, dict) and "value" in wanted:
        return bool(current.get("value") == wanted["value"])
    numbers = (int, float)
    if (
        isinstance(current, numbers)
        and isinstance(wanted, numbers)
        and not isinstance(current, bool)
        and not isinstance(wanted, bool)
    ):
        return wanted <= current
    return bool(current == wanted)


@dataclass(slots=True)
class _Entry(Generic[T]):
    value: Any
    task: asyncio.Task[T]
    finished_at: float | None = field(default=None)


class Aggregator(Generic[T]):
    """`weigh` sizes a result; finished results weighing more than `max_kept` in all
    are forgotten, oldest first, so the cache cannot grow memory without bound."""

    def __init__(self, weigh: Callable[[T], int] = lambda _: 0, max_kept: int = 0) -> None:
        self._entries: dict[Hashable, _Entry[T]] = {}
        self._weigh = weigh
        self._max_kept = max_kept

    async def run(self, key: Hashable, value: Any, start: Callable[[], Awaitable[T]]) -> T:
        while True:
            self._expire()
            entry = self._entries.get(key)
            if entry is not None and covers(entry.value, value):
                return await asyncio.shield(entry.task)
            if entry is not None and not entry.task.done():
                await asyncio.wait({entry.task})
                continue
            task: asyncio.Task[T] = asyncio.ensure_future(start())
            entry = _Entry(value, task)
            task.add_done_callback(functools.partial(self._finished, entry=entry))
            self._entries[key] = entry
            return await asyncio.shield(task)

    def _finished(self, task: asyncio.Task[T], *, entry: _Entry[T]) -> None:
        entry.finished_at = time.monotonic()
        if not task.cancelled():
            task.exception()  # retrieved here so a run nobody waits for any more is not logged

    def _expire(self) -> None:
        now = time.monotonic()
        stale = [
            k
            for k, e in self._entries.items()
            if e.finished_at is not None and (now - e.finished_at > CACHE_S or e.task.cancelled())
        ]
        for k in stale:
            del self._entries[k]
        done = [k for k, e in self._entries.items() if e.finished_at is not None]
        done.sort(key=lambda k: self._entries[k].finished_at or 0.0)
        weight = sum(self._weight(self._entries[k]) for k in done)
        for k in done:
            if len(self._entries) <= MAX_ENTRIES and weight <= self._max_kept:
                break
            weight -= self._weight(self._entries.pop(k))

    def _weight(self, entry: _Entry[T]) -> int:
        task = entry.task
        if task.cancelled() or task.exception() is not None:
            return 0
        return self._weigh(task.result())

    async def close(self) -> None:
        tasks = [e.task for e in self._entries.values() if not e.task.done()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._entries.clear()
