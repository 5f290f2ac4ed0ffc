"""Terminal sessions (`start_session` type console): one pty per session_uuid.

A terminal lives in the project, not in a link: it keeps running when every hub
has gone, and a later `start_session` with its uuid reattaches. Each terminal
keeps its last `terminal_scrollback_bytes` of output for those reattaches.

Each hub link attached to a terminal gets an `_Attachment`: one ordered queue
of what that link must receive (a scrollback snapshot named by the call id,
live output named by the session_uuid, and finally `terminal_exit`), written by
one task. The snapshot is queued at the same moment the link starts to receive
live output, so a reattach sees no gap and no duplicate. When a link's queue
holds more than `terminal_pending_bytes` the pty is not read until it drains:
the program then blocks on its writes, as in any terminal whose reader is slow.

Input arrives as blob frames named by the session_uuid (`Terminals.write`);
what the pty cannot take at once waits (at most `terminal_pending_bytes`, the
rest is dropped) until it is writable.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pty
import signal
import struct
import subprocess
import termios
from collections import OrderedDict, deque
from typing import TYPE_CHECKING, Any

import msgspec
import structlog

from hub.local_hub.daemon import messages as m
from hub.local_hub.daemon.config import DaemonConfig
from hub.local_hub.daemon.errors import ProjectError
from hub.local_hub.daemon.paths import ProjectPaths
from hub.local_hub.link import LinkError

if TYPE_CHECKING:
    from hub.local_hub.daemon.connection import HubConnection
    from hub.local_hub.daemon.handlers import Handler, Reply

log = structlog.get_logger("hub.local_hub.daemon")

READ_BYTES = 65536
MAX_SIZE = 1000  # rows and columns a terminal may have
ENDED_REMEMBERED = 1024  # input for a terminal that just ended is swallowed, not kept as a blob


class TerminalParams(msgspec.Struct, kw_only=True):
    command: str | None = None
    args: list[str | int | float] | None = None
    path: str | None = None
    rows: int | None = None
    cols: int | None = None


class StartSession(m.Request, tag="start_session"):
    session_uuid: str
    type: str = "console"
    params: TerminalParams | None = None


class TerminalResize(m.Request, tag="terminal_resize"):
    session_uuid: str
    rows: int
    cols: int


class TerminalDetach(m.Request, tag="terminal_detach"):
    session_uuid: str


def _check_size(rows: int, cols: int) -> None:
    if not (1 <= rows <= MAX_SIZE and 1 <= cols <= MAX_SIZE):
        raise ProjectError(f"rows and cols must be between 1 and {MAX_SIZE}")


def _set_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def _take_terminal() -> None:  # pragma: no cover - runs in the child, between fork and exec
    # the child is already a session leader (start_new_session); its stdin is the pty
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


_Item = tuple[str, bytearray, "asyncio.Future[None] | None"] | dict[str, Any]


class _Attachment:
    """What one hub link still has to receive from one terminal, in order."""

    def __init__(self, terminal: Terminal, conn: HubConnection) -> None:
        self.terminal = terminal
        self.conn = conn
        # (blob name, bytes, future set when sent) or a JSON message
        self.items: deque[_Item] = deque()
        self.pending = 0
        self._wake = asyncio.Event()
        self.task = asyncio.get_running_loop().create_task(self._run())

    def output(self, data: bytes) -> None:
        last = self.items[-1] if self.items else None
        name = self.terminal.uuid
        if isinstance(last, tuple) and last[0] == name and len(last[1]) < READ_BYTES:
            last[1].extend(data)
        else:
            self.items.append((name, bytearray(data), None))
        self.pending += len(data)
        self._wake.set()

    def snapshot(self, call_id: str, data: bytes) -> asyncio.Future[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.items.append((call_id, bytearray(data), done))
        self._wake.set()
        return done

    def message(self, msg: dict[str, Any]) -> None:
        self.items.append(msg)
        self._wake.set()

    async def _run(self) -> None:
        try:
            while True:
                while not self.items:
                    self._wake.clear()
                    await self._wake.wait()
                item = self.items.popleft()
                if isinstance(item, dict):
                    await self.conn.link.send(item)
                    if item.get("event") == "terminal_exit":
                        return
                    continue
                name, data, done = item
                await self.conn.link.send_blob(name, data)
                if done is None:
                    self.pending -= len(data)
                    self.terminal.maybe_resume()
                elif not done.done():
                    done.set_result(None)
        except LinkError:
            pass  # the link is gone; the connection tells Terminals to forget it
        finally:
            for item in self.items:
                if isinstance(item, tuple) and item[2] is not None:
                    item[2].cancel()  # the link is gone: its start_session has nobody to answer
            self.items.clear()


class Terminal:
    def __init__(self, owner: Terminals, uuid: str, popen: subprocess.Popen[bytes], fd: int):
        self.owner = owner
        self.uuid = uuid
        self.popen = popen
        self.fd = fd
        self.scrollback = bytearray()
        self.attachments: dict[HubConnection, _Attachment] = {}
        self.exit_code: int | None = None
        self._loop = asyncio.get_running_loop()
        self._reading = False
        self._input = bytearray()
        self._writing = False
        self._pidfd = os.pidfd_open(popen.pid)
        self._loop.add_reader(self._pidfd, self._on_exit)
        self._resume_reading()

    # --- output ---------------------------------------------------------------------

    def _resume_reading(self) -> None:
        if not self._reading and self.fd >= 0:
            self._reading = True
            self._loop.add_reader(self.fd, self._on_readable)

    def _pause_reading(self) -> None:
        if self._reading:
            self._reading = False
            self._loop.remove_reader(self.fd)

    def maybe_resume(self) -> None:
        limit = self.owner.config.terminal_pending_bytes
        if not self._reading and all(a.pending <= limit // 2 for a in self.attachments.values()):
            self._resume_reading()

    def _on_readable(self) -> None:
        try:
            data = os.read(self.fd, READ_BYTES)
        except BlockingIOError:
            return
        except OSError:  # EIO: every writer of the pty is gone
            data = b""
        if not data:
            self._pause_reading()
            return
        self._output(data)
        limit = self.owner.config.terminal_pending_bytes
        if any(a.pending > limit for a in self.attachments.values()):
            self._pause_reading()  # a link is behind: let the program wait instead

    def _output(self, data: bytes) -> None:
        scrollback = self.scrollback
        scrollback += data
        excess = len(scrollback) - self.owner.config.terminal_scrollback_bytes
        if excess > 0:
            del scrollback[:excess]
        for attachment in self.attachments.values():
            attachment.output(data)

    def _on_exit(self) -> None:
        self._loop.remove_reader(self._pidfd)
        os.close(self._pidfd)
        self._pidfd = -1
        status = self.popen.wait()
        self.exit_code = status if status >= 0 else 128 - status
        self._pause_reading()
        while True:  # what the program wrote just before it ended
            try:
                data = os.read(self.fd, READ_BYTES)
            except OSError:
                break
            if not data:
                break
            self._output(data)
        exit_message = {
            "event": "terminal_exit",
            "session_uuid": self.uuid,
            "exit_code": self.exit_code,
        }
        for attachment in self.attachments.values():
            attachment.message(exit_message)
            self.owner.flushing.add(attachment.task)
            attachment.task.add_done_callback(self.owner.flushing.discard)
        self.attachments.clear()
        self.owner.ended(self)
        self._close_fd()  # hangs up whatever still holds the pty (background jobs)
        log.info("terminal exited", session_uuid=self.uuid, exit_code=self.exit_code)

    # --- input ----------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self.fd < 0:
            return
        room = self.owner.config.terminal_pending_bytes - len(self._input)
        self._input += data[: max(room, 0)]
        self._flush_input()

    def _flush_input(self) -> None:
        while self._input and self.fd >= 0:
            try:
                n = os.write(self.fd, self._input)
            except BlockingIOError:
                if not self._writing:
                    self._writing = True
                    self._loop.add_writer(self.fd, self._on_writable)
                return
            except OSError:
                self._input.clear()
                break
            del self._input[:n]
        if self._writing:
            self._writing = False
            self._loop.remove_writer(self.fd)

    def _on_writable(self) -> None:
        self._flush_input()

    # --- attach, resize, end ----------------------------------------------------------

    def attach(self, conn: HubConnection, call_id: str) -> asyncio.Future[None]:
        attachment = self.attachments.get(conn)
        if attachment is None:
            attachment = self.attachments[conn] = _Attachment(self, conn)
        return attachment.snapshot(call_id, bytes(self.scrollback))

    def detach(self, conn: HubConnection) -> asyncio.Task[None] | None:
        attachment = self.attachments.pop(conn, None)
        if attachment is None:
            return None
        attachment.task.cancel()
        self.maybe_resume()
        return attachment.task

    def resize(self, rows: int, cols: int) -> None:
        _check_size(rows, cols)
        if self.fd >= 0:
            _set_size(self.fd, rows, cols)  # the kernel sends SIGWINCH to the foreground job

    def _close_fd(self) -> None:
        self._pause_reading()
        if self._writing:
            self._writing = False
            self._loop.remove_writer(self.fd)
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = -1

    def kill(self) -> None:
        for attachment in self.attachments.values():
            attachment.task.cancel()
        self.attachments.clear()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGHUP)
            os.killpg(self.popen.pid, signal.SIGKILL)
        if self._pidfd >= 0:
            self._loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = -1
        self._close_fd()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=1.0)


class Terminals:
    def __init__(self, config: DaemonConfig, paths: ProjectPaths) -> None:
        self.config = config
        self.paths = paths
        self.by_uuid: dict[str, Terminal] = {}
        self.flushing: set[asyncio.Task[None]] = set()
        self._ended: OrderedDict[str, None] = OrderedDict()

    def get(self, session_uuid: str) -> Terminal:
        terminal = self.by_uuid.get(session_uuid)
        if terminal is None:
            raise ProjectError(f"no terminal session '{session_uuid}'")
        return terminal

    def open(self, session_uuid: str, params: TerminalParams) -> Terminal:
        """The running terminal `session_uuid`, or a new one started with `params`."""
        terminal = self.by_uuid.get(session_uuid)
        if terminal is not None:
            return terminal
        if len(self.by_uuid) >= self.config.max_terminals:
            raise ProjectError(
                f"too many terminals in this project (at most {self.config.max_terminals})"
            )
        rows = 24 if params.rows is None else params.rows
        cols = 80 if params.cols is None else params.cols
        _check_size(rows, cols)
        cwd = self.paths.resolve(params.path or "")
        if not cwd.is_dir():
            raise ProjectError(f"path '{params.path}' is not a directory")
        argv = [params.command or "bash", *(_arg(a) for a in params.args or ())]
        env = {**self.config.env, "TERM": "xterm-256color"}
        master, slave = pty.openpty()
        try:
            _set_size(master, rows, cols)
            popen = subprocess.Popen(
                argv,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                cwd=cwd,
                env=env,
                start_new_session=True,
                close_fds=True,
                preexec_fn=_take_terminal,
            )
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            os.close(master)
            raise ProjectError(f"could not start '{argv[0]}': {exc}") from None
        finally:
            os.close(slave)
        os.set_blocking(master, False)
        terminal = Terminal(self, session_uuid, popen, master)
        self.by_uuid[session_uuid] = terminal
        self._ended.pop(session_uuid, None)
        log.info("terminal started", session_uuid=session_uuid, pid=popen.pid)
        return terminal

    def ended(self, terminal: Terminal) -> None:
        if self.by_uuid.get(terminal.uuid) is terminal:
            del self.by_uuid[terminal.uuid]
        self._ended[terminal.uuid] = None
        while len(self._ended) > ENDED_REMEMBERED:
            self._ended.popitem(last=False)

    def write(self, session_uuid: str, data: bytes) -> bool:
        """Input for a terminal (a blob frame named by its session_uuid); False if none."""
        terminal = self.by_uuid.get(session_uuid)
        if terminal is None:
            return session_uuid in self._ended  # late keystrokes for an ended terminal
        terminal.write(data)
        return True

    def forget_link(self, conn: HubConnection) -> None:
        """A hub's link ended: detach it from every terminal (they keep running)."""
        for terminal in self.by_uuid.values():
            terminal.detach(conn)

    async def close(self) -> None:
        """The daemon stops: end every terminal."""
        for terminal in list(self.by_uuid.values()):
            terminal.kill()
        self.by_uuid.clear()
        for task in list(self.flushing):
            task.cancel()
        await asyncio.gather(*self.flushing, return_exceptions=True)


