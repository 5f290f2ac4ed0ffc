"""The background part of upgrades and blobs, run for as long as the hub serves:
quotas follow project starts and upgrade changes, projects may save blobs."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from hub.handlers.save_blob import ProjectBlobSaver
from hub.projects.quotas_apply import CgroupLimits, QuotaApplier

if TYPE_CHECKING:
    from hub.state import HubState


async def run_upgrade_services(state: HubState, change_log: Any) -> None:
    """Install the listeners, then wait until cancelled (at hub stop) and remove them."""
    settings = state.settings
    cgroups = await asyncio.to_thread(CgroupLimits) if settings.project_enforce_quotas else None
    applier = QuotaApplier(state.db, state.runner, settings.project_idle_timeout_s, cgroups)
    applier.install(change_log)
    saver = ProjectBlobSaver(state)
    saver.install()
    try:
        await asyncio.Event().wait()
    finally:
        await saver.close()
        await applier.close()
