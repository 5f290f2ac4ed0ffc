"""Keepalive for every WebSocket of the hub, from one task.

aiohttp's own heartbeat re-arms a timer for every received frame, which costs
more than answering a ping does. Here each frame only stamps `last_seen`; one
sweep every quarter interval pings the clients that have been quiet for an
interval, and closes those that stay silent for half an interval more.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hub.sessions.registry import SessionRegistry


async def keep_alive(sessions: SessionRegistry, interval_s: float) -> None:
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(interval_s / 4)
        now = loop.time()
        for session in sessions.snapshot():
            session.check_alive(now, interval_s)
