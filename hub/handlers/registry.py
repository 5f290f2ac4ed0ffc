"""Handlers are small async functions registered by the event they answer.

Each handler module makes one `Routes` and decorates its functions:

    routes = Routes()

    @routes.handler(Ping, signed_in=False)
    async def ping(msg: Ping, ctx: Context) -> Pong:
        return Pong(id=msg.id, now=utcnow())

The app joins every module's `Routes` into one `Router`; the WebSocket, the HTTP
API, the metrics and `hub api-docs` all read that one table, so they cannot drift.
A handler returns the reply (its `id` is filled in from the request when left
unset), or None when the event has no reply; it raises `HubError`s for failures.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from hub.protocol import Message, Reply

if TYPE_CHECKING:
    from hub.handlers.context import Context

M = TypeVar("M", bound=Message)
HandlerFn = Callable[[Any, "Context"], Awaitable[Reply | None]]


@dataclass(frozen=True, slots=True)
class Route:
    event: str
    fn: HandlerFn
    signed_in: bool  # the caller must be signed in (or hold an API key)
    not_signed_in_text: str
    http_needs_key: bool  # over HTTP a valid API key is required
    inline: bool  # never waits on I/O: run in the reader, without a task of its own


class Routes:
    """The handlers of one module, by event."""

    def __init__(self) -> None:
        self.by_event: dict[str, Route] = {}

    def handler(
        self,
        msg_type: type[M],
        *,
        signed_in: bool = True,
        not_signed_in_text: str = "not signed in",
        http_needs_key: bool | None = None,
        inline: bool = False,
    ) -> Callable[[Callable[[M, Context], Awaitable[Reply | None]]], HandlerFn]:
        event = msg_type.__struct_config__.tag
        assert isinstance(event, str)

        def register(fn: Callable[[M, Context], Awaitable[Reply | None]]) -> HandlerFn:
            if event in self.by_event:
                raise ValueError(f"two handlers for event {event!r}")
            needs_key = signed_in if http_needs_key is None else http_needs_key
            self.by_event[event] = Route(
                event, fn, signed_in, not_signed_in_text, needs_key, inline
            )
            return fn

        return register


class Router:
    def __init__(self, routes: Iterable[Routes]) -> None:
        self.by_event: dict[str, Route] = {}
        for group in routes:
            for event, route in group.by_event.items():
                if event in self.by_event:
                    raise ValueError(f"two handlers for event {event!r}")
                self.by_event[event] = route

    def get(self, event: str) -> Route | None:
        return self.by_event.get(event)
