"""The `hub_servers` table: one row per running hub process, renewed by its heartbeat."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.db.database import Queryable


@dataclass(frozen=True, slots=True)
class HubServer:
    hub_id: str
    host: str
    port: int
    pid: int
    clients: int
    started: datetime
    heartbeat: datetime
    expire: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "hub_id": self.hub_id,
            "host": self.host,
            "port": self.port,
            "pid": self.pid,
            "clients": self.clients,
            "started": self.started.isoformat(),
            "heartbeat": self.heartbeat.isoformat(),
            "expire": self.expire.isoformat(),
        }


async def register(
    db: Queryable, hub_id: str, host: str, port: int, pid: int, ttl_s: float
) -> None:
    await db.execute(
        """INSERT INTO hub_servers (hub_id, host, port, pid, expire)
           VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))
           ON CONFLICT (hub_id) DO UPDATE SET host = $2, port = $3, pid = $4,
               started = now(), heartbeat = now(), expire = now() + make_interval(secs => $5)""",
        hub_id,
        host,
        port,
        pid,
        ttl_s,
    )


async def heartbeat(db: Queryable, hub_id: str, clients: int, ttl_s: float) -> bool:
    """Renew the row; False when it was gone (deleted as expired: register again)."""
    status = await db.execute(
        """UPDATE hub_servers SET clients = $2, heartbeat = now(),
               expire = now() + make_interval(secs => $3)
           WHERE hub_id = $1""",
        hub_id,
        clients,
        ttl_s,
    )
    return status != "UPDATE 0"


async def unregister(db: Queryable, hub_id: str) -> None:
    await db.execute("DELETE FROM hub_servers WHERE hub_id = $1", hub_id)


async def alive(db: Queryable) -> list[HubServer]:
    """The hubs whose row has not expired, oldest first."""
    rows = await db.fetch(
        """SELECT hub_id, host, port, pid, clients, started, heartbeat, expire
           FROM hub_servers WHERE expire > now() ORDER BY started, hub_id"""
    )
    return [HubServer(**dict(row)) for row in rows]
