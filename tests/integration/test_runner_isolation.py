"""Each project as its own Unix user: what one project's processes cannot reach.

Needs root (the hub creates users and starts daemons under them); skipped otherwise.
Every user and process made here is removed in `finally` blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hub.local_hub.runner import LocalProcessRunner
from hub.local_hub.unix_users import ProjectUsers, UnixUser, lookup, project_user_name
from tests.fixtures.timeouts import eventually, seconds
from tests.integration.test_runner_support import (
    handshake,
    is_running,
    kill_daemons_under,
)

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="project isolation needs root: the runner creates Unix users"
)


# --- an interpreter the project users can run ---------------------------------------------


@dataclass(frozen=True)
class ProjectPython:
    python: str
    env: dict[str, str]


def _reachable_by_others(path: Path) -> bool:
    """Can a user with no relation to the owner reach (and read) `path`?"""
    path = path.resolve()
    for parent in path.parents:
        if not os.stat(parent).st_mode & stat.S_IXOTH:
            return False
    return bool(os.stat(path).st_mode & stat.S_IROTH)


def _imported_roots() -> list[Path]:
    """Files and packages outside the standard library that the daemon imports."""
    code = (
        "import sys, hub.local_hub.daemon.server, hub.local_hub.__main__\n"
        "try:\n    import uvloop\nexcept ImportError:\n    pass\n"
        "import sysconfig\n"
        "std = sysconfig.get_paths()['stdlib']\n"
        "for m in list(sys.modules.values()):\n"
        "    f = getattr(m, '__file__', None)\n"
        "    if f and not f.startswith(std): print(f)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    roots: set[Path] = set()
    for line in out.splitlines():
        path = Path(line)
        for parent in path.parents:
            if parent.name == "site-packages" or (parent / "pyproject.toml").exists():
                top = path.relative_to(parent).parts[0]
                roots.add(parent / top)
                # wheels repaired by auditwheel keep their shared libraries beside the
                # package (pyzmq.libs/ for zmq), found through a relative rpath
                roots.update(parent.glob("*.libs"))
                break
    return sorted(roots)


def _project_python(base: Path) -> ProjectPython | None:
    """This interpreter if other users can run it with our packages; else the system one
    of the same version with a readable copy of what the daemon imports; else None."""
    roots = _imported_roots()
    if _reachable_by_others(Path(sys.executable)) and all(map(_reachable_by_others, roots)):
        return ProjectPython(sys.executable, {})
    system = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    if not system.exists() or not _reachable_by_others(system):
        return None
    lib = base / "pylib"
    lib.mkdir(mode=0o755)
    for root in roots:
        target = lib / root.name
        if root.is_dir():
            shutil.copytree(root, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(root, target)
    for path in [lib, *lib.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return ProjectPython(str(system), {"PYTHONPATH": str(lib)})


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def project_python() -> Iterator[ProjectPython | None]:
    base = Path(tempfile.mkdtemp(prefix="hub-runner-python-"))
    base.chmod(0o755)
    try:
        yield _project_python(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A hub data directory project users can pass through (pytest's tmp_path may be 0700)."""
    base = Path(tempfile.mkdtemp(prefix="hub-runner-isolation-"))
    base.chmod(0o711)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
async def runner(
    data_dir: Path, project_python: ProjectPython | None
) -> AsyncIterator[LocalProcessRunner]:
    interpreter = project_python
    if interpreter is None:
        pytest.skip("no Python interpreter here that an unprivileged user can run")
    made = LocalProcessRunner(
        data_dir / "projects",
        data_dir / "runner",
        isolate_users=True,
        python=interpreter.python,
        env=interpreter.env,
        start_timeout_s=seconds(15),
        stop_grace_s=seconds(5),
    )
    assert made.isolated
    try:
        yield made
    finally:
        await made.close()
        await kill_daemons_under(made.projects_dir)
        users = ProjectUsers()
        for home in made.projects_dir.glob("*-*-*-*-*"):
            project_id = uuid.UUID(home.name)
            user = lookup(project_user_name(project_id))
            if user is not None:
                for pid in _processes_of(user.uid):  # only ever users this test created
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                await eventually(lambda u=user: not _processes_of(u.uid), 10)
            await users.delete(project_id)
            assert lookup(project_user_name(project_id)) is None


def _processes_of(uid: int) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.stat(f"/proc/{name}").st_uid == uid and is_running(int(name)):
                    found.append(int(name))
            except FileNotFoundError:
                pass
    return found


def _as(user: UnixUser, *argv: str) -> subprocess.CompletedProcess[str]:
    """Run a command with exactly the credentials of that project's daemon."""
    return subprocess.run(
        list(argv),
        user=user.uid,
        group=user.gid,
        extra_groups=[],
        umask=0o077,
        cwd="/",
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=seconds(10),
        check=False,
    )


