"""Each per-session limit at its edge: handlers running, queued, outbound, keepalive, version."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from hub.app import Hub, make_router
from hub.client import HubClient
from hub.config import Settings
from hub.handlers import system
from hub.handlers.context import Context
from hub.handlers.registry import Router, Routes
from hub.protocol.messages import Ping, Pong
from tests.e2e.raw_ws import RawWebSocket
from tests.fixtures.hub import FAST_HASHING
from tests.fixtures.timeouts import eventually, seconds


class Gate:
    """A ping handler that waits at a gate, so the test decides when handlers finish."""

    def __init__(self) -> None:
        self.entered = asyncio.Queue[str]()
        self.release = asyncio.Event()
        self.routes = Routes()
        self.routes.handler(Ping, signed_in=False)(self.ping)

    async def ping(self, msg: Ping, ctx: Context) -> Pong:
        await self.entered.put(str(msg.id))
        await self.release.wait()
        return Pong(id=msg.id)


@pytest.fixture
async def gated_hub(dsn: str, tmp_path: Any) -> AsyncIterator[tuple[Hub, Gate]]:
    gate = Gate()
    others = [r for r in make_router().by_event.values() if r.event != "ping"]
    extra = Routes()
    extra.by_event.update({r.event: r for r in others})
    settings = Settings.load(
        environ={},
        port=0,
        database_url=dsn,
        data_dir=tmp_path,
        max_concurrent_handlers=2,
        inbound_queue=3,
        **FAST_HASHING,
    )
    server = Hub(settings, router=Router([gate.routes, extra]))
    await server.start()
    try:
        yield server, gate
    finally:
        gate.release.set()
        await server.stop()


async def test_concurrency_and_inbound_queue_edges(gated_hub: tuple[Hub, Gate]) -> None:
    server, gate = gated_hub
    async with HubClient.connect(f"ws://127.0.0.1:{server.port}/hub") as c:
        await c.next_push(seconds(5))
        for i in range(2):  # max_concurrent_handlers = 2: both start
            await c.send({"event": "ping", "id": f"run{i}"})
            assert await asyncio.wait_for(gate.entered.get(), seconds(5)) == f"run{i}"
        for i in range(3):  # inbound_queue = 3: these wait, unanswered
            await c.send({"event": "ping", "id": f"wait{i}"})
        await c.send({"event": "ping", "id": "over"})  # the 6th is refused at once
        refused = await c.next_push(seconds(5))
        assert refused["id"] == "over"
        assert refused["event"] == "error"
        assert "too many requests in flight" in refused["error"]
        assert c.pushes.empty()
        gate.release.set()
        answered = {(await c.next_push(seconds(5)))["id"] for _ in range(5)}
        assert answered == {"run0", "run1", "wait0", "wait1", "wait2"}


@pytest.mark.parametrize("hub_overrides", [{"outbound_queue": 8}])
async def test_client_that_stops_reading_is_closed_and_others_unaffected(hub: Hub, connect) -> None:
    raw = await RawWebSocket.open("127.0.0.1", hub.port, rcvbuf=4096)
    try:
        async with connect() as bystander:
            # each request makes a ~64 KiB error reply the raw client never reads
            big_event = "x" * 65536
            for _ in range(400):
                raw.send_text(f'{{"event":"{big_event}"}}')
                await raw.writer.drain()
                if hub.state.metrics.errors.labels("slow_consumer")._value.get() >= 1:
                    break
                assert (await bystander.call("ping"))["event"] == "pong"
            assert hub.state.metrics.errors.labels("slow_consumer")._value.get() == 1
            await eventually(lambda: len(hub.sessions) == 1, 10)
            assert (await bystander.call("ping"))["event"] == "pong"
    finally:
        raw.close()


@pytest.mark.parametrize("hub_overrides", [{"ws_heartbeat_s": 0.4}])
async def test_dead_peer_is_dropped_by_keepalive(hub: Hub, connect) -> None:
    raw = await RawWebSocket.open("127.0.0.1", hub.port)
    try:
        # the raw client never answers the hub's pings
        await raw.read_until_closed(timeout=seconds(5))
        await eventually(lambda: len(hub.sessions) == 0, 5)
        async with connect() as live:  # a client that answers pings stays connected
            await asyncio.sleep(1.2)
            assert (await live.call("ping"))["event"] == "pong"
    finally:
        raw.close()


@pytest.mark.parametrize("hub_overrides", [{"version_recommended": 100, "version_min": 50}])
async def test_old_clients_are_told_and_too_old_ones_closed(connect) -> None:
    async with connect() as current:
        await current.next_push()
        await current.send({"event": "version", "version": 100})
        assert (await current.call("ping"))["event"] == "pong"
        assert current.pushes.empty()
    async with connect() as old:
        await old.next_push()
        await old.send({"event": "version", "version": 60})
        assert await old.next_push() == {"event": "version", "version": 100, "min_version": 50}
        assert (await old.call("ping"))["event"] == "pong"
    async with connect() as too_old:
        await too_old.next_push()
        await too_old.send({"event": "version", "version": 10})
        assert (await too_old.next_push())["event"] == "version"
        await asyncio.wait_for(too_old.closed.wait(), seconds(5))
        assert too_old.conn.close_code == 4003


def test_every_limit_is_a_setting() -> None:
    docs = Settings.docs()
    for name in (
        "max_message_bytes",
        "inbound_queue",
        "max_concurrent_handlers",
        "outbound_queue",
        "ws_heartbeat_s",
        "api_max_body_bytes",
        "api_rate_per_s",
        "api_rate_burst",
        "db_statement_timeout_s",
        "signups_per_ip",
    ):
        assert docs[name]


def test_system_routes_are_registered() -> None:
    assert {"ping", "heartbeat", "version", "log_client_error"} <= set(system.routes.by_event)
