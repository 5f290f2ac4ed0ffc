"""This hub's row in `hub_servers`, renewed by a heartbeat, and the list of its peers.

Registered once the hub listens, renewed every `hub_heartbeat_s` with the number
of connected clients, removed at a graceful stop. A row is valid for three
heartbeats, so a crashed hub drops out of the list by itself. The peer list is
re-read at each heartbeat and shown on /metrics and by `hub status`.
"""

from __future__ import annotations

import asyncio
import os
import socket

import structlog

from hub.db import hub_servers
from hub.db.database import Database
from hub.db.hub_servers import HubServer
from hub.errors import HubError
from hub.sessions.registry import SessionRegistry

log = structlog.get_logger()

TTL_HEARTBEATS = 3


def advertised_host(bind_host: str, advertise: str) -> str:
    """The host others should use: the setting, or the bind address unless it is a wildcard."""
    if advertise:
        return advertise
    if bind_host in ("", "0.0.0.0", "::"):
        return socket.getfqdn()
    return bind_host


class HubRegistration:
    def __init__(
        self,
        db: Database,
        sessions: SessionRegistry,
        hub_id: str,
        host: str,
        port: int,
        heartbeat_s: float,
    ) -> None:
        self.db = db
        self.sessions = sessions
        self.hub_id = hub_id
        self.host = host
        self.port = port
        self.heartbeat_s = heartbeat_s
        self.peers: list[HubServer] = []
        """Every hub alive at the last heartbeat, this one included."""

    @property
    def ttl_s(self) -> float:
        return self.heartbeat_s * TTL_HEARTBEATS

    async def register(self) -> None:
        await hub_servers.register(
            self.db, self.hub_id, self.host, self.port, os.getpid(), self.ttl_s
        )
        self.peers = await hub_servers.alive(self.db)

    async def beat(self) -> None:
        renewed = await hub_servers.heartbeat(self.db, self.hub_id, len(self.sessions), self.ttl_s)
        if not renewed:  # our row expired (the database was away longer than the ttl)
            log.warning("hub row had expired; registering again", hub_id=self.hub_id)
            await self.register()
            return
        self.peers = await hub_servers.alive(self.db)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            try:
                await self.beat()
            except (HubError, OSError) as exc:
                log.warning("hub heartbeat failed", error=str(exc))

    async def unregister(self) -> None:
        try:
            await hub_servers.unregister(self.db, self.hub_id)
        except (HubError, OSError) as exc:
            log.warning("could not remove this hub's row", error=str(exc))
