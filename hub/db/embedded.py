"""The embedded PostgreSQL: a server from the `pgserver` wheel, run under `<data_dir>/postgres`.

`EmbeddedPostgres.start(data_dir)` initialises the cluster the first time, starts
the server (or re-attaches to one that is already running on that directory, e.g.
left over by a hub that crashed) and returns a DSN for asyncpg. `stop()` stops the
server when no other `EmbeddedPostgres` (in this or another process) still uses it.

We use the binaries `pgserver` ships but drive `initdb` and `pg_ctl` ourselves,
because `pgserver.get_server()` does things a server should not:

* as root it makes every parent directory of the data directory, and the socket
  fallback under `/run/user/0`, readable by everyone (we add only the search bit
  `o+x`, and only where the `pgserver` user lacks it);
* it runs postgres with root's group (we drop to the user's own group);
* it keeps holders in a JSON file of pids, so a crashed process can keep the
  server from ever being stopped (we hold a shared `flock` instead, which the
  kernel releases when a process dies).

Rules that follow from PostgreSQL itself:

* `initdb`, `pg_ctl` and `postgres` refuse to run as root, so a root hub runs them
  as the system user `pgserver` (created if missing, as `pgserver` does), and the
  data directory belongs to that user with mode 0700.
* A Unix socket path is limited to 107 bytes. The socket lives in the data
  directory when that is short enough, else in `/tmp/hub-pg-<hash of the data
  directory>` (mode 0700). The DSN is the same on every start, so a `Database`
  reconnects after a restart by itself.
* The server listens on no TCP address; local connections are trusted, and only
  the server's user (and root) can reach the socket.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import os
import pwd
import re
import shlex
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import quote

import structlog

log = structlog.get_logger(__name__)

SYSTEM_USER = "pgserver"
"""The system user a root hub runs PostgreSQL as (the same one `pgserver` uses)."""

SUPERUSER = "postgres"
PORT = 5432  # no TCP listener; the number only names the socket file `.s.PGSQL.5432`
SOCKET_PATH_MAX = 107  # sizeof(sockaddr_un.sun_path) - 1 on Linux
_SAFE_PATH = re.compile(r"^[A-Za-z0-9_./-]+$")
_SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")

# Server settings for every embedded server; a week of rotating logs in pgdata/log.
_BASE_SETTINGS: dict[str, str] = {
    "listen_addresses": "",
    "port": str(PORT),
    "unix_socket_permissions": "0700",
    "logging_collector": "on",
    "log_directory": "log",
    "log_filename": "postgresql-%a.log",
    "log_rotation_age": "1d",
    "log_rotation_size": "0",
    "log_truncate_on_rotation": "on",
}
# For throw-away servers (tests): no fsync, so a crash of the machine may lose data.
_NON_DURABLE_SETTINGS: dict[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}


def postgres_bin_dir() -> Path:
    """Where the `pgserver` wheel keeps `initdb`, `pg_ctl` and `postgres`."""
    # Not imported: importing pgserver warns when XDG_RUNTIME_DIR is unset.
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the pgserver package is not installed")
    return Path(next(iter(spec.submodule_search_locations))).resolve() / "pginstall" / "bin"


@dataclass(frozen=True, slots=True)
class _RunAs:
    """The account PostgreSQL's programs run as: None for ourselves, else a system user."""

    uid: int
    gid: int


@dataclass(frozen=True, slots=True)
class _Postmaster:
    """What `postmaster.pid` says about a server."""

    pid: int
    port: int
    socket_dir: str
    status: str


