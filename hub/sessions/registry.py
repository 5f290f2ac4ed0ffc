"""The open WebSocket sessions of this hub process."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING
from uuid import UUID

import structlog

from hub.errors import CloseCode
from hub.protocol.messages import Reconnect

if TYPE_CHECKING:
    from hub.sessions.client_session import ClientSession

log = structlog.get_logger()


class SessionRegistry:
    def __init__(self) -> None:
        self._sessions: set[ClientSession] = set()
        self.accepting = True

    def __len__(self) -> int:
        return len(self._sessions)

    def snapshot(self) -> list[ClientSession]:
        return list(self._sessions)

    def add(self, session: ClientSession) -> None:
        self._sessions.add(session)

    def discard(self, session: ClientSession) -> None:
        self._sessions.discard(session)

    def sign_out_account(self, account_id: UUID, reason: str) -> int:
        """End every session of this hub signed in as the account; how many there were."""
        count = 0
        for session in list(self._sessions):
            if session.account_id == account_id:
                session.signed_out_by_hub(reason)
                count += 1
        return count

    async def shutdown(self, grace_s: float) -> dict[str, int]:
        """Stop accepting, tell every client to reconnect, close with 1001, and wait
        up to `grace_s` for running handlers. Returns counts for the log line."""
        self.accepting = False
        sessions = list(self._sessions)
        for session in sessions:
            session.push(Reconnect(reason="hub is shutting down; reconnect"))
        handlers = [asyncio.ensure_future(s.wait_handlers()) for s in sessions]
        unfinished = 0
        if handlers:
            _, pending = await asyncio.wait(handlers, timeout=grace_s)
            unfinished = len(pending)
            for task in pending:
                task.cancel()
        await asyncio.gather(
            *(s.shutdown(CloseCode.GOING_AWAY, "hub is shutting down") for s in sessions),
            return_exceptions=True,
        )
        return {"closed": len(sessions), "unfinished_handlers": unfinished}