def _arg(value: str | int | float) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _uuid_named(session_uuid: str) -> str:
    if len(session_uuid) != 36 or not session_uuid.isascii():
        raise ProjectError("session_uuid must be a uuid (36 ASCII characters)")
    return session_uuid


async def start_session(msg: StartSession, conn: HubConnection) -> Reply:
    if msg.type != "console":
        raise ProjectError(f"unknown session type '{msg.type}' (only 'console')")
    if not isinstance(msg.id, str) or len(msg.id) != 36:
        raise ProjectError("start_session needs an id of 36 ASCII characters (a uuid)")
    terminals = conn.project.terminals
    terminal = terminals.open(_uuid_named(msg.session_uuid), msg.params or TerminalParams())
    # the scrollback goes first, named by this call; live output follows on the same queue
    await terminal.attach(conn, msg.id)
    return {
        "event": "session_started",
        "session_uuid": terminal.uuid,
        "limits": {"scrollback_bytes": terminals.config.terminal_scrollback_bytes},
    }


async def terminal_resize(msg: TerminalResize, conn: HubConnection) -> Reply:
    conn.project.terminals.get(msg.session_uuid).resize(msg.rows, msg.cols)
    return {"event": "success"}


async def terminal_detach(msg: TerminalDetach, conn: HubConnection) -> Reply:
    """This link wants no more output of the terminal; everything queued before is sent."""
    terminal = conn.project.terminals.by_uuid.get(msg.session_uuid)
    task = terminal.detach(conn) if terminal is not None else None
    if task is not None:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return {"event": "success"}


HANDLERS: dict[type[m.Request], Handler] = {
    StartSession: start_session,
    TerminalResize: terminal_resize,
    TerminalDetach: terminal_detach,
}
