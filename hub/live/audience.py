"""Who works in a project on this hub, so a project's own messages reach them and no one else.

A session joins a project's audience when it uses the project through this hub
(runs a command, opens a terminal or a worksheet, …), and joins a terminal's
audience (by `session_uuid`) when it attaches to it. The sets hold sessions
weakly: a closed connection drops out by itself.

`execute_javascript` from a project goes to the sessions of the terminal it
names, or, without `session_uuid`, to every session working in the project.
Each session's access is checked again at delivery, so a collaborator removed
since it joined, or a session signed out, gets nothing.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from uuid import UUID

import structlog

from hub.errors import HubError
from hub.local_hub.pool import ProjectLinks

if TYPE_CHECKING:
    from hub.handlers.context import Session

log = structlog.get_logger()

# The fields of execute_javascript a browser gets (anything else a project adds is dropped).
_JS_FIELDS = ("session_uuid", "code", "obj", "coffeescript", "cell_id")


class Audience:
    def __init__(self, links: ProjectLinks) -> None:
        self._by_project: dict[UUID, weakref.WeakSet[Session]] = {}
        self._by_terminal: dict[str, weakref.WeakSet[Session]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.may_write: Callable[[Session, UUID], Awaitable[bool]] | None = None
        """Set by the app: the access rules, asked again at each delivery."""
        links.event_listeners["execute_javascript"] = self.on_execute_javascript

    def join(self, project_id: UUID, session: Session, session_uuid: str | None = None) -> None:
        if session.kind != "websocket":
            return  # one HTTP request cannot be sent anything later
        self._by_project.setdefault(project_id, weakref.WeakSet()).add(session)
        if session_uuid is not None:
            self._by_terminal.setdefault(session_uuid, weakref.WeakSet()).add(session)

    def leave_terminal(self, session_uuid: str, session: Session) -> None:
        members = self._by_terminal.get(session_uuid)
        if members is not None:
            members.discard(session)
            if not members:
                del self._by_terminal[session_uuid]

    def members(self, project_id: UUID, session_uuid: str | None = None) -> list[Session]:
        if session_uuid is not None:
            return list(self._by_terminal.get(session_uuid, ()))
        members = self._by_project.get(project_id)
        if members is None:
            return []
        if not members:
            del self._by_project[project_id]
            return []
        return list(members)

    def on_execute_javascript(self, project_id: UUID, message: dict[str, Any]) -> None:
        if not isinstance(message.get("code"), str):
            return
        out = {"event": "execute_javascript"}
        out.update({k: message[k] for k in _JS_FIELDS if message.get(k) is not None})
        session_uuid = message.get("session_uuid")
        targets = self.members(project_id, session_uuid if isinstance(session_uuid, str) else None)
        if not targets:
            return
        task = asyncio.get_running_loop().create_task(self._deliver(project_id, targets, out))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(
        self, project_id: UUID, targets: list[Session], message: dict[str, Any]
    ) -> None:
        for session in targets:
            try:
                allowed = self.may_write is None or await self.may_write(session, project_id)
            except HubError:
                allowed = False
            if allowed:
                session.push(message)
