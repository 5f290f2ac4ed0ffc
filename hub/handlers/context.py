"""What a handler may see: the hub's shared state and the calling session.

Handlers never touch sockets. The session is either a WebSocket connection or
one HTTP API request; both satisfy `Session`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol
from uuid import UUID

from hub.protocol import Reply

if TYPE_CHECKING:
    from hub.sessions.limiter import Limiter
    from hub.state import HubState


@dataclass(slots=True)
class Identity:
    """Who a session acts as, once signed in (by password, cookie or API key)."""

    account_id: UUID
    groups: tuple[str, ...] = ()
    # the remember-me token hash this session signed in with, so sign_out can drop it
    remember_me_hash: bytes | None = None
    # a project-scoped API key acts on that project only
    project_id: UUID | None = None
    via: Literal["password", "cookie", "api_key", "auth_token", "signup"] = "password"
    email_address: str | None = field(default=None, repr=False)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.groups


class Session(Protocol):
    """The caller of a handler: a WebSocket connection or one HTTP request."""

    @property
    def kind(self) -> Literal["websocket", "http"]: ...

    @property
    def session_id(self) -> str: ...

    @property
    def ip(self) -> str: ...

    @property
    def identity(self) -> Identity | None: ...

    @property
    def account_id(self) -> UUID | None: ...

    @property
    def connected_for_s(self) -> float:
        """Seconds since the connection opened (0 for an HTTP request)."""

    def sign_in(self, identity: Identity) -> None:
        """Mark the session as signed in (a no-op for one HTTP request)."""

    def sign_out(self) -> None: ...

    def push(self, msg: Reply) -> None:
        """Send a message that is not the handler's return value (streams, pushes)."""

    def query_limiter(self) -> Limiter:
        """This client's queue for `query` requests."""

    def push_encoded(self, data: bytes) -> None:
        """Send one message that is already JSON (a relayed stream's part)."""

    def push_binary(self, data: bytes) -> None:
        """Send one binary frame: a data channel byte, then terminal bytes (WebSocket only)."""

    async def drain(self) -> None:
        """Wait while the client is behind on reading (paces a relayed stream)."""

    def set_client_version(self, version: int) -> None: ...

    def close_soon(self, code: int, reason: str, delay_s: float) -> None:
        """Close the connection after `delay_s` (WebSocket only)."""


@dataclass(slots=True)
class Context:
    hub: HubState
    session: Session

    @property
    def identity(self) -> Identity | None:
        return self.session.identity