class EmbeddedPostgres:
    """One PostgreSQL server under `<data_dir>/postgres`; sync API (call it in a thread).

    `durable=False` turns off fsync and friends: fast, and only for throw-away
    servers such as the tests'. `server_settings` are extra `postgres -c` settings.
    """

    def __init__(
        self,
        *,
        durable: bool = True,
        server_settings: Mapping[str, str] | None = None,
        start_timeout_s: float = 60.0,
    ) -> None:
        self._durable = durable
        self._extra_settings = dict(server_settings or {})
        for name in self._extra_settings:
            if not _SETTING_NAME.match(name):
                raise ValueError(f"not a PostgreSQL setting name: {name!r}")
        self._start_timeout_s = start_timeout_s
        self._data_dir: Path | None = None
        self._holder: IO[bytes] | None = None
        self._dsn_host = ""
        self._dsn_port = PORT
        self.started_server = False
        """True when `start()` launched the server, False when it re-attached."""

    # --- public ------------------------------------------------------------------

    @property
    def pgdata(self) -> Path:
        if self._data_dir is None:
            raise RuntimeError("EmbeddedPostgres is not started")
        return self._data_dir / "postgres"

    @property
    def dsn(self) -> str:
        return self.dsn_for(SUPERUSER)

    def dsn_for(self, database: str) -> str:
        """The DSN of `database` on this server (the server must be started)."""
        if self._holder is None:
            raise RuntimeError("EmbeddedPostgres is not started")
        return (
            f"postgresql://{SUPERUSER}@/{quote(database, safe='')}"
            f"?host={quote(self._dsn_host, safe='')}&port={self._dsn_port}"
        )

    def start(self, data_dir: Path) -> str:
        """Start (or re-attach to) the server under `<data_dir>/postgres`; return its DSN."""
        if self._holder is not None:
            raise RuntimeError("EmbeddedPostgres is already started")
        data_dir = Path(data_dir).expanduser().resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
        run_as = _system_user()
        t0 = time.monotonic()
        with _locked(data_dir / ".postgres.lock"):
            pgdata = data_dir / "postgres"
            if run_as is not None:
                _grant_search(data_dir, run_as)
                _grant_binaries(postgres_bin_dir(), run_as)
            if not (pgdata / "PG_VERSION").exists():
                self._initdb(data_dir, pgdata, run_as)
            info = self._wait_for_running(pgdata)
            if info is None:
                info = self._start_server(pgdata, run_as)
                self.started_server = True
            else:
                self.started_server = False
            holder = (data_dir / ".postgres.users").open("ab")
            fcntl.flock(holder.fileno(), fcntl.LOCK_SH)
            self._holder = holder
        self._data_dir = data_dir
        self._dsn_host = info.socket_dir or "localhost"
        self._dsn_port = info.port
        log.info(
            "embedded postgres started" if self.started_server else "embedded postgres attached",
            pgdata=str(pgdata),
            pid=info.pid,
            elapsed_s=round(time.monotonic() - t0, 3),
        )
        return self.dsn

    def stop(self) -> None:
        """Stop the server, unless another holder (this process or another) still uses it."""
        holder, data_dir = self._holder, self._data_dir
        if holder is None or data_dir is None:
            return
        try:
            with _locked(data_dir / ".postgres.lock"):
                try:
                    fcntl.flock(holder.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    last = True
                except BlockingIOError:
                    last = False
                if last:
                    self._stop_server(data_dir / "postgres", _system_user())
                else:
                    log.info("embedded postgres left running for its other users")
        finally:
            holder.close()
            self._holder = None

    # --- steps ---------------------------------------------------------------------

    def _initdb(self, data_dir: Path, pgdata: Path, run_as: _RunAs | None) -> None:
        """Initialise a new cluster in a staging directory, then move it into place."""
        if pgdata.exists():
            if any(pgdata.iterdir()):
                raise RuntimeError(
                    f"{pgdata} exists but is not a PostgreSQL data directory (no PG_VERSION)"
                )
            pgdata.rmdir()
        staging = data_dir / ".postgres.initdb"
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(mode=0o700)
        if run_as is not None:
            os.chown(staging, run_as.uid, run_as.gid)
        args = [
            "-D",
            str(staging),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
            "--no-instructions",
        ]
        if not self._durable:
            args.append("--no-sync")
        t0 = time.monotonic()
        _run("initdb", args, run_as, timeout=self._start_timeout_s * 2)
        staging.rename(pgdata)
        log.info("embedded postgres initialised", pgdata=str(pgdata), elapsed_s=_since(t0))

    def _wait_for_running(self, pgdata: Path) -> _Postmaster | None:
        """The server already running on `pgdata` once it is ready, or None if there is none."""
        deadline = time.monotonic() + self._start_timeout_s
        while True:
            info = _read_postmaster(pgdata)
            if info is None or not _is_postgres(info.pid):
                return None
            if info.status == "ready":
                return info
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"a PostgreSQL server (pid {info.pid}) on {pgdata} stays {info.status!r}"
                )
            time.sleep(0.05)

    def _start_server(self, pgdata: Path, run_as: _RunAs | None) -> _Postmaster:
        socket_dir = _socket_dir(pgdata, run_as)
        settings = dict(_BASE_SETTINGS)
        settings["unix_socket_directories"] = str(socket_dir)
        if not self._durable:
            settings.update(_NON_DURABLE_SETTINGS)
        settings.update(self._extra_settings)
        options = " ".join(f"-c {shlex.quote(f'{k}={v}')}" for k, v in settings.items())
        # pg_ctl runs postgres through /bin/sh, hence the quoting of each -c word.
        timeout = self._start_timeout_s
        args = ["-D", str(pgdata), "-w", "-t", str(max(1, round(timeout)))]
        args += ["-l", str(pgdata / "startup.log"), "-o", options, "start"]
        try:
            _run("pg_ctl", args, run_as, timeout=timeout + 10)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n{_tail(pgdata / 'startup.log')}") from None
        info = _read_postmaster(pgdata)
        if info is None or info.status != "ready":
            raise RuntimeError(f"PostgreSQL on {pgdata} did not report ready: {info}")
        return info

    def _stop_server(self, pgdata: Path, run_as: _RunAs | None) -> None:
        info = _read_postmaster(pgdata)
        if info is None or not _is_postgres(info.pid):
            log.info("embedded postgres was not running", pgdata=str(pgdata))
            return
        timeout = self._start_timeout_s
        t0 = time.monotonic()
        args = ["-D", str(pgdata), "-w", "-t", str(max(1, round(timeout))), "-m", "fast", "stop"]
        try:
            _run("pg_ctl", args, run_as, timeout=timeout + 10)
        except RuntimeError:
            if _is_postgres(info.pid):
                raise
        socket_dir = Path(info.socket_dir)
        if socket_dir.name.startswith("hub-pg-") and socket_dir != pgdata:
            with contextlib.suppress(OSError):
                socket_dir.rmdir()  # our private socket directory in /tmp
        log.info("embedded postgres stopped", pgdata=str(pgdata), elapsed_s=_since(t0))


