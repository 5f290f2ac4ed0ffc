"""The hub's exception tree, and the one place that maps it to the wire.

    HubError                      any failure a client is told about
    ├── BadRequest                malformed or invalid input            HTTP 400
    │   └── UnknownEvent          no handler for the event              HTTP 404
    ├── AuthRequired              no or wrong API key                   HTTP 401
    ├── NotSignedIn               handler needs an account              HTTP 401
    ├── PermissionDenied          signed in, but not allowed            HTTP 403
    ├── PayloadTooLarge           body or frame over its limit          HTTP 413
    ├── RateLimited               too many requests or sign-in tries    HTTP 429
    ├── Overloaded                session has too many requests queued  HTTP 503
    ├── DatabaseDown              PostgreSQL cannot be reached          HTTP 503
    └── Timeout                   a handler or call ran out of time     HTTP 504

Over the WebSocket and in HTTP handler results every `HubError` becomes
`{"event": "error", "id": <request id>, "error": <text>}`. Errors raised before
a handler runs on the HTTP API become a bare `{"error": <text>}` with the status
from `http_status`. Anything that is not a `HubError` is a bug: it is logged with
its traceback and the client sees only `internal error`.
"""

from __future__ import annotations

from enum import IntEnum


class CloseCode(IntEnum):
    """WebSocket close codes the hub sends, with what a client should do.

    1001, 4008 and 4009 mean "reconnect" (to this or another hub); 1009 and 4003 are
    terminal until the client changes what it sends or upgrades.
    """

    NORMAL = 1000  # the client asked to close
    GOING_AWAY = 1001  # the hub is shutting down: reconnect, possibly elsewhere
    MESSAGE_TOO_BIG = 1009  # a frame exceeded max_message_bytes
    INTERNAL_ERROR = 1011  # a bug in the hub
    CLIENT_TOO_OLD = 4003  # client version below version_min: upgrade, then reconnect
    SLOW_CONSUMER = 4008  # the client did not read its replies fast enough: reconnect
    NO_PONG = 4009  # the client did not answer WebSocket pings: reconnect


class HubError(Exception):
    http_status = 400

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class BadRequest(HubError):
    http_status = 400


class UnknownEvent(BadRequest):
    http_status = 404

    def __init__(self, event: str) -> None:
        super().__init__(f"Hub does not know how to handle a '{event}' event.")
        self.event = event


class AuthRequired(HubError):
    http_status = 401


class NotSignedIn(HubError):
    http_status = 401

    def __init__(self, text: str = "not signed in") -> None:
        super().__init__(text)


class PermissionDenied(HubError):
    http_status = 403


class PayloadTooLarge(HubError):
    http_status = 413


class RateLimited(HubError):
    http_status = 429


class Overloaded(HubError):
    http_status = 503


class DatabaseDown(HubError):
    http_status = 503

    def __init__(self, text: str = "database is down (please try later)") -> None:
        super().__init__(text)


class Timeout(HubError):
    http_status = 504


INTERNAL_ERROR_TEXT = "internal error"


def error_text(exc: BaseException) -> str:
    """The text a client sees for `exc`: its own words for a HubError, nothing else."""
    if isinstance(exc, HubError):
        return exc.text
    return INTERNAL_ERROR_TEXT


def http_status(exc: BaseException) -> int:
    if isinstance(exc, HubError):
        return exc.http_status
    return 500
