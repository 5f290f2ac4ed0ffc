"""`POST /api/v1/<event>`: the HTTP API, and `GET /api/v1`: its reference.

Checks run in this order, each with its status (the body is `{"error": text}`):
unknown or non-API event 404, body too large 413, per-address and per-key rate
429, unparsable body or invalid parameters 400, missing or wrong key 401.
Everything a handler answers, errors included, is 200 with the request's `id`
(generated when absent).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import time
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import msgspec
import structlog
from aiohttp import web
from multidict import MultiDictProxy

from hub.auth.api_keys import authenticate_api_key
from hub.errors import AuthRequired, HubError, PayloadTooLarge, Timeout, error_text
from hub.handlers.context import Context, Identity
from hub.protocol import (
    API_EVENTS,
    BY_EVENT,
    DecodeError,
    Reply,
    decode_api_params,
    encode_reply,
    fill_reply_id,
)
from hub.protocol.docs import api_reference
from hub.protocol.messages import Error
from hub.sessions.base import SessionBase
from hub.sessions.limiter import Limiter
from hub.transport.addresses import client_ip
from hub.transport.ratelimit import TokenBuckets

if TYPE_CHECKING:
    from hub.handlers.registry import Router
    from hub.state import HubState

log = structlog.get_logger()
JSON = "application/json"


class HttpSession(SessionBase):
    """One API request seen as a session: signed in by its key, pushes collected."""

    kind: Literal["http"] = "http"

    def __init__(self, ip: str, identity: Identity | None) -> None:
        super().__init__(ip, identity)
        self._session_id: str | None = None
        self.pushed: list[Reply] = []

    @property
    def session_id(self) -> str:
        if self._session_id is None:  # made only when a handler asks (rarely)
            self._session_id = str(uuid.uuid4())
        return self._session_id

    @property
    def connected_for_s(self) -> float:
        return 0.0

    def sign_in(self, identity: Identity) -> None:
        pass  # an API request is signed in by its key and nothing else

    def sign_out(self) -> None:
        pass

    def push(self, msg: Reply) -> None:
        self.pushed.append(msg)

    def query_limiter(self) -> Limiter:
        # one request, one query: the API's own rate limit is what bounds a key
        return Limiter(1, 0, 0.0)

    def push_encoded(self, data: bytes) -> None:
        decoded = msgspec.json.decode(data)
        if isinstance(decoded, dict):
            self.pushed.append(decoded)

    def push_binary(self, data: bytes) -> None:
        pass  # terminals need a WebSocket; start_session refuses HTTP requests

    async def drain(self) -> None:
        pass  # only the first reply is sent, after the handler returns

    def set_client_version(self, version: int) -> None:
        pass

    def close_soon(self, code: int, reason: str, delay_s: float) -> None:
        pass


def _error(status: int, text: str) -> web.Response:
    return web.Response(status=status, body=msgspec.json.encode({"error": text}), content_type=JSON)


def api_key_from_header(header: str | None) -> str | None:
    """The key from `Authorization: Basic base64(key:)` or `Bearer key`; None if absent."""
    if not header:
        return None
    parts = header.strip().split(None, 1)
    scheme = parts[0].lower() if parts else ""
    value = parts[1] if len(parts) > 1 else ""
    if scheme == "bearer":
        return value.strip() or None
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise AuthRequired("malformed basic authorization header") from None
        return decoded.partition(":")[0] or None
    # echo only a short alphabetic scheme name: the header may be a bare key
    if scheme.isascii() and scheme.isalpha() and len(scheme) <= 12:
        raise AuthRequired(f"Unknown authorization type '{scheme.capitalize()}'")
    raise AuthRequired("Unknown authorization type")


def form_params(form: MultiDictProxy[Any]) -> dict[str, Any]:
    """Form fields to parameters: `args[]=a&args[]=b` becomes `args: ["a", "b"]`."""
    params: dict[str, Any] = {}
    for key in form:
        values = form.getall(key)
        if key.endswith("[]"):
            params[key[:-2]] = [str(v) for v in values]
        elif len(values) > 1:
            params[key] = [str(v) for v in values]
        else:
            params[key] = str(values[0])
    return params


def _bucket_key(key: str) -> str:
    # keyed by a digest so that junk keys of any length cost the same small entry
    return "key:" + hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()[:32]


class HttpApi:
    def __init__(self, hub: HubState, router: Router) -> None:
        self.hub = hub
        self.router = router
        settings = hub.settings
        self.buckets = TokenBuckets(settings.api_rate_per_s, settings.api_rate_burst)

    async def reference(self, request: web.Request) -> web.Response:
        return web.Response(body=msgspec.json.encode(api_reference()), content_type=JSON)

    async def handle(self, request: web.Request) -> web.Response:
        response = await self._handle(request)
        self.hub.metrics.http_status(response.status).inc()
        return response

    async def _handle(self, request: web.Request) -> web.Response:
        settings = self.hub.settings
        event = request.match_info["event"]
        if event not in BY_EVENT:
            return _error(404, f"unknown endpoint '{event}'")
        if event not in API_EVENTS:
            return _error(404, f"endpoint '{event}' is not part of the HTTP API")
        ip = client_ip(request, self.hub.settings.trusted_proxies)
        now = time.monotonic()
        if not self.buckets.take(ip, now):
            return _error(429, "too many requests from your address; slow down")
        try:
            key = api_key_from_header(request.headers.get("Authorization"))
        except AuthRequired as exc:
            return _error(401, exc.text)
        if key is not None and not self.buckets.take(_bucket_key(key), now):
            return _error(429, "too many requests with this API key; slow down")
        try:
            if request.content.is_eof():  # the whole body is here already: no timer needed
                params, from_form = await self._read_params(request, settings.api_max_body_bytes)
            else:
                async with asyncio.timeout(settings.api_body_timeout_s):
                    params, from_form = await self._read_params(
                        request, settings.api_max_body_bytes
                    )
            msg = decode_api_params(event, params, from_form=from_form)
        except TimeoutError:
            return _error(408, "the request body did not arrive in time")
        except PayloadTooLarge as exc:
            return _error(413, exc.text)
        except DecodeError as exc:
            return _error(400, f"invalid parameters: {exc.text}")
        except HubError as exc:
            return _error(400, exc.text)
        if event == "query" and getattr(msg, "multi_response", False) is True:
            # a changefeed needs a connection to stream on; over HTTP only one reply exists
            return _error(400, "multi_response queries aren't supported")
        if "id" in msg.__struct_fields__ and not isinstance(getattr(msg, "id", None), str):
            msg.id = str(uuid.uuid4())  # type: ignore[attr-defined]
        request_id: str | None = getattr(msg, "id", None)
        route = self.router.get(event)
        identity: Identity | None = None
        if route is None or route.http_needs_key or key is not None:
            if key is None:
                return _error(401, "You must provide authentication via an API key.")
            try:
                identity = await authenticate_api_key(self.hub, key)
            except AuthRequired as exc:
                return _error(401, exc.text)
            except HubError as exc:
                return self._reply(Error(id=request_id, error=exc.text))  # type: ignore[arg-type]
        if route is None:
            text = f"Hub does not know how to handle a '{event}' event."
            return self._reply(Error(id=request_id, error=text))  # type: ignore[arg-type]
        session = HttpSession(ip, identity)
        structlog.contextvars.bind_contextvars(api_event=event, ip=ip)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(settings.api_timeout_s):
                reply = await route.fn(msg, Context(self.hub, session))
            if reply is None:
                reply = session.pushed[0] if session.pushed else None
        except TimeoutError:
            reply = Error(
                error=error_text(Timeout(f"no reply within {settings.api_timeout_s:g} s"))
            )
        except HubError as exc:
            self.hub.metrics.errors.labels(type(exc).__name__).inc()
            reply = Error(error=exc.text)
        except Exception:
            self.hub.metrics.errors.labels("internal").inc()
            log.exception("handler failed")
            reply = Error(error=error_text(Exception()))
        finally:
            self.hub.metrics.for_event(event, "http").observe(time.perf_counter() - started)
            structlog.contextvars.unbind_contextvars("api_event", "ip")
        if reply is None:
            reply = Error(error="the handler sent no reply")
        fill_reply_id(reply, request_id)
        return self._reply(reply)

    @staticmethod
    def _reply(msg: Reply) -> web.Response:
        return web.Response(body=encode_reply(msg), content_type=JSON)

    @staticmethod
    async def _read_params(request: web.Request, limit: int) -> tuple[Mapping[str, Any], bool]:
        if request.content_length is not None and request.content_length > limit:
            raise PayloadTooLarge(f"request body is larger than {limit} bytes")
        body = bytearray()
        async for chunk in request.content.iter_any():
            body += chunk
            if len(body) > limit:
                raise PayloadTooLarge(f"request body is larger than {limit} bytes")
        ctype = request.content_type
        if not body:
            return {}, False
        if ctype == "application/json" or (
            ctype == "application/octet-stream" and body[:1] == b"{"
        ):
            try:
                parsed = msgspec.json.decode(bytes(body))
            except (msgspec.DecodeError, UnicodeError) as exc:
                raise HubError(f"body is not valid JSON: {exc}") from None
            except RecursionError:
                raise HubError("body is not valid JSON: nested too deeply") from None
            if not isinstance(parsed, dict):
                raise HubError("the JSON body must be an object")
            return parsed, False
        if ctype in ("application/x-www-form-urlencoded", "application/octet-stream", ""):
            from urllib.parse import parse_qsl

            from multidict import MultiDict

            try:
                pairs = parse_qsl(bytes(body).decode("utf-8"), keep_blank_values=True)
            except UnicodeDecodeError:
                raise HubError("form body is not valid UTF-8") from None
            return form_params(MultiDictProxy(MultiDict(pairs))), True
        raise HubError(
            f"unsupported content type '{ctype}'; "
            "use application/json or application/x-www-form-urlencoded"
        )
