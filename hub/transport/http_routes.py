"""Plain HTTP routes: health, metrics, the remember-me cookie and impersonation."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec
from aiohttp import web

from hub.auth import auth_tokens, remember_me
from hub.errors import HubError
from hub.metrics import CONTENT_TYPE

if TYPE_CHECKING:
    from hub.state import HubState

JSON = "application/json"


class HttpRoutes:
    def __init__(self, hub: HubState) -> None:
        self.hub = hub

    async def healthz(self, request: web.Request) -> web.Response:
        if self.hub.db.is_up:
            return web.Response(body=b'{"status":"ok"}', content_type=JSON)
        return web.Response(
            status=503, body=b'{"status":"database unavailable"}', content_type=JSON
        )

    async def metrics(self, request: web.Request) -> web.Response:
        self.hub.metrics.database_up.set(1 if self.hub.db.is_up else 0)
        response = web.Response(body=self.hub.metrics.exposition())
        response.headers["Content-Type"] = CONTENT_TYPE
        return response

    def _set_cookie(
        self, response: web.StreamResponse, token: str, max_age: float, same_site: str
    ) -> None:
        settings = self.hub.settings
        response.set_cookie(
            settings.cookie_name,
            token,
            max_age=int(max_age),
            path="/",
            httponly=True,
            samesite=same_site,
            secure=settings.cookie_secure,
        )

    async def cookies(self, request: web.Request) -> web.Response:
        """Set the remember-me cookie the hub announced in a `cookies` message.

        The token may be set this way once, within a minute of sign-in, and never
        from a cross-site request, so a leaked link cannot sign someone else in.
        """
        settings = self.hub.settings
        if request.headers.get("Sec-Fetch-Site", "same-origin") == "cross-site":
            return _json(403, {"error": "cookies cannot be set from another site"})
        name = request.query.get("set", "")
        token = request.query.get("value", "")
        if name != settings.cookie_name or not token:
            return _json(400, {"error": f"expected set={settings.cookie_name} and a value"})
        try:
            ok = await remember_me.consume_cookie_ticket(self.hub, token)
        except HubError as exc:
            return _json(503, {"error": exc.text})
        if not ok:
            return _json(400, {"error": "unknown, expired or already used remember_me token"})
        response = _json(200, {"status": "ok"})
        self._set_cookie(response, token, settings.remember_me_ttl_s, "Lax")
        return response

    async def impersonate(self, request: web.Request) -> web.Response:
        if request.headers.get("Sec-Fetch-Site", "none") == "cross-site":
            # another site must not sign a visitor in as an account of its choosing
            return web.Response(status=403, text="ERROR: impersonate error -- cross-site request")
        token = request.query.get("auth_token", "")
        if not token:
            return web.Response(status=400, text="ERROR: impersonate error -- invalid empty token")
        try:
            account_id = await auth_tokens.redeem(self.hub, token)
            if account_id is None:
                return web.Response(
                    status=400, text="ERROR: impersonate error -- unknown or expired token"
                )
            ttl = self.hub.settings.auth_token_ttl_s
            cookie = await remember_me.create_remember_me(self.hub, account_id, ttl)
        except HubError as exc:
            return web.Response(status=503, text=f"ERROR: impersonate error -- {exc.text}")
        response = web.Response(status=302, headers={"Location": "/"})
        self._set_cookie(response, cookie, ttl, "Strict")
        return response


def _json(status: int, body: object) -> web.Response:
    return web.Response(status=status, body=msgspec.json.encode(body), content_type=JSON)
