"""Terminals on the hub's side: data channels per connection, and each terminal's fan-out.

A client attaches to a terminal with `start_session`; it gets a data channel (a
byte 1..255, unique within its connection) and from then on the terminal's
output as binary frames `bytes([channel]) + data`, and sends keystrokes the same
way. The hub keeps one attachment per terminal on its project link
(`HubTerminal`), shared by all of its clients attached to that terminal: the
project sends each output chunk once per hub, and the hub fans it out.

Replay without gap or duplicate: the project answers a `start_session` by first
sending the terminal's scrollback as a blob named by the call id, queued at the
very moment this link's live output starts. Output that arrives before that
blob is already in the scrollback and is skipped for the new client; output
after it is held until the reply, then sent after the scrollback.

Each client's output passes its own `OutputRate`; what is dropped becomes one
inline notice. Fan-out never waits: a client that does not read fills its own
bounded outbound queue and is closed (4008) without slowing the others. When a
hub's last client of a terminal leaves, the hub tells the project
(`terminal_detach`) and stops listening once that is answered, so no output is
left on the link for nobody.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from uuid import UUID

import structlog

from hub.config import Settings
from hub.errors import BadRequest, HubError
from hub.live.audience import Audience
from hub.live.output_rate import OutputRate
from hub.local_hub.pool import ProjectConnection, ProjectLinks
from hub.protocol.messages import Error, SessionStarted, TerminalDetached, TerminalExited

if TYPE_CHECKING:
    from hub.handlers.context import Session

log = structlog.get_logger()

MAX_CHANNEL = 255
REPLAY_CHUNK = 65536
DETACH_TIMEOUT_S = 10.0


@dataclass(eq=False, slots=True)
class Attached:
    """One client attached to one terminal."""

    session: Session
    account_id: UUID | None
    channel: int
    terminal: HubTerminal
    rate: OutputRate
    live: bool = False
    replay: bytearray | None = None  # the scrollback, once it starts to arrive
    held: list[bytes] = field(default_factory=list)  # output after the scrollback, before live
    checked_at: float = field(default_factory=time.monotonic)
    checking: bool = False


class HubTerminal:
    """This hub's attachment to one terminal of one project, shared by its clients."""

    def __init__(
        self,
        project_id: UUID,
        session_uuid: str,
        conn: ProjectConnection,
        deliver: Callable[[Attached, bytes], None],
    ) -> None:
        self.project_id = project_id
        self.session_uuid = session_uuid
        self.conn = conn
        self.deliver = deliver
        self.clients: list[Attached] = []
        self.detaching: asyncio.Task[None] | None = None

    def on_output(self, data: bytes) -> None:
        for client in list(self.clients):
            if client.live:
                self.deliver(client, data)
            elif client.replay is not None:
                client.held.append(data)
            # else: output from before this client's scrollback, which holds it


