"""Run quotas reach the runner: what users applied to a project changes how it runs.

A project's quotas are the defaults plus every user's upgrades, capped per
project (`hub.upgrades.quotas.project_quotas`). `QuotaApplier.apply(project_id)`
reads them and sets:

- the idle timeout (`mintime`): the runner's default plus the upgraded seconds;
  `always_running` means no idle stop at all (the project is not restarted after
  a crash, though);
- with `project_enforce_quotas` and a writable cgroup hierarchy (v1 `memory` and
  `cpu` controllers, or v2 with them delegated): the project's daemon, and so
  every process it starts, runs in `hub-projects/<project_id>` under the hub's own
  cgroup, with `memory` MB as the memory limit, `max(cores, cpu_shares/1024)` cores
  as the CPU limit (CFS quota) and `cpu_shares` as extra CPU weight.

Not enforced here: `disk_quota` (no per-project filesystem quota), `network`
(no network namespace per project: projects always have the network),
`memory_request` (nothing reserves memory), `member_host`, `ephemeral_*`.

It runs when a project starts (the runner's `on_spawned`, before the daemon runs
any command it is placed in its groups with the last known quotas, then the
fresh ones are read) and when any project's `users` change (the change log, so a
change made through another hub or by SQL counts too).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import structlog

from hub.db import licenses as license_table
from hub.errors import HubError
from hub.upgrades import quotas

log = structlog.get_logger()

GROUP_DIR = "hub-projects"
CFS_PERIOD_US = 100_000


def _own_paths(proc_cgroup: Path) -> dict[str, str]:
    """controller -> this process's cgroup path ("" names the v2 unified one)."""
    out: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in proc_cgroup.read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for c in controllers.split(","):
                out[c] = path
    return out


class CgroupLimits:
    """Per-project memory and cpu groups, nested under the hub's own cgroup."""

    def __init__(
        self, root: Path = Path("/sys/fs/cgroup"), proc_cgroup: Path = Path("/proc/self/cgroup")
    ) -> None:
        self.mechanism = "none"
        self._memory: Path | None = None
        self._cpu: Path | None = None
        self._v2 = False
        own = _own_paths(proc_cgroup)
        try:
            if (root / "memory" / "cgroup.procs").exists() and "memory" in own:
                self._memory = self._make(root / "memory" / own["memory"].lstrip("/"))
                if (root / "cpu" / "cgroup.procs").exists() and "cpu" in own:
                    self._cpu = self._make(root / "cpu" / own["cpu"].lstrip("/"))
                self.mechanism = "cgroup v1"
            elif "memory" in _read(root / "cgroup.controllers").split() and "" in own:
                parent = root / own[""].lstrip("/")
                base = self._make(parent)
                (base / "cgroup.subtree_control").write_text("+memory +cpu")
                self._memory = self._cpu = base
                self._v2 = True
                self.mechanism = "cgroup v2"
        except OSError as exc:
            self._memory = self._cpu = None
            self.mechanism = "none"
            log.warning("no memory/cpu cgroups for projects: quotas not enforced", error=str(exc))

    @staticmethod
    def _make(parent: Path) -> Path:
        base = parent / GROUP_DIR
        base.mkdir(exist_ok=True)
        for old in base.iterdir():  # groups of projects that stopped unseen: empty ones go
            if old.is_dir():
                with contextlib.suppress(OSError):
                    old.rmdir()
        return base

    @property
    def available(self) -> bool:
        return self._memory is not None

    def group(self, controller: str, project_id: UUID) -> Path | None:
        base = self._memory if controller == "memory" else self._cpu
        return None if base is None else base / str(project_id)

    def place(self, project_id: UUID, pid: int, q: dict[str, float]) -> None:
        """Put the daemon `pid` in the project's groups, limits first."""
        self.set_limits(project_id, q)
        for controller in ("memory", "cpu") if not self._v2 else ("memory",):
            group = self.group(controller, project_id)
            if group is not None:
                try:
                    (group / "cgroup.procs").write_text(str(pid))
                except OSError as exc:
                    log.warning("cannot place project in cgroup", error=str(exc), pid=pid)

    def set_limits(self, project_id: UUID, q: dict[str, float]) -> None:
        memory = int(q["memory"]) * 1024 * 1024
        cores = max(q["cores"], q["cpu_shares"] / 1024)
        quota_us = max(1000, int(cores * CFS_PERIOD_US))
        try:
            mem = self.group("memory", project_id)
            if mem is not None:
                mem.mkdir(exist_ok=True)
                if self._v2:
                    (mem / "memory.max").write_text(str(memory))
                    (mem / "cpu.max").write_text(f"{quota_us} {CFS_PERIOD_US}")
                    weight = min(10000, 100 + int(q["cpu_shares"] * 100 / 1024))
                    (mem / "cpu.weight").write_text(str(weight))
                else:
                    (mem / "memory.limit_in_bytes").write_text(str(memory))
            cpu = self.group("cpu", project_id)
            if cpu is not None and not self._v2:
                cpu.mkdir(exist_ok=True)
                (cpu / "cpu.cfs_period_us").write_text(str(CFS_PERIOD_US))
                (cpu / "cpu.cfs_quota_us").write_text(str(quota_us))
                (cpu / "cpu.shares").write_text(str(1024 + int(q["cpu_shares"])))
        except OSError as exc:
            # e.g. lowering memory below what the project uses now: the kernel refuses
            log.warning(
                "cannot set project cgroup limits", project_id=str(project_id), error=str(exc)
            )

    def release(self, project_id: UUID) -> None:
        for controller in ("memory", "cpu"):
            group = self.group(controller, project_id)
            if group is not None:
                with contextlib.suppress(OSError):
                    group.rmdir()


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def idle_timeout(default_s: float, applied: list[quotas.Upgrades]) -> float | None:
    """The runner's idle timeout for a project with these upgrades (None: the default)."""
    total = quotas.add(*applied)
    if total.get("always_running", 0) >= 1:
        return math.inf
    extra = min(total.get("mintime", 0), quotas.MAX_PER_PROJECT["mintime"])
    return default_s + extra if extra > 0 else None


