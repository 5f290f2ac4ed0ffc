"""Copying a path from one project to another, streamed through the hub.

The source's local hub sends a tar stream of the path as blob frames; the hub
forwards each frame to the target's local hub as it arrives, so the projects
may run on different hosts and nothing is held in memory beyond one frame. Every
copy is a `copy_paths` row: immediate copies run at once; scheduled ones are
taken by whichever hub's scheduler sees them due first.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog

from hub.db import copy_paths
from hub.db.copy_paths import CopyPath
from hub.db.database import Database
from hub.errors import HubError
from hub.local_hub.pool import ProjectLinks

log = structlog.get_logger()


async def copy_between_projects(links: ProjectLinks, row: CopyPath, timeout: float) -> None:
    """Run one copy; raise HubError with the reason if it fails."""
    source = await links.get(row.source_project_id)
    target = await links.get(row.target_project_id)
    deadline = asyncio.get_running_loop().time() + timeout

    def remaining() -> float:
        return deadline - asyncio.get_running_loop().time()

    receiving = await target.open_call(
        {
            "event": "copy_import",
            "path": row.target_path,
            "overwrite_newer": row.overwrite_newer,
            "delete_missing": row.delete_missing,
            "backup": row.backup,
            # so that delete_missing leaves excluded target files alone, as rsync does
            "exclude": row.exclude,
        }
    )
    try:

        async def forward(chunk: bytes) -> None:
            await target.send_blob(receiving.id, chunk)

        sending = await source.open_call(
            {"event": "copy_export", "path": row.source_path, "exclude": row.exclude},
            blob_sink=forward,
        )
        try:
            exported = await sending.next_reply(remaining(), timeout)
        finally:
            sending.close()
        if exported.get("event") == "error":
            await target.send({"event": "copy_import_end", "id": receiving.id, "abort": True})
            raise HubError(str(exported.get("error")))
        await target.send({"event": "copy_import_end", "id": receiving.id})
        imported = await receiving.next_reply(remaining(), timeout)
        if imported.get("event") == "error":
            raise HubError(str(imported.get("error")))
    finally:
        receiving.close()


class CopyWorker:
    """Runs copies for this hub: at once, in the background, or when scheduled."""

    def __init__(
        self,
        db: Database,
        links: ProjectLinks,
        hub_id: str,
        *,
        default_timeout_s: float,
        poll_s: float,
    ) -> None:
        self.db = db
        self.links = links
        self.hub_id = hub_id
        self.default_timeout_s = default_timeout_s
        self.poll_s = poll_s
        self._tasks: set[asyncio.Task[Any]] = set()
        self._scheduler: asyncio.Task[None] | None = None

    async def run(self, row: CopyPath) -> str | None:
        """Run a claimed copy and record its end; return the error text, if any."""
        timeout = row.timeout if row.timeout and row.timeout > 0 else self.default_timeout_s
        error: str | None = None
        try:
            await copy_between_projects(self.links, row, timeout)
        except HubError as exc:
            error = exc.text
        except Exception as exc:
            log.exception("copy failed", copy_path_id=str(row.id))
            error = f"copy failed: {type(exc).__name__}"
        try:
            await copy_paths.finish(self.db, row.id, error)
        except HubError:
            log.warning("copy result not recorded: database down", copy_path_id=str(row.id))
        return error

    def run_in_background(self, row: CopyPath) -> None:
        task = asyncio.get_running_loop().create_task(self.run(row))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def start_scheduler(self) -> None:
        self._scheduler = asyncio.get_running_loop().create_task(self._schedule_loop())

    async def _schedule_loop(self) -> None:
        while True:
            try:
                while (row := await copy_paths.claim_due(self.db, self.hub_id)) is not None:
                    self.run_in_background(row)
            except HubError:
                pass  # database down: try again at the next poll
            await asyncio.sleep(self.poll_s)

    async def close(self) -> None:
        tasks = list(self._tasks)
        if self._scheduler is not None:
            tasks.append(self._scheduler)
        for task in tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*tasks, return_exceptions=True)