# --- helpers -------------------------------------------------------------------------


def _since(t0: float) -> float:
    return round(time.monotonic() - t0, 3)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive `flock` on `path` (serialises start and stop on one data dir)."""
    with path.open("ab") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _system_user() -> _RunAs | None:
    """None when we are not root; else the `pgserver` user, created if missing."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        log.info("creating system user for postgres", user=SYSTEM_USER)
        subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home", "--shell",
             "/usr/sbin/nologin", SYSTEM_USER],
            check=True,
            capture_output=True,
        )  # fmt: skip
        entry = pwd.getpwnam(SYSTEM_USER)
    return _RunAs(uid=entry.pw_uid, gid=entry.pw_gid)


def _can_search(st: os.stat_result, run_as: _RunAs) -> bool:
    if st.st_uid == run_as.uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid == run_as.gid:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def _grant_search(path: Path, run_as: _RunAs) -> None:
    """Let `run_as` reach `path`: add the search bit `o+x` on each directory that lacks it."""
    for directory in [path, *path.parents]:
        st = directory.stat()
        if not _can_search(st, run_as):
            directory.chmod(stat.S_IMODE(st.st_mode) | stat.S_IXOTH)
            log.warning("made directory searchable for postgres", path=str(directory))


def _grant_binaries(bin_dir: Path, run_as: _RunAs) -> None:
    """Let `run_as` run the wheel's binaries (installs usually allow it already)."""
    _grant_search(bin_dir, run_as)
    if (bin_dir / "postgres").stat().st_mode & stat.S_IXOTH:
        return
    for root, dirs, files in os.walk(bin_dir.parent):
        for name in dirs:
            p = Path(root, name)
            p.chmod(stat.S_IMODE(p.stat().st_mode) | 0o055)
        for name in files:
            p = Path(root, name)
            mode = stat.S_IMODE(p.stat().st_mode)
            p.chmod(mode | 0o044 | (0o011 if mode & stat.S_IXUSR else 0))
    log.warning("made postgres binaries readable for all", path=str(bin_dir.parent))


