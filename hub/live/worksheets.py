"""Worksheets on the hub's side. NOT BUILT YET."""

from __future__ import annotations

from hub.config import Settings
from hub.local_hub.pool import ProjectLinks


class WorksheetRelay:
    def __init__(self, settings: Settings, links: ProjectLinks) -> None:
        self.settings = settings
        self.links = links

    async def close(self) -> None:
        pass
