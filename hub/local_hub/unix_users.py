"""One unprivileged Unix user per project, for the runner's isolation.

When the hub runs as root with isolation on, each project's local hub runs as its
own system user, named `p` + the first 31 hex digits of the project id (32
characters, the longest name `useradd` accepts), with a group of the same name
and no other groups. The user is created on demand:

    useradd --system --no-create-home --shell /usr/sbin/nologin \
            --home-dir HOME --user-group --comment "project <id>" NAME

Nothing here runs a project or touches its HOME; `runner.py` does that. The
functions that read the user database are plain lookups; the ones that change it
(`ensure`, `delete`) run `useradd`/`userdel` in a thread, one at a time per
`ProjectUsers`, and retry while another process holds the password-file lock.
"""

from __future__ import annotations

import asyncio
import grp
import os
import pwd
import subprocess
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import structlog

log = structlog.get_logger(__name__)

USER_PREFIX = "p"
NOLOGIN_SHELL = "/usr/sbin/nologin"

# useradd/userdel exit codes (shadow-utils): the user already exists / does not exist.
_USERADD_NAME_IN_USE = 9
_USERDEL_NO_USER = 6
_LOCK_RETRIES = 20


class UnixUserError(Exception):
    """`useradd` or `userdel` failed; the text carries their stderr."""


@dataclass(frozen=True, slots=True)
class UnixUser:
    name: str
    uid: int
    gid: int


def running_as_root() -> bool:
    return os.geteuid() == 0


def project_user_name(project_id: UUID) -> str:
    """`p` + the first 31 hex digits of the id: unique enough, and ≤ 32 characters."""
    return USER_PREFIX + project_id.hex[:31]


def lookup(name: str) -> UnixUser | None:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    return UnixUser(entry.pw_name, entry.pw_uid, entry.pw_gid)


def current_user() -> UnixUser:
    """The user the hub runs as (the projects' user when not isolating)."""
    uid = os.geteuid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = str(uid)
    return UnixUser(name, uid, os.getegid())


def useradd_argv(
    project_id: UUID, home: Path, uid_range: tuple[int, int] | None = None
) -> list[str]:
    """The `useradd` command for a project user; `uid_range` overrides the system range."""
    argv = [
        "useradd",
        "--system",
        "--no-create-home",
        "--shell",
        NOLOGIN_SHELL,
        "--home-dir",
        str(home),
        "--user-group",
    ]
    if uid_range is not None:
        low, high = uid_range
        for key in ("SYS_UID_MIN", "SYS_GID_MIN"):
            argv += ["-K", f"{key}={low}"]
        for key in ("SYS_UID_MAX", "SYS_GID_MAX"):
            argv += ["-K", f"{key}={high}"]
    return [*argv, "--comment", f"project {project_id}", project_user_name(project_id)]


class ProjectUsers:
    """Creates (on demand) and deletes the Unix users of projects.

    `uid_range` (inclusive) replaces the system uid/gid range `useradd --system`
    picks from; on Debian that range is 100-999, room for about 900 projects.
    """

    def __init__(
        self, *, uid_range: tuple[int, int] | None = None, command_timeout_s: float = 30.0
    ) -> None:
        self._uid_range = uid_range
        self._timeout_s = command_timeout_s
        self._lock = asyncio.Lock()

    async def ensure(self, project_id: UUID, home: Path) -> UnixUser:
        """The project's user, created with `useradd` when it does not exist yet."""
        name = project_user_name(project_id)
        user = lookup(name)
        if user is not None:
            return user
        async with self._lock:
            user = lookup(name)
            if user is not None:
                return user
            result = await self._run(useradd_argv(project_id, home, self._uid_range))
            user = lookup(name)
            if user is None:
                raise UnixUserError(
                    f"useradd {name} failed (exit {result.returncode}): {_text(result.stderr)}"
                )
            if result.returncode not in (0, _USERADD_NAME_IN_USE):
                log.warning("useradd complained", user=name, stderr=_text(result.stderr))
            log.info("project user created", user=name, uid=user.uid, project_id=str(project_id))
            return user

    async def delete(self, project_id: UUID) -> bool:
        """Remove the project's user and its group; True when a user was removed.

        The user must have no processes left (the runner's `stop` sees to that);
        its HOME is not touched.
        """
        name = project_user_name(project_id)
        async with self._lock:
            if lookup(name) is None:
                removed = False
            else:
                result = await self._run(["userdel", name])
                if result.returncode not in (0, _USERDEL_NO_USER) or lookup(name) is not None:
                    raise UnixUserError(
                        f"userdel {name} failed (exit {result.returncode}): {_text(result.stderr)}"
                    )
                removed = True
            if _group_exists(name):
                result = await self._run(["groupdel", name])
                if _group_exists(name):
                    raise UnixUserError(f"groupdel {name} failed: {_text(result.stderr)}")
        if removed:
            log.info("project user deleted", user=name, project_id=str(project_id))
        return removed

    async def _run(self, argv: list[str]) -> subprocess.CompletedProcess[bytes]:
        """Run a user-database command, retrying while another process holds its lock."""
        delay = 0.01
        for _ in range(_LOCK_RETRIES):
            result = await asyncio.to_thread(
                subprocess.run,
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=self._timeout_s,
                check=False,
            )
            if result.returncode == 0 or b"lock" not in result.stderr.lower():
                return result
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)
        return result


def _group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace").strip()[:500]