class TerminalRelay:
    def __init__(self, settings: Settings, links: ProjectLinks, audience: Audience) -> None:
        self.settings = settings
        self.links = links
        self.audience = audience
        self._terminals: dict[tuple[UUID, str], HubTerminal] = {}
        self._channels: dict[Session, dict[int, Attached]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.unknown_channel_frames = 0
        links.event_listeners["terminal_exit"] = self._on_exit
        links.closed_listeners.append(self._on_link_closed)

    # --- attach ---------------------------------------------------------------------

    async def start(
        self,
        session: Session,
        project_id: UUID,
        session_uuid: str,
        params: dict[str, Any],
        request_id: str | None,
    ) -> None:
        """Attach `session` to the terminal (started when it does not run); pushes
        `session_started`, the scrollback and then live output."""
        self._check_room(session, project_id, session_uuid)
        conn = await self.links.get(project_id)
        key = (project_id, session_uuid)
        while (term := self._terminals.get(key)) is not None:
            if term.detaching is not None:  # its last client just left: let that finish
                await asyncio.shield(term.detaching)
            elif term.conn is not conn:  # a link that closed before its listeners ran
                self._drop(term, "the hub's link to the project was replaced")
            else:
                break
        channel = self._check_room(session, project_id, session_uuid)
        if term is None:
            term = self._terminals[key] = HubTerminal(project_id, session_uuid, conn, self._deliver)
            conn.listen_blobs(session_uuid, term.on_output)
        settings = self.settings
        client = Attached(
            session,
            session.account_id,
            channel,
            term,
            OutputRate(settings.stream_max_messages_per_s, settings.stream_max_bytes_per_s),
        )
        self._channels.setdefault(session, {})[channel] = client
        term.clients.append(client)

        async def scrollback(data: bytes) -> None:
            if client.replay is None:
                client.replay = bytearray()
            client.replay += data

        message = {
            "event": "start_session",
            "type": "console",
            "project_id": str(project_id),
            "session_uuid": session_uuid,
            "params": params,
        }
        timeout = settings.terminal_start_timeout_s
        try:
            call = await conn.open_call(message, blob_sink=scrollback)
            try:
                item = await call.next_relayed(timeout, timeout)
            finally:
                call.close()
        except BaseException:
            self._remove(client)
            raise
        reply = item.message()
        if item.event == "error":
            self._remove(client)
            raise HubError(str(reply.get("error", "error in project")))
        if client not in term.clients:
            raise HubError(f"terminal '{session_uuid}' ended while attaching; start it again")
        limits = dict(reply.get("limits") or {})
        limits.update(
            max_input_bytes=settings.terminal_max_input_bytes,
            max_bytes_per_s=settings.stream_max_bytes_per_s,
            max_messages_per_s=settings.stream_max_messages_per_s,
        )
        reply_struct = SessionStarted(
            session_uuid=session_uuid, data_channel=channel, limits=limits
        )
        if request_id is not None:
            reply_struct.id = request_id
        # from here to `live` nothing waits: the reply, the scrollback, then held output
        session.push(reply_struct)
        prefix = bytes((channel,))
        replay = client.replay or b""
        for start in range(0, len(replay), REPLAY_CHUNK):
            session.push_binary(prefix + replay[start : start + REPLAY_CHUNK])
        held, client.held, client.replay = client.held, [], None
        client.live = True
        for data in held:
            self._deliver(client, data)

    def _check_room(self, session: Session, project_id: UUID, session_uuid: str) -> int:
        """A free data channel for `session`, or why there is none."""
        channels = self._channels.get(session, {})
        for other in channels.values():
            term = other.terminal
            if term.session_uuid == session_uuid and term.project_id == project_id:
                raise BadRequest(
                    f"this connection is already attached to terminal '{session_uuid}'"
                    f" (data channel {other.channel})"
                )
        limit = min(self.settings.terminals_per_client, MAX_CHANNEL)
        if len(channels) >= limit:
            raise BadRequest(f"too many terminals on this connection (at most {limit})")
        return next(c for c in range(1, MAX_CHANNEL + 1) if c not in channels)

    # --- output ---------------------------------------------------------------------

    def _deliver(self, client: Attached, data: bytes) -> None:
        session = client.session
        if session.account_id != client.account_id:
            self._end(client, "signed out")
            return
        if not client.checking and self._stale(client):
            client.checking = True
            self._spawn(self._recheck(client))
        rate = client.rate
        if not rate.admit(len(data)):
            return
        prefix = bytes((client.channel,))
        notice = rate.take_notice()
        if notice is not None:
            session.push_binary(prefix + b"\r\n" + notice.encode() + b"\r\n")
        session.push_binary(prefix + data)

    def _stale(self, client: Attached) -> bool:
        return time.monotonic() - client.checked_at > self.settings.project_access_cache_s

    async def _recheck(self, client: Attached) -> bool:
        """Is the client still allowed to write to the project (a removed collaborator
        is detached)? Asked again after `project_access_cache_s`."""
        client.checking = True
        try:
            may_write = self.audience.may_write
            allowed = may_write is None or await may_write(
                client.session, client.terminal.project_id
            )
        finally:
            client.checking = False
        client.checked_at = time.monotonic()
        if not allowed:
            self._end(client, "no write access to the project")
        return allowed

    # --- input ----------------------------------------------------------------------

    async def input(self, session: Session, frame: bytes) -> None:
        """One binary frame from a client: keystrokes for the terminal on its channel."""
        if not frame:
            self._error(session, "a binary frame must start with a data channel byte")
            return
        channel = frame[0]
        client = self._channels.get(session, {}).get(channel)
        if client is None or not client.live:
            self.unknown_channel_frames += 1
            self._error(session, f"no terminal on data channel {channel}")
            return
        size = len(frame) - 1
        limit = self.settings.terminal_max_input_bytes
        if size > limit:
            self._error(
                session,
                f"binary frame too large: {size} bytes of input on data channel {channel}"
                f" (at most {limit})",
            )
            return
        if session.account_id != client.account_id:
            self._end(client, "signed out")
            self._error(session, f"no terminal on data channel {channel}")
            return
        if self._stale(client) and not await self._recheck(client):
            self._error(session, f"no terminal on data channel {channel}")
            return
        try:
            await client.terminal.conn.send_blob(client.terminal.session_uuid, frame[1:])
        except HubError as exc:
            self._error(session, exc.text)

    @staticmethod
    def _error(session: Session, text: str) -> None:
        session.push(Error(error=text))  # no id: a binary frame has none

    # --- resize, detach -------------------------------------------------------------

    def attached(self, session: Session, session_uuid: str) -> Attached:
        for client in self._channels.get(session, {}).values():
            if client.terminal.session_uuid == session_uuid and client.live:
                return client
        raise BadRequest(f"this connection is not attached to terminal '{session_uuid}'")

    async def resize(self, session: Session, session_uuid: str, rows: int, cols: int) -> None:
        term = self.attached(session, session_uuid).terminal
        message = {
            "event": "terminal_resize",
            "project_id": str(term.project_id),
            "session_uuid": session_uuid,
            "rows": rows,
            "cols": cols,
        }
        await _call(term.conn, message)

    def detach(self, session: Session, session_uuid: str) -> None:
        self._remove(self.attached(session, session_uuid))

    def forget_session(self, session: Session) -> None:
        """The connection ended: detach it from every terminal (they keep running)."""
        for client in list(self._channels.pop(session, {}).values()):
            self._remove(client)

    # --- endings ----------------------------------------------------------------------

    def _remove(self, client: Attached) -> None:
        session = client.session
        channels = self._channels.get(session)
        if channels is not None and channels.get(client.channel) is client:
            del channels[client.channel]
            if not channels:
                del self._channels[session]
        term = client.terminal
        self.audience.leave_terminal(term.session_uuid, session)
        if client in term.clients:
            term.clients.remove(client)
        key = (term.project_id, term.session_uuid)
        if not term.clients and term.detaching is None and self._terminals.get(key) is term:
            term.detaching = self._spawn(self._detach(term))

    def _end(self, client: Attached, reason: str) -> None:
        was_live = client.live
        self._remove(client)
        if was_live:
            client.session.push(
                TerminalDetached(
                    session_uuid=client.terminal.session_uuid,
                    data_channel=client.channel,
                    reason=reason,
                )
            )

    async def _detach(self, term: HubTerminal) -> None:
        """No client of this hub is left: ask the project to stop sending, then stop
        listening (everything it sent before its answer has arrived by then)."""
        message = {
            "event": "terminal_detach",
            "project_id": str(term.project_id),
            "session_uuid": term.session_uuid,
        }
        try:
            await _call(term.conn, message)
        except HubError as exc:
            log.info("terminal detach failed", session_uuid=term.session_uuid, error=exc.text)
        finally:
            term.conn.unlisten_blobs(term.session_uuid)
            key = (term.project_id, term.session_uuid)
            if self._terminals.get(key) is term:
                del self._terminals[key]

    def _drop(self, term: HubTerminal, reason: str) -> None:
        key = (term.project_id, term.session_uuid)
        if self._terminals.get(key) is term:
            del self._terminals[key]
        for client in list(term.clients):
            self._end(client, reason)

    def _on_exit(self, project_id: UUID, message: dict[str, Any]) -> None:
        session_uuid = message.get("session_uuid")
        if not isinstance(session_uuid, str):
            return
        term = self._terminals.pop((project_id, session_uuid), None)
        if term is None:
            return
        term.conn.unlisten_blobs(session_uuid)
        exit_code = message.get("exit_code")
        for client in list(term.clients):
            was_live = client.live
            self._remove(client)
            if was_live:
                exited = TerminalExited(session_uuid=session_uuid, data_channel=client.channel)
                if isinstance(exit_code, int):
                    exited.exit_code = exit_code
                client.session.push(exited)

    def _on_link_closed(self, project_id: UUID) -> None:
        for term in list(self._terminals.values()):
            if term.project_id == project_id and term.conn.closed:
                self._drop(term, f"lost the connection to project {project_id}")

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*self._tasks, return_exceptions=True)


async def _call(conn: ProjectConnection, message: dict[str, Any]) -> dict[str, Any]:
    reply: dict[str, Any] = {"event": "error", "error": "no reply from the project"}
    async for part in conn.request(message, timeout=DETACH_TIMEOUT_S):
        reply = part
    if reply.get("event") == "error":
        raise HubError(str(reply.get("error", "error in project")))
    return reply
