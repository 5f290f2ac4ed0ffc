"""Jupyter kernels (`jupyter_*`) through jupyter_client. NOT BUILT YET."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hub.local_hub.daemon import messages as m
from hub.local_hub.daemon.config import DaemonConfig
from hub.local_hub.daemon.paths import ProjectPaths

if TYPE_CHECKING:
    from hub.local_hub.daemon.connection import HubConnection
    from hub.local_hub.daemon.handlers import Handler


class Kernels:
    def __init__(self, config: DaemonConfig, paths: ProjectPaths) -> None:
        self.config = config
        self.paths = paths

    def forget_link(self, conn: HubConnection) -> None:
        """A hub's link ended."""

    async def close(self) -> None:
        """The daemon stops: shut every kernel down."""


HANDLERS: dict[type[m.Request], Handler] = {}
