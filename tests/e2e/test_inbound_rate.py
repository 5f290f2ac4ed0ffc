"""A connection over its message rate is read more slowly: nothing is lost, nobody gets
an error, and other clients are answered meanwhile."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
import websockets

from tests.fixtures.timeouts import seconds

RATE = 500
BURST = 100
SENT = 600


@pytest.fixture
def hub_overrides() -> dict[str, Any]:
    return {"ws_max_messages_per_s": RATE, "ws_message_burst": BURST}


async def test_a_flood_is_paced_without_loss_and_others_are_served(ws_url, connect) -> None:
    async with websockets.connect(ws_url) as flood, connect() as other:
        started = time.monotonic()
        await flood.send(json.dumps({"event": "ping", "id": "warm"}))
        for i in range(SENT):
            await flood.send(json.dumps({"event": "ping", "id": f"p{i}"}))

        # another client is answered while the flood waits for its budget
        t0 = time.monotonic()
        assert (await other.call("ping"))["event"] == "pong"
        other_took = time.monotonic() - t0

        ids: set[str] = set()
        async with asyncio.timeout(seconds(30)):
            while len(ids) < SENT + 1:
                msg = json.loads(await flood.recv())
                if msg["event"] == "remember_me_failed":
                    continue  # pushed at connect to a client without a cookie
                assert msg["event"] == "pong", msg  # never an error
                ids.add(msg["id"])
        took = time.monotonic() - started
        assert ids == {"warm", *(f"p{i}" for i in range(SENT))}
        # at most BURST at once, then RATE per second: the last pong cannot come sooner
        assert took >= (SENT + 1 - BURST) / RATE * 0.9
        assert other_took < took
