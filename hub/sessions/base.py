"""What every kind of session (a WebSocket, one HTTP request) answers the same way."""

from __future__ import annotations

from uuid import UUID

from hub.handlers.context import Identity


class SessionBase:
    def __init__(self, ip: str, identity: Identity | None) -> None:
        self._ip = ip
        self._identity = identity

    @property
    def ip(self) -> str:
        return self._ip

    @property
    def identity(self) -> Identity | None:
        return self._identity

    @property
    def account_id(self) -> UUID | None:
        return None if self._identity is None else self._identity.account_id
