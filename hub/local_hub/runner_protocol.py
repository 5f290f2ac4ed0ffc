"""What the hub needs from whatever runs projects: the `ProjectRunner` protocol and
the values it deals in. The default implementation is `runner.LocalProcessRunner`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol
from uuid import UUID

from hub.errors import HubError

State = Literal["running", "stopped", "starting"]


@dataclass(frozen=True, slots=True)
class ProjectAddress:
    """Where a project's local hub listens, and the token it expects first."""

    host: str
    port: int
    secret_token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class ProjectStatus:
    """What a runner knows of a project right now.

    `since` is when the project entered `state`, when known (None for a project
    that never ran here, or whose daemon died unobserved).
    """

    state: State
    address: ProjectAddress | None = None
    pid: int | None = None
    since: datetime | None = None


class ProjectStartFailed(HubError):
    """The local hub exited before it listened, or could not be spawned at all."""

    http_status = 503


class ProjectRunner(Protocol):
    """Starts, finds and stops projects' local hubs. Every method is required.

    A runner is shared by all sessions of one hub process and may be shared with
    other hub processes through its storage, so each method must be safe to call
    concurrently and must tolerate a project started or stopped by someone else.

    - `start(project_id)`: make the project's local hub run and return its address.
      Idempotent: a project already running (started by this or an earlier hub
      process) is not started twice. Raises `hub.errors.Timeout` if it is not up
      within the runner's start timeout, `ProjectStartFailed` if it cannot start.
    - `stop(project_id)`: stop the local hub and every process of the project;
      no-op when it is not running. Returns when it is gone.
    - `status(project_id)`: a `ProjectStatus`; a daemon that died is `stopped`.
    - `address(project_id)`: the address to connect to, starting the project when
      it is not running; what the hub calls before (re)connecting. Counts as
      activity like `touch`. Cheap when the project runs.
    - `touch(project_id)`: record activity now; resets the project's idle clock.
    - `set_idle_timeout(project_id, seconds)`: this project's idle timeout (e.g.
      raised by upgrades); None goes back to the runner's default.
    - `close()`: stop the runner's background tasks. It does NOT stop projects:
      they keep running for the next hub process, which finds them again.
    """

    async def start(self, project_id: UUID) -> ProjectAddress: ...

    async def stop(self, project_id: UUID) -> None: ...

    async def status(self, project_id: UUID) -> ProjectStatus: ...

    async def address(self, project_id: UUID) -> ProjectAddress: ...

    def touch(self, project_id: UUID) -> None: ...

    def set_idle_timeout(self, project_id: UUID, seconds: float | None) -> None: ...

    async def close(self) -> None: ...