class QuotaApplier:
    def __init__(
        self, db: Any, runner: Any, default_idle_s: float, cgroups: CgroupLimits | None
    ) -> None:
        self.db = db
        self.runner = runner
        self.default_idle_s = default_idle_s
        self.cgroups = cgroups if cgroups is not None and cgroups.available else None
        self.known: dict[UUID, dict[str, float]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsubscribe: Callable[[], None] | None = None

    def install(self, change_log: Any) -> None:
        """Follow starts (when the runner tells them) and changes of projects.users."""
        self._loop = asyncio.get_running_loop()
        spawned = getattr(self.runner, "on_spawned", None)
        if isinstance(spawned, list):
            spawned.append(self.on_spawned)
        stopped = getattr(self.runner, "on_stopped", None)
        if isinstance(stopped, list) and self.cgroups is not None:
            stopped.append(self.cgroups.release)
        if change_log is not None:
            self._unsubscribe = change_log.subscribe("projects", self.on_change)
        self._schedule(None)

    async def apply_all(self) -> int:
        """Apply the quotas of every project with upgrades (at start: projects an
        earlier hub process started keep running with their idle timeouts)."""
        rows = await self.db.fetch(
            "SELECT project_id FROM projects WHERE NOT deleted AND EXISTS"
            " (SELECT 1 FROM jsonb_each(users) u WHERE jsonb_typeof(u.value) = 'object'"
            " AND u.value ? 'upgrades')"
        )
        for row in rows:
            await self.apply(row["project_id"])
        return len(rows)

    async def apply(self, project_id: UUID) -> dict[str, float] | None:
        applied = await license_table.project_upgrades(self.db, project_id)
        if applied is None:
            return None
        q = quotas.project_quotas(applied)
        self.known[project_id] = q
        self.runner.set_idle_timeout(project_id, idle_timeout(self.default_idle_s, applied))
        if self.cgroups is not None:
            await asyncio.to_thread(self.cgroups.set_limits, project_id, q)
        return q

    def on_spawned(self, project_id: UUID, pid: int) -> None:
        """In the runner's start thread: groups first, then the fresh quotas."""
        if self.cgroups is not None:
            q = self.known.get(project_id) or quotas.project_quotas([])
            self.cgroups.place(project_id, pid, q)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._schedule, project_id)

    def on_change(self, change: Any) -> None:
        old = _upgrades_of(change.old_val)
        new = _upgrades_of(change.new_val)
        if old != new and change.new_val is not None:
            with contextlib.suppress(KeyError, ValueError, TypeError):
                self._schedule(UUID(str(change.new_val["project_id"])))

    def _schedule(self, project_id: UUID | None) -> None:
        task = asyncio.get_running_loop().create_task(self._apply_quietly(project_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _apply_quietly(self, project_id: UUID | None) -> None:
        """One project (None: all with upgrades), logging instead of raising."""
        try:
            if project_id is None:
                await self.apply_all()
            else:
                await self.apply(project_id)
        except HubError as exc:  # database down: the next change or start applies them
            log.warning("cannot apply project quotas", project_id=str(project_id), error=exc.text)
        except Exception:
            log.exception("applying project quotas failed", project_id=str(project_id))

    async def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        for hooks, fn in (
            (getattr(self.runner, "on_spawned", None), self.on_spawned),
            (getattr(self.runner, "on_stopped", None), self.cgroups and self.cgroups.release),
        ):
            if isinstance(hooks, list) and fn in hooks:
                hooks.remove(fn)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _upgrades_of(row: dict[str, Any] | None) -> list[Any]:
    users = (row or {}).get("users") or {}
    if not isinstance(users, dict):
        return []
    return sorted((str(k), v.get("upgrades")) for k, v in users.items() if isinstance(v, dict))
