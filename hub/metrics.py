"""Prometheus metrics of one hub process, on a registry of its own (served at /metrics).

Per-message counts and handler latencies are on the hottest path of the hub, so
they are kept in plain per-event counters (`EventTiming`: a bisect and two
additions, about a tenth of what prometheus_client's locked children cost) and
turned into Prometheus families only when /metrics is scraped.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

CONTENT_TYPE = CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class EventTiming:
    """How often one event was handled on one transport, and how long it took."""

    __slots__ = ("buckets", "count", "event", "sum", "transport")

    def __init__(self, event: str, transport: str) -> None:
        self.event = event
        self.transport = transport
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # the last one is +Inf
        self.count = 0
        self.sum = 0.0

    def observe(self, elapsed_s: float) -> None:
        self.buckets[bisect_left(LATENCY_BUCKETS, elapsed_s)] += 1
        self.count += 1
        self.sum += elapsed_s


class _EventCollector(Collector):
    def __init__(self, timings: dict[tuple[str, str], EventTiming]) -> None:
        self.timings = timings

    def collect(self) -> Iterator[Metric]:
        messages = CounterMetricFamily(
            "hub_messages",
            "messages handled, by event and transport",
            labels=["event", "transport"],
        )
        seconds = HistogramMetricFamily(
            "hub_handler_seconds", "time spent in a handler, by event", labels=["event"]
        )
        by_event: dict[str, tuple[list[int], float]] = {}
        for timing in list(self.timings.values()):
            messages.add_metric([timing.event, timing.transport], timing.count)
            buckets, total = by_event.get(timing.event, ([0] * len(timing.buckets), 0.0))
            by_event[timing.event] = (
                [a + b for a, b in zip(buckets, timing.buckets, strict=True)],
                total + timing.sum,
            )
        for event, (buckets, total) in by_event.items():
            cumulative: list[tuple[str, float]] = []
            running = 0
            for bound, n in zip((*LATENCY_BUCKETS, float("inf")), buckets, strict=True):
                running += n
                cumulative.append(("+Inf" if bound == float("inf") else repr(bound), running))
            seconds.add_metric([event], cumulative, total)
        yield messages
        yield seconds


class PeerSource(Protocol):
    hub_id: str

    @property
    def peers(self) -> Sequence[Any]: ...


class _PeerCollector(Collector):
    def __init__(self, source: PeerSource) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        peers = list(self.source.peers)
        alive = GaugeMetricFamily("hub_servers", "hub processes alive on this database")
        alive.add_metric([], len(peers))
        clients = GaugeMetricFamily(
            "hub_server_clients",
            "connected clients of each hub at its last heartbeat",
            labels=["hub_id", "host", "port", "this_hub"],
        )
        for peer in peers:
            this = "1" if peer.hub_id == self.source.hub_id else "0"
            clients.add_metric([peer.hub_id, peer.host, str(peer.port), this], peer.clients)
        yield alive
        yield clients


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.connections = Gauge(
            "hub_websocket_connections", "open WebSocket connections", registry=self.registry
        )
        self.signed_in = Gauge(
            "hub_websocket_signed_in",
            "open WebSocket connections signed in",
            registry=self.registry,
        )
        self._by_event: dict[tuple[str, str], EventTiming] = {}
        self.registry.register(_EventCollector(self._by_event))
        self.errors = Counter(
            "hub_errors", "error replies and closes, by kind", ["kind"], registry=self.registry
        )
        self.http_requests = Counter(
            "hub_http_api_requests",
            "HTTP API requests by status",
            ["status"],
            registry=self.registry,
        )
        self._by_status: dict[int, Any] = {}
        self.database_up = Gauge(
            "hub_database_up", "1 when PostgreSQL answers, else 0", registry=self.registry
        )

    def watch_peers(self, registration: PeerSource) -> None:
        """Show the hubs of `hub_servers` (as of the last heartbeat) on /metrics."""
        self.registry.register(_PeerCollector(registration))

    def for_event(self, event: str, transport: str) -> EventTiming:
        """The timing of one event on one transport, made on first use."""
        key = (event, transport)
        timing = self._by_event.get(key)
        if timing is None:
            timing = self._by_event[key] = EventTiming(event, transport)
        return timing

    def http_status(self, status: int) -> Any:
        """The counter child of one HTTP status, cached (labels() is slow)."""
        child = self._by_status.get(status)
        if child is None:
            child = self._by_status[status] = self.http_requests.labels(str(status))
        return child

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
