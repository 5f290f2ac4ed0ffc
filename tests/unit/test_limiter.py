"""The per-client query queue at its edges."""

from __future__ import annotations

import asyncio

import pytest

from hub.errors import Overloaded, Timeout
from hub.sessions.limiter import Limiter


async def test_running_waiting_and_refused() -> None:
    limiter = Limiter(running=2, waiting=1, wait_timeout_s=5)
    release = asyncio.Event()
    started: list[int] = []

    async def work(n: int) -> None:
        async with limiter.slot():
            started.append(n)
            await release.wait()

    running = [asyncio.ensure_future(work(n)) for n in range(2)]
    await asyncio.sleep(0)
    assert started == [0, 1]
    waiting = asyncio.ensure_future(work(2))
    await asyncio.sleep(0)
    assert limiter.waiting == 1 and started == [0, 1]
    with pytest.raises(Overloaded):
        async with limiter.slot():
            pass
    release.set()
    await asyncio.gather(*running, waiting)
    assert started == [0, 1, 2] and limiter.waiting == 0


async def test_a_query_that_cannot_start_in_time_fails_with_timeout() -> None:
    limiter = Limiter(running=1, waiting=5, wait_timeout_s=0.05)
    async with limiter.slot():
        with pytest.raises(Timeout) as info:
            async with limiter.slot():
                pass
    assert info.value.text == "timeout"
    assert limiter.waiting == 0
    async with limiter.slot():  # the slot is free again
        pass
