"""Prometheus metrics of one hub process, on a registry of its own (served at /metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST


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
        self.messages = Counter(
            "hub_messages",
            "messages handled, by event and transport",
            ["event", "transport"],
            registry=self.registry,
        )
        self.handler_seconds = Histogram(
            "hub_handler_seconds",
            "time spent in a handler, by event",
            ["event"],
            buckets=(
                0.0005,
                0.001,
                0.0025,
                0.005,
                0.01,
                0.025,
                0.05,
                0.1,
                0.25,
                0.5,
                1,
                2.5,
                5,
                10,
            ),
            registry=self.registry,
        )
        self.errors = Counter(
            "hub_errors", "error replies and closes, by kind", ["kind"], registry=self.registry
        )
        self.http_requests = Counter(
            "hub_http_api_requests",
            "HTTP API requests by status",
            ["status"],
            registry=self.registry,
        )
        self.database_up = Gauge(
            "hub_database_up", "1 when PostgreSQL answers, else 0", registry=self.registry
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
