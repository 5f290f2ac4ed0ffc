"""The hub's live-code services, made once per hub and closed at its stop."""

from __future__ import annotations

from dataclasses import dataclass

from hub.config import Settings
from hub.live.audience import Audience
from hub.live.jupyter import JupyterService
from hub.live.terminals import TerminalRelay
from hub.live.worksheets import WorksheetRelay
from hub.local_hub.pool import ProjectLinks


@dataclass(slots=True)
class LiveServices:
    audience: Audience
    worksheets: WorksheetRelay
    terminals: TerminalRelay
    jupyter: JupyterService

    @classmethod
    def create(cls, settings: Settings, links: ProjectLinks) -> LiveServices:
        audience = Audience(links)
        return cls(
            audience=audience,
            worksheets=WorksheetRelay(settings, links),
            terminals=TerminalRelay(settings, links, audience),
            jupyter=JupyterService(settings, links),
        )

    async def close(self) -> None:
        await self.terminals.close()
        await self.worksheets.close()
        await self.jupyter.close()