def _socket_dir(pgdata: Path, run_as: _RunAs | None) -> Path:
    """The data directory if its socket path fits, else a private directory in /tmp."""
    if _fits(pgdata):
        return pgdata
    digest = hashlib.sha256(str(pgdata).encode()).hexdigest()[:12]
    for base in (Path(tempfile.gettempdir()), Path("/tmp")):
        candidate = base / f"hub-pg-{digest}"
        if _fits(candidate):
            break
    else:
        raise RuntimeError(f"no short enough directory for the socket of {pgdata}")
    with contextlib.suppress(FileExistsError):
        candidate.mkdir(mode=0o700)
    st = candidate.lstat()
    owner = os.geteuid() if run_as is None else run_as.uid
    if not stat.S_ISDIR(st.st_mode) or st.st_uid not in (owner, os.geteuid()):
        raise RuntimeError(f"{candidate} exists and is not a directory of ours; remove it")
    if run_as is not None:
        os.chown(candidate, run_as.uid, run_as.gid)
    candidate.chmod(0o700)
    return candidate


def _fits(directory: Path) -> bool:
    path = str(directory / f".s.PGSQL.{PORT}")
    return bool(_SAFE_PATH.match(path)) and len(os.fsencode(path)) <= SOCKET_PATH_MAX


def _read_postmaster(pgdata: Path) -> _Postmaster | None:
    """Parse `postmaster.pid` (pid, data dir, start, port, socket dir, address, shm, status)."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except (FileNotFoundError, PermissionError):
        return None
    try:
        return _Postmaster(
            pid=int(lines[0]),
            port=int(lines[3]) if len(lines) > 3 and lines[3].strip() else PORT,
            socket_dir=lines[4].strip() if len(lines) > 4 else "",
            status=lines[7].strip() if len(lines) > 7 else "starting",
        )
    except (IndexError, ValueError):
        return None  # being written; the caller looks again or starts the server


def _is_postgres(pid: int) -> bool:
    """Whether `pid` is alive and is a postgres process (not a reused pid)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return not Path("/proc/self").exists()  # no /proc: trust kill()
    except PermissionError:
        return True
    return b"postgres" in cmdline


def _run(program: str, args: list[str], run_as: _RunAs | None, *, timeout: float) -> None:
    """Run one of PostgreSQL's programs, as `run_as`; raise RuntimeError with its output."""
    cmd = [str(postgres_bin_dir() / program), *args]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    # Files, not pipes: a server started by pg_ctl must not hold our pipe open.
    with tempfile.TemporaryFile() as out:
        try:
            if run_as is None:
                result = subprocess.run(
                    cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                    env=env, cwd="/", timeout=timeout, check=False,
                )  # fmt: skip
            else:
                result = subprocess.run(
                    cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                    env=env, cwd="/", timeout=timeout, check=False,
                    user=run_as.uid, group=run_as.gid, extra_groups=[],
                )  # fmt: skip
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"{program} timed out after {timeout:.0f} s") from None
        if result.returncode != 0:
            out.seek(0)
            text = out.read().decode(errors="replace").strip()
            raise RuntimeError(f"{program} failed (exit {result.returncode}): {text}")


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
