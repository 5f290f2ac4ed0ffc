"""Terminals on the hub's side. NOT BUILT YET."""

from __future__ import annotations

from hub.config import Settings
from hub.live.audience import Audience
from hub.local_hub.pool import ProjectLinks


class TerminalRelay:
    def __init__(self, settings: Settings, links: ProjectLinks, audience: Audience) -> None:
        self.settings = settings
        self.links = links
        self.audience = audience

    async def close(self) -> None:
        pass
