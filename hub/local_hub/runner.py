"""Start, find and stop the projects' local hubs.

`ProjectRunner` is the interface the hub uses; `LocalProcessRunner`, the default,
runs each project's local hub as a process on this machine:

    <projects_dir>/                     0711: every project user can pass, none can list
        <project_id>/                   HOME: owned by the project's user, 0700
            .smc/hub-server.port        written by the daemon (the project controls it)
            .smc/secret_token
    <state_dir>/                        0700, the hub's own
        <project_id>.json               pid, process start time, port, uid (`RunnerRecord`)
        <project_id>.log                the daemon's stdout and stderr
        <project_id>.lock               flock held while one hub process starts or stops it

Trust. Everything under HOME belongs to the project and may be forged, so the
runner keeps its bookkeeping in `state_dir`, reads HOME's files without following
symbolic links and only when the project's user owns them, and signals a pid only
after checking that the process is still the one it started: the same start time
(`/proc/<pid>/stat`), the daemon's command line for that HOME, and the project's
uid. Signals go through a pidfd, so a pid reused between check and signal is never
hit.

Processes. The daemon is started through `setsid -f`, so it is not the hub's
child: it runs in its own session (its pid is its process group), outlives the hub,
is reaped by init, and a later hub process finds it the same way this one does.
With isolation (root and `isolate_users`), it runs as the project's own user
(`unix_users.py`) with no supplementary groups and umask 077, and stopping a
project also kills every process left under that uid.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn
from uuid import UUID

import msgspec
import structlog

from hub.errors import Timeout
from hub.local_hub.home_files import SmallFile, read_project_file, tail_of
from hub.local_hub.process_limit import ProcessLimit
from hub.local_hub.processes import (
    exited,
    kill_user_processes,
    proc_cmdline,
    proc_uids,
    signal_group,
    start_ticks,
    wait_exit,
)
from hub.local_hub.runner_protocol import (
    ProjectAddress,
    ProjectStartFailed,
    ProjectStatus,
)
from hub.local_hub.unix_users import ProjectUsers, UnixUser, current_user, running_as_root

log = structlog.get_logger(__name__)

PORT_FILE = "hub-server.port"
TOKEN_FILE = "secret_token"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_KILL_WAIT_S = 5.0
_SETSID_PATHS = ("/usr/bin/setsid", "/bin/setsid")
# Run by `setsid -f`: print our pid (the daemon's, after exec), then become the daemon
# with stdout and stderr going to the log file the hub opened.
_SPAWN_SCRIPT = 'echo $$; exec "$@" >&2'


class RunnerRecord(msgspec.Struct, kw_only=True):
    """`<state_dir>/<project_id>.json`: written only by the hub, under the project's lock.

    `pid` and `start_ticks` (field 22 of `/proc/<pid>/stat`) together name one
    process; both are None when the project is stopped.
    """

    project_id: str
    home: str
    uid: int
    gid: int
    pid: int | None = None
    start_ticks: int | None = None
    port: int | None = None
    started_at: float | None = None
    stopped_at: float | None = None


@dataclass(slots=True)
class _Running:
    record: RunnerRecord
    address: ProjectAddress


class LocalProcessRunner:
    """The default runner: one `python -m hub.local_hub` process per project on this host.

    `projects_dir` holds the projects' HOMEs, `state_dir` the runner's own files
    (keep it out of `projects_dir`). With `isolate_users` and a hub running as
    root, each project runs as its own Unix user; otherwise everything runs as the
    hub's user. `python` is the interpreter for the daemons (default: the hub's);
    with isolation every directory on its path, the `hub` package and its
    dependencies must be readable by other users. `env` is added to the daemons'
    otherwise minimal environment (HOME, USER, LOGNAME, SHELL, PATH, LANG); the
    hub's own environment is never passed on.

    Call `start_reaper()` once a loop runs to stop projects idle for longer than
    their idle timeout (`idle_timeout_s` unless `set_idle_timeout` says otherwise),
    checked every `reap_interval_s`.
    """

    def __init__(
        self,
        projects_dir: Path,
        state_dir: Path,
        *,
        isolate_users: bool = True,
        host: str = "127.0.0.1",
        python: str | None = None,
        daemon_module: str = "hub.local_hub",
        env: Mapping[str, str] | None = None,
        start_timeout_s: float = 20.0,
        stop_grace_s: float = 5.0,
        idle_timeout_s: float = 1800.0,
        reap_interval_s: float = 30.0,
        uid_range: tuple[int, int] | None = None,
        log_max_bytes: int = 1024 * 1024,
        max_processes: int = 0,
    ) -> None:
        self.projects_dir = Path(projects_dir).absolute()
        self.state_dir = Path(state_dir).absolute()
        self.isolated = isolate_users and running_as_root()
        self._host = host
        self._connect_host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
        self._python = python or sys.executable
        self._module = daemon_module
        self._extra_env = dict(env or {})
        self._start_timeout_s = start_timeout_s
        self._stop_grace_s = stop_grace_s
        self._idle_timeout_s = idle_timeout_s
        self._reap_interval_s = reap_interval_s
        self._log_max_bytes = log_max_bytes
        self._users = ProjectUsers(uid_range=uid_range)
        self._setsid = next((p for p in _SETSID_PATHS if os.path.exists(p)), "setsid")
        self.process_limit = ProcessLimit(max_processes, isolated=self.isolated)
        # told (project_id, daemon pid) right after a start, in the start's worker thread,
        # and (project_id) after a stop: run quotas (hub/projects/quotas_apply.py)
        self.on_spawned: list[Callable[[UUID, int], None]] = []
        self.on_stopped: list[Callable[[UUID], None]] = []

        self._running: dict[UUID, _Running] = {}
        self._starts: dict[UUID, asyncio.Task[ProjectAddress]] = {}
        self._starting_since: dict[UUID, float] = {}
        self._last_active: dict[UUID, float] = {}
        self._idle_override: dict[UUID, float] = {}
        self._reaper: asyncio.Task[None] | None = None
        self._dirs_ready = False
        self._closed = False

        me = current_user()
        if self.isolated:
            log.info("project isolation on: each project runs as its own Unix user")
        elif isolate_users:
            log.warning(
                "project isolation off: the hub is not root, every project runs as its user",
                user=me.name,
            )
        else:
            log.info("project isolation off (isolate_users=False)", user=me.name)

    # --- paths ---------------------------------------------------------------------

    def home(self, project_id: UUID) -> Path:
        return self.projects_dir / str(project_id)

    def state_path(self, project_id: UUID) -> Path:
        return self.state_dir / f"{project_id}.json"

    def log_path(self, project_id: UUID) -> Path:
        return self.state_dir / f"{project_id}.log"

    def daemon_argv(self, home: Path) -> list[str]:
        """The daemon's command line; `-P` keeps HOME (the cwd) off its `sys.path`."""
        return [
            self._python,
            "-P",
            "-m",
            self._module,
            "--home",
            str(home),
            "--host",
            self._host,
            "--port",
            "0",
        ]

    # --- the interface -----------------------------------------------------------------

    async def address(self, project_id: UUID) -> ProjectAddress:
        self.touch(project_id)
        known = self._running.get(project_id)
        if known is not None and _alive(known.record):
            return known.address
        return await self.start(project_id)

    async def start(self, project_id: UUID) -> ProjectAddress:
        if self._closed:
            raise RuntimeError("the project runner is closed")
        task = self._starts.get(project_id)
        if task is None:
            task = asyncio.create_task(self._start(project_id), name=f"start {project_id}")
            self._starts[project_id] = task
            self._starting_since[project_id] = time.time()
            task.add_done_callback(functools.partial(self._start_done, project_id))
        return await asyncio.shield(task)

    async def stop(self, project_id: UUID) -> None:
        task = self._starts.get(project_id)
        if task is not None:
            await asyncio.wait({task})  # let the start finish (or fail), then stop
        self._running.pop(project_id, None)
        if not self.state_path(project_id).exists():
            return
        deadline = time.monotonic() + self._start_timeout_s
        async with self._project_lock(project_id, deadline):
            self._running.pop(project_id, None)
            record = self._read_record(project_id)
            if record is not None and record.pid is not None:
                await self._terminate(project_id, record)

    async def status(self, project_id: UUID) -> ProjectStatus:
        task = self._starts.get(project_id)
        if task is not None and not task.done():
            return ProjectStatus("starting", since=_utc(self._starting_since.get(project_id)))
        record = self._read_record(project_id)
        if record is None:
            return ProjectStatus("stopped")
        if record.pid is None:
            return ProjectStatus("stopped", since=_utc(record.stopped_at))
        if not self._verified(project_id, record):
            self._forget(project_id, record, "status")
            return ProjectStatus("stopped")
        address = self._read_address(self.home(project_id), record.uid)
        if address is None:
            return ProjectStatus("starting", pid=record.pid, since=_utc(record.started_at))
        return ProjectStatus("running", address, record.pid, _utc(record.started_at))

    def touch(self, project_id: UUID) -> None:
        self._last_active[project_id] = time.monotonic()

    def set_idle_timeout(self, project_id: UUID, seconds: float | None) -> None:
        if seconds is None:
            self._idle_override.pop(project_id, None)
        else:
            self._idle_override[project_id] = seconds

    def idle_timeout(self, project_id: UUID) -> float:
        return self._idle_override.get(project_id, self._idle_timeout_s)

    async def close(self) -> None:
        """Stop the reaper; wait (bounded) for starts in flight so each one is recorded."""
        self._closed = True
        if self._reaper is not None:
            self._reaper.cancel()
            await asyncio.gather(self._reaper, return_exceptions=True)
            self._reaper = None
        starts = list(self._starts.values())
        if starts:
            _done, pending = await asyncio.wait(starts, timeout=self._start_timeout_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*starts, return_exceptions=True)

    # --- idle projects -------------------------------------------------------------------

    def start_reaper(self) -> None:
        """Start the background task that stops idle projects (once; `close` ends it)."""
        if self._closed:
            raise RuntimeError("the project runner is closed")
        if self._reaper is None:
            self._reaper = asyncio.create_task(self._reap_loop(), name="project idle reaper")

    async def reap_once(self) -> list[UUID]:
        """Forget daemons that died and stop idle projects; returns the ones stopped."""
        now = time.monotonic()
        idle: list[UUID] = []
        for project_id, known in list(self._running.items()):
            if not _alive(known.record):
                self._forget(project_id, known.record, "reaper")
                continue
            last = self._last_active.setdefault(project_id, now)
            if now - last >= self.idle_timeout(project_id):
                idle.append(project_id)
        if not idle:
            return []
        results = await asyncio.gather(*(self._stop_idle(p) for p in idle), return_exceptions=True)
        stopped: list[UUID] = []
        for project_id, result in zip(idle, results, strict=True):
            if isinstance(result, BaseException):
                log.error(
                    "stopping an idle project failed", project_id=str(project_id), exc_info=result
                )
            elif result:
                stopped.append(project_id)
        return stopped

    async def _stop_idle(self, project_id: UUID) -> bool:
        last = self._last_active.get(project_id, 0.0)
        timeout = self.idle_timeout(project_id)
        if time.monotonic() - last < timeout:
            return False  # touched while other idle projects were being stopped
        log.info("stopping idle project", project_id=str(project_id), idle_timeout_s=timeout)
        await self.stop(project_id)
        return True

    async def _reap_loop(self) -> None:
        try:
            self._adopt_running()
        except Exception:
            log.exception("finding running projects failed")
        while True:
            await asyncio.sleep(self._reap_interval_s)
            try:
                await self.reap_once()
            except Exception:
                log.exception("idle reaper round failed")

    def _adopt_running(self) -> None:
        """After a hub restart: projects still running get an idle clock starting now."""
        if not self.state_dir.is_dir():
            return
        now = time.monotonic()
        for path in self.state_dir.glob("*.json"):
            try:
                project_id = UUID(path.stem)
            except ValueError:
                continue
            if project_id in self._running:
                continue
            found = self._find_running(project_id)
            if found is not None:
                self._running[project_id] = found
                self._last_active.setdefault(project_id, now)

    # --- starting ----------------------------------------------------------------------

    def _start_done(self, project_id: UUID, task: asyncio.Task[ProjectAddress]) -> None:
        if self._starts.get(project_id) is task:
            del self._starts[project_id]
            self._starting_since.pop(project_id, None)
        if not task.cancelled():
            task.exception()  # retrieved here; every caller awaiting it gets it raised

    async def _start(self, project_id: UUID) -> ProjectAddress:
        began = time.monotonic()
        self.touch(project_id)
        known = self._running.get(project_id)
        if known is not None and _alive(known.record):
            return known.address
        found = self._find_running(project_id)
        if found is not None:
            self._running[project_id] = found
            return found.address

        self._prepare_dirs()
        home = self.home(project_id)
        if self.isolated:
            user = await self._users.ensure(project_id, home)
        else:
            user = current_user()
        _prepare_home(home, user)

        deadline = began + self._start_timeout_s
        async with self._project_lock(project_id, deadline):
            record = self._read_record(project_id)
            if record is not None and self._verified(project_id, record):
                address = self._read_address(home, record.uid)
                if address is not None:  # another hub process started it meanwhile
                    self._running[project_id] = _Running(record, address)
                    return address
                log.warning(
                    "project daemon has no address; restarting it",
                    project_id=str(project_id),
                    pid=record.pid,
                )
                await self._terminate(project_id, record)
            elif record is not None and _alive(record):
                await self._await_exit(project_id, record)
            running = await self._spawn(project_id, home, user, deadline)
        self._running[project_id] = running
        self.touch(project_id)
        log.info(
            "project started",
            project_id=str(project_id),
            pid=running.record.pid,
            port=running.address.port,
            user=user.name,
            seconds=round(time.monotonic() - began, 3),
        )
        return running.address

    async def _spawn(
        self, project_id: UUID, home: Path, user: UnixUser, deadline: float
    ) -> _Running:
        before = read_project_file(home, PORT_FILE, user.uid)
        record = await asyncio.to_thread(self._spawn_and_record, project_id, home, user)
        assert record.pid is not None
        try:
            pidfd = os.pidfd_open(record.pid)
        except ProcessLookupError:
            pidfd = -1
        try:
            if pidfd < 0 or start_ticks(record.pid) != record.start_ticks:
                self._failed_start(project_id, record, "exited at once")
            while True:
                address = self._read_address(home, user.uid, not_identity=before)
                if address is not None:
                    break
                if exited(pidfd):
                    self._failed_start(project_id, record, "exited while starting")
                if time.monotonic() >= deadline:
                    await self._terminate(project_id, record, pidfd=pidfd)
                    raise Timeout(
                        f"project {project_id} did not start within {self._start_timeout_s:g} s"
                    )
                await asyncio.sleep(0.01)
        finally:
            if pidfd >= 0:
                os.close(pidfd)
        record.port = address.port
        self._write_record(record)
        return _Running(record, address)

    def _spawn_and_record(self, project_id: UUID, home: Path, user: UnixUser) -> RunnerRecord:
        """In a thread: start the daemon, learn its pid, and record it before anything else.

        Recording here means a cancelled start still leaves the daemon findable.
        """
        env = {
            "HOME": str(home),
            "USER": user.name,
            "LOGNAME": user.name,
            "SHELL": "/bin/bash",
            "PATH": DEFAULT_PATH,
            "LANG": "C.UTF-8",
            **self._extra_env,
        }
        argv = [self._setsid, "-f", "/bin/sh", "-c", _SPAWN_SCRIPT, "sh", *self.daemon_argv(home)]
        log_fd = self._open_log(project_id)
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log_fd,
                cwd=home,
                env=env,
                close_fds=True,
                start_new_session=True,
                umask=0o077,
                user=user.uid if self.isolated else None,
                group=user.gid if self.isolated else None,
                extra_groups=[] if self.isolated else None,
            )
        except OSError as exc:
            log.error("cannot spawn project daemon", project_id=str(project_id), error=str(exc))
            raise ProjectStartFailed(f"project {project_id} could not be started") from exc
        finally:
            os.close(log_fd)
        try:
            out, _ = proc.communicate(timeout=self._start_timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise Timeout(f"project {project_id} did not start") from None
        text = out.decode("ascii", "replace").strip()
        if proc.returncode != 0 or not text.isdigit():
            log.error("setsid did not report a pid", project_id=str(project_id), output=text)
            raise ProjectStartFailed(f"project {project_id} could not be started")
        pid = int(text)
        self.process_limit.apply(project_id, pid)  # before the daemon can run any command
        for spawned in self.on_spawned:
            spawned(project_id, pid)
        record = RunnerRecord(
            project_id=str(project_id),
            home=str(home),
            uid=user.uid,
            gid=user.gid,
            pid=pid,
            start_ticks=start_ticks(pid),
            started_at=time.time(),
        )
        self._write_record(record)
        return record

    def _failed_start(self, project_id: UUID, record: RunnerRecord, what: str) -> NoReturn:
        self._write_record(_stopped(record))
        log.error(
            f"project daemon {what}",
            project_id=str(project_id),
            pid=record.pid,
            log_tail=tail_of(self.log_path(project_id)),
        )
        raise ProjectStartFailed(f"project {project_id} could not be started ({what})")

    # --- stopping ----------------------------------------------------------------------

    async def _terminate(
        self, project_id: UUID, record: RunnerRecord, *, pidfd: int | None = None
    ) -> None:
        """SIGTERM the daemon's process group, SIGKILL after the grace period; record it.

        Call with the project's lock held. A pid that is not this project's daemon
        any more is never signalled.
        """
        assert record.pid is not None
        own_fd = pidfd is None
        if pidfd is None:
            pidfd = self._open_verified(project_id, record)
        how = "gone"
        if pidfd is None:
            if start_ticks(record.pid) is not None:
                log.warning(
                    "not signalling a pid that is not this project's daemon",
                    project_id=str(project_id),
                    pid=record.pid,
                )
        else:
            try:
                signal_group(pidfd, record.pid, signal.SIGTERM)
                how = "terminated"
                if not await wait_exit(pidfd, self._stop_grace_s):
                    signal_group(pidfd, record.pid, signal.SIGKILL)
                    how = "killed"
                    if not await wait_exit(pidfd, _KILL_WAIT_S):
                        log.error("project daemon survived SIGKILL", pid=record.pid)
            finally:
                if own_fd:
                    os.close(pidfd)
        if self.isolated and record.uid not in (0, os.geteuid()):
            await kill_user_processes(record.uid)
        self._write_record(_stopped(record))
        self._running.pop(project_id, None)
        self._last_active.pop(project_id, None)
        self.process_limit.release(project_id)
        for stopped in self.on_stopped:
            stopped(project_id)
        log.info("project stopped", project_id=str(project_id), pid=record.pid, how=how)

    async def _await_exit(self, project_id: UUID, record: RunnerRecord) -> None:
        """The process we started still lives but is no longer the daemon: it is exiting
        (its command line is gone a moment before it dies). Let it go, without signalling
        it, so the new daemon does not find HOME still taken."""
        assert record.pid is not None
        try:
            pidfd = os.pidfd_open(record.pid)
        except OSError:
            return
        try:
            if start_ticks(record.pid) == record.start_ticks and not await wait_exit(
                pidfd, self._stop_grace_s
            ):
                log.warning(
                    "an earlier daemon of the project has not exited; starting anyway",
                    project_id=str(project_id),
                    pid=record.pid,
                )
        finally:
            os.close(pidfd)

    def _forget(self, project_id: UUID, record: RunnerRecord, noticed_by: str) -> None:
        self._last_active.pop(project_id, None)
        if self._running.pop(project_id, None) is not None:
            log.warning(
                "project daemon is gone",
                project_id=str(project_id),
                pid=record.pid,
                noticed_by=noticed_by,
                log_tail=tail_of(self.log_path(project_id), 500),
            )

    # --- finding -----------------------------------------------------------------------

    def _find_running(self, project_id: UUID) -> _Running | None:
        """A daemon recorded in the state file that still runs and has an address."""
        record = self._read_record(project_id)
        if record is None or record.pid is None or not self._verified(project_id, record):
            return None
        address = self._read_address(self.home(project_id), record.uid)
        if address is None:
            return None
        log.info("project found running", project_id=str(project_id), pid=record.pid)
        return _Running(record, address)

    def _verified(self, project_id: UUID, record: RunnerRecord) -> bool:
        """Is `record.pid` still the daemon we started for this project's HOME?"""
        pid = record.pid
        if pid is None or record.start_ticks is None or not _alive(record):
            return False
        cmdline = proc_cmdline(pid)
        if cmdline is None or cmdline[1:] != self.daemon_argv(self.home(project_id))[1:]:
            return False
        return record.uid in proc_uids(pid)

    def _open_verified(self, project_id: UUID, record: RunnerRecord) -> int | None:
        """A pidfd for the recorded daemon, checked after opening (so it cannot be reused)."""
        assert record.pid is not None
        try:
            pidfd = os.pidfd_open(record.pid)
        except (ProcessLookupError, OSError):
            return None
        if self._verified(project_id, record):
            return pidfd
        os.close(pidfd)
        return None

    def _read_address(
        self, home: Path, uid: int, not_identity: SmallFile | None = None
    ) -> ProjectAddress | None:
        port_file = read_project_file(home, PORT_FILE, uid)
        if port_file is None:
            return None
        if not_identity is not None and port_file.identity == not_identity.identity:
            return None  # still the file of an earlier run
        token_file = read_project_file(home, TOKEN_FILE, uid)
        if token_file is None:
            return None
        try:
            port = int(port_file.data.strip())
            token = token_file.data.decode("ascii").strip()
        except (ValueError, UnicodeDecodeError):
            return None
        if not 0 < port < 65536 or not token:
            return None
        return ProjectAddress(self._connect_host, port, token)

    # --- files -------------------------------------------------------------------------

    def _prepare_dirs(self) -> None:
        if self._dirs_ready:
            return
        self.projects_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.projects_dir, 0o711)
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.state_dir, 0o700)
        if self.isolated:
            for parent in self.projects_dir.parents:
                if not os.stat(parent).st_mode & stat.S_IXOTH:
                    log.error(
                        "project users cannot reach the projects directory",
                        directory=str(parent),
                    )
                    break
        self._dirs_ready = True

    def _read_record(self, project_id: UUID) -> RunnerRecord | None:
        try:
            raw = self.state_path(project_id).read_bytes()
        except FileNotFoundError:
            return None
        try:
            record = _record_decoder.decode(raw)
        except msgspec.DecodeError:
            log.warning("unreadable runner state file", project_id=str(project_id))
            return None
        if record.project_id != str(project_id):
            return None
        return record

    def _write_record(self, record: RunnerRecord) -> None:
        path = self.state_dir / f"{record.project_id}.json"
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            os.write(fd, _record_encoder.encode(record))
        finally:
            os.close(fd)
        os.replace(tmp, path)

    def _open_log(self, project_id: UUID) -> int:
        path = self.log_path(project_id)
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_size > self._log_max_bytes:
                os.replace(path, path.with_name(path.name + ".1"))
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
        return os.open(path, flags, 0o600)

    @contextlib.asynccontextmanager
    async def _project_lock(self, project_id: UUID, deadline: float) -> AsyncIterator[None]:
        """An flock on `<state_dir>/<id>.lock`: one starter or stopper across hub processes."""
        self._prepare_dirs()
        path = self.state_dir / f"{project_id}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise Timeout(
                            f"project {project_id} is being started or stopped elsewhere"
                        ) from None
                    await asyncio.sleep(0.02)
            yield
        finally:
            os.close(fd)


_record_encoder = msgspec.json.Encoder()
_record_decoder = msgspec.json.Decoder(RunnerRecord)


def _stopped(record: RunnerRecord) -> RunnerRecord:
    return RunnerRecord(
        project_id=record.project_id,
        home=record.home,
        uid=record.uid,
        gid=record.gid,
        stopped_at=time.time(),
    )


def _utc(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def _prepare_home(home: Path, user: UnixUser) -> None:
    """Create HOME (0700) or check it: a real directory, owned by the project's user."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(home, 0o700)
    fd = os.open(home, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if (st.st_uid, st.st_gid) != (user.uid, user.gid):
            os.fchown(fd, user.uid, user.gid)
        if stat.S_IMODE(st.st_mode) != 0o700:
            os.fchmod(fd, 0o700)
    finally:
        os.close(fd)


def _alive(record: RunnerRecord) -> bool:
    return record.pid is not None and start_ticks(record.pid) == record.start_ticks
