"""Where a request came from."""

from __future__ import annotations

from aiohttp import web


def client_ip(request: web.Request) -> str:
    # Behind a reverse proxy, aiohttp's `remote` already honours a configured
    # forwarded-header middleware; we never trust X-Forwarded-For on our own.
    return request.remote or "unknown"
