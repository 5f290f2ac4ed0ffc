"""Worksheets (`sagews_*`): one worker process per worksheet path. NOT BUILT YET."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hub.local_hub.daemon import messages as m
from hub.local_hub.daemon.config import DaemonConfig
from hub.local_hub.daemon.paths import ProjectPaths

if TYPE_CHECKING:
    from hub.local_hub.daemon.connection import HubConnection
    from hub.local_hub.daemon.handlers import Handler


class Worksheets:
    def __init__(self, config: DaemonConfig, paths: ProjectPaths) -> None:
        self.config = config
        self.paths = paths

    def forget_link(self, conn: HubConnection) -> None:
        """A hub's link ended: stop sending it output."""

    async def close(self) -> None:
        """The daemon stops: end every worker."""


HANDLERS: dict[type[m.Request], Handler] = {}
