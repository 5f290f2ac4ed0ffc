"""A cap on the number of processes one project may run, so a fork bomb stays inside it.

Two ways, the first that works on this machine:

- a `pids` cgroup per project (cgroup v2, or v1's `pids` hierarchy) under
  `<cgroup>/hub-projects/<project_id>`: the runner writes the daemon's pid into
  it right after the start, before any command runs, and every process the
  project starts is counted against `pids.max`;
- `RLIMIT_NPROC` on the daemon when projects run as their own Unix users (the
  kernel counts it per user, which then means per project; it does not bind root).

Neither works for projects that run as root on a machine without a writable
cgroup hierarchy: then the limit is off and the hub says so once at start.
"""

from __future__ import annotations

import contextlib
import resource
from pathlib import Path
from typing import Literal
from uuid import UUID

import structlog

log = structlog.get_logger()

Mechanism = Literal["cgroup", "rlimit", "none"]
GROUP_DIR = "hub-projects"


def _pids_hierarchy(root: Path) -> Path | None:
    """Where pids cgroups can be made under `root`, or None."""
    v1 = root / "pids"
    if (v1 / "cgroup.procs").exists():
        return v1
    controllers = root / "cgroup.controllers"
    with contextlib.suppress(OSError):
        if "pids" in controllers.read_text().split():
            return root
    return None


class ProcessLimit:
    def __init__(
        self, max_processes: int, *, isolated: bool, cgroup_root: Path = Path("/sys/fs/cgroup")
    ) -> None:
        self.max_processes = max_processes
        self._base: Path | None = None
        self.mechanism: Mechanism = "none"
        if max_processes <= 0:
            return
        hierarchy = _pids_hierarchy(cgroup_root)
        if hierarchy is not None:
            try:
                base = hierarchy / GROUP_DIR
                base.mkdir(exist_ok=True)
                if (hierarchy / "cgroup.subtree_control").exists():  # v2: delegate pids down
                    (hierarchy / "cgroup.subtree_control").write_text("+pids")
                    (base / "cgroup.subtree_control").write_text("+pids")
                self._base = base
                self.mechanism = "cgroup"
            except OSError as exc:
                log.info("no pids cgroup for projects", reason=str(exc))
        if self._base is None:
            self.mechanism = "rlimit" if isolated else "none"
        if self.mechanism == "none":
            log.warning(
                "projects run as root without a writable pids cgroup: the per-project"
                " process limit is not enforced",
                max_processes=max_processes,
            )

    def apply(self, project_id: UUID, pid: int) -> Mechanism:
        """Cap the project whose daemon is `pid` (call before it starts any command)."""
        if self._base is not None:
            group = self._base / str(project_id)
            try:
                group.mkdir(exist_ok=True)
                (group / "pids.max").write_text(str(self.max_processes))
                (group / "cgroup.procs").write_text(str(pid))
                return "cgroup"
            except OSError as exc:
                log.warning("cannot cap the project's processes", error=str(exc), pid=pid)
                return "none"
        if self.mechanism == "rlimit":
            limit = (self.max_processes, self.max_processes)
            with contextlib.suppress(OSError):
                resource.prlimit(pid, resource.RLIMIT_NPROC, limit)
                return "rlimit"
        return "none"

    def count(self, project_id: UUID) -> int | None:
        """Processes the project runs now (cgroup only)."""
        if self._base is None:
            return None
        try:
            return int((self._base / str(project_id) / "pids.current").read_text())
        except (OSError, ValueError):
            return None

    def release(self, project_id: UUID) -> None:
        """Remove the project's group once it is empty (after its daemon stopped)."""
        if self._base is not None:
            with contextlib.suppress(OSError):
                (self._base / str(project_id)).rmdir()
