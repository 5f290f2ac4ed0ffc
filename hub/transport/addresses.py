"""Where a request came from: the peer, or behind trusted proxies, the client they name.

Per-address limits (sign-ups, failed sign-ins, the HTTP API rate) and the logs need
the client's address. Behind a reverse proxy every request comes from the proxy,
so with `trusted_proxies` set (addresses or networks, comma-separated) the hub
reads `X-Forwarded-For` from a peer in that set: walking it from the right, the
first address that is not itself a trusted proxy is the client. A header from any
other peer is ignored, so a client cannot choose its own address.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from aiohttp import web

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def parse_networks(text: str) -> tuple[Network, ...]:
    """`"10.0.0.0/8, 127.0.0.1"` → networks; ValueError names a bad entry."""
    networks = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"trusted_proxies: {part!r} is not an address or network") from None
    return tuple(networks)


def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_ip(request: web.Request, trusted_proxies: str = "") -> str:
    peer = request.remote or "unknown"
    if not trusted_proxies:
        return peer
    networks = parse_networks(trusted_proxies)
    if not _trusted(peer, networks):
        return peer
    forwarded = request.headers.getall("X-Forwarded-For", [])
    hops = [h.strip() for line in forwarded for h in line.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, networks):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer  # a malformed hop: do not guess past it
    return peer
