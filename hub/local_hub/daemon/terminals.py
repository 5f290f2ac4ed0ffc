"""Terminal sessions (`start_session` type console): one pty per session_uuid. NOT BUILT YET."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hub.local_hub.daemon import messages as m
from hub.local_hub.daemon.config import DaemonConfig
from hub.local_hub.daemon.paths import ProjectPaths

if TYPE_CHECKING:
    from hub.local_hub.daemon.connection import HubConnection
    from hub.local_hub.daemon.handlers import Handler


class Terminals:
    def __init__(self, config: DaemonConfig, paths: ProjectPaths) -> None:
        self.config = config
        self.paths = paths

    def write(self, session_uuid: str, data: bytes) -> bool:
        """Input for a terminal (a blob frame named by its session_uuid); False if none."""
        return False

    def forget_link(self, conn: HubConnection) -> None:
        """A hub's link ended: detach it from every terminal."""

    async def close(self) -> None:
        """The daemon stops: end every terminal."""


HANDLERS: dict[type[m.Request], Handler] = {}