def _credentials(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    pairs = (line.split(":", 1) for line in lines)
    return {key: value.strip() for key, value in pairs}


# --- tests ---------------------------------------------------------------------------------


async def test_each_project_runs_as_its_own_user(runner: LocalProcessRunner) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    address_a, address_b = await asyncio.gather(runner.address(a), runner.address(b))
    assert await handshake(address_a) == b"y"
    assert await handshake(address_b) == b"y"

    for project in (a, b):
        user = lookup(project_user_name(project))
        assert user is not None and user.uid != 0
        entry = pwd.getpwnam(user.name)
        assert entry.pw_shell == "/usr/sbin/nologin"
        assert entry.pw_dir == str(runner.home(project))
        home = runner.home(project).stat()
        assert (home.st_uid, home.st_gid, stat.S_IMODE(home.st_mode)) == (
            user.uid,
            user.gid,
            0o700,
        )
        pid = (await runner.status(project)).pid
        assert pid is not None
        creds = _credentials(pid)
        assert creds["Uid"].split() == [str(user.uid)] * 4
        assert creds["Gid"].split() == [str(user.gid)] * 4
        assert creds["Groups"] == ""
        assert creds["Umask"] == "0077"


async def test_one_project_cannot_reach_another_or_the_hub(
    runner: LocalProcessRunner, data_dir: Path
) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    await asyncio.gather(runner.address(a), runner.address(b))
    user_a = lookup(project_user_name(a))
    user_b = lookup(project_user_name(b))
    assert user_a is not None and user_b is not None
    pid_a = (await runner.status(a)).pid
    pid_b = (await runner.status(b)).pid
    home_a, home_b = runner.home(a), runner.home(b)

    shared = home_b / "notes.txt"
    shared.write_text("B's notes")
    os.chown(shared, user_b.uid, user_b.gid)
    shared.chmod(0o644)  # even a world-readable file is out of reach inside B's HOME
    hub_secret = data_dir / "hub-secret"
    hub_secret.write_text("the hub's own secret")
    hub_secret.chmod(0o600)

    # Positive controls: A reaches its own things, so the refusals below mean something.
    assert _as(user_a, "cat", str(home_a / ".smc" / "secret_token")).returncode == 0
    assert _as(user_a, "sh", "-c", f"kill -0 {pid_a}").returncode == 0
    assert _as(user_a, "test", "-x", str(runner.projects_dir)).returncode == 0

    refused = {
        "read B's file": _as(user_a, "cat", str(shared)),
        "read B's secret_token": _as(user_a, "cat", str(home_b / ".smc" / "secret_token")),
        "list B's HOME": _as(user_a, "ls", str(home_b)),
        "read the hub's data": _as(user_a, "cat", str(hub_secret)),
        "read the runner's state": _as(user_a, "cat", str(runner.state_path(b))),
        "list the runner's state": _as(user_a, "ls", str(runner.state_dir)),
        "list all projects": _as(user_a, "ls", str(runner.projects_dir)),
        "signal B's daemon": _as(user_a, "sh", "-c", f"kill -0 {pid_b}"),
        "write into B's HOME": _as(user_a, "touch", str(home_b / "planted")),
    }
    allowed = {what: r.stdout for what, r in refused.items() if r.returncode == 0}
    assert allowed == {}
    assert pid_b is not None and is_running(pid_b)
    assert not (home_b / "planted").exists()


async def test_stop_kills_every_process_of_the_project_user(runner: LocalProcessRunner) -> None:
    project, other = uuid.uuid4(), uuid.uuid4()
    await asyncio.gather(runner.address(project), runner.address(other))
    user = lookup(project_user_name(project))
    assert user is not None
    # A process that left the daemon's session: only the uid still ties it to the project.
    stray = subprocess.Popen(  # noqa: ASYNC220 - returns at once; waited for below
        ["sleep", "600"],
        user=user.uid,
        group=user.gid,
        extra_groups=[],
        start_new_session=True,
        cwd="/",
    )
    try:
        await runner.stop(project)
        assert stray.wait(timeout=seconds(5)) == -9
        assert _processes_of(user.uid) == []
        assert (await runner.status(other)).state == "running"
    finally:
        if stray.poll() is None:
            stray.kill()
            stray.wait()


async def test_a_symlinked_token_is_not_read_for_another_project(
    runner: LocalProcessRunner,
) -> None:
    """A project pointing its .smc files at another project's must not get the hub to
    read (and send) them."""
    a, b = uuid.uuid4(), uuid.uuid4()
    await asyncio.gather(runner.address(a), runner.address(b))
    user_a = lookup(project_user_name(a))
    assert user_a is not None
    token_b = (runner.home(b) / ".smc" / "secret_token").read_text().strip()
    smc_a = runner.home(a) / ".smc"
    for name in ("secret_token", "hub-server.port"):
        result = _as(user_a, "ln", "-sf", str(runner.home(b) / ".smc" / name), str(smc_a / name))
        assert result.returncode == 0, result.stderr

    fresh = LocalProcessRunner(
        runner.projects_dir, runner.state_dir, isolate_users=True, python=runner._python
    )
    try:
        status = await fresh.status(a)
        assert status.address is None or status.address.secret_token != token_b
        assert status.state == "starting"  # alive, but offers no address the hub trusts
    finally:
        await fresh.close()


async def test_users_are_created_once_and_deleted(data_dir: Path) -> None:
    users = ProjectUsers()
    project = uuid.uuid4()
    name = project_user_name(project)
    assert len(name) == 32 and name == "p" + project.hex[:31]
    try:
        made, again = await asyncio.gather(
            users.ensure(project, data_dir / "home"), users.ensure(project, data_dir / "home")
        )
        assert made == again == lookup(name)
        assert await users.delete(project)
        assert lookup(name) is None
        assert not await users.delete(project)
    finally:
        if lookup(name) is not None:
            await asyncio.to_thread(subprocess.run, ["userdel", name], check=False)
