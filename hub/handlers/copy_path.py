"""copy_path_between_projects, copy_path_status and copy_path_delete."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from hub.db import copy_paths
from hub.errors import BadRequest
from hub.handlers.context import Context
from hub.handlers.registry import Routes
from hub.projects.access import require
from hub.protocol.messages import (
    CopyPathBetweenProjects,
    CopyPathBetweenProjectsResponse,
    CopyPathDelete,
    CopyPathStatus,
    CopyPathStatusResponse,
    Error,
    Success,
)

routes = Routes()

MAX_LIMIT = 1000
MAX_OFFSET = 100_000
EXPIRE_DAYS = 30.0


@routes.handler(CopyPathBetweenProjects)
async def copy_path_between_projects(
    msg: CopyPathBetweenProjects, ctx: Context
) -> Success | CopyPathBetweenProjectsResponse | Error:
    account_id = await require(ctx, msg.src_project_id, "read")
    await require(ctx, msg.target_project_id, "write")
    if not msg.src_path:
        raise BadRequest("src_path must be defined")
    target_path = msg.target_path if isinstance(msg.target_path, str) else msg.src_path
    scheduled = msg.scheduled if isinstance(msg.scheduled, datetime) else None
    hub = ctx.hub
    copy_id = await copy_paths.insert(
        hub.db,
        account_id=account_id,
        source_project_id=msg.src_project_id,
        source_path=msg.src_path,
        target_project_id=msg.target_project_id,
        target_path=target_path or msg.src_path,
        exclude=list(msg.exclude) if isinstance(msg.exclude, list) else [],
        overwrite_newer=msg.overwrite_newer,
        delete_missing=msg.delete_missing,
        backup=msg.backup,
        timeout=float(msg.timeout) if isinstance(msg.timeout, int | float) else None,
        scheduled=scheduled,
        expire_days=EXPIRE_DAYS,
    )
    response = CopyPathBetweenProjectsResponse(id=msg.id or "", copy_path_id=copy_id)
    if scheduled is not None and scheduled > datetime.now(UTC):
        return response  # a scheduler (of any hub) runs it when it is due
    row = await copy_paths.claim(hub.db, copy_id, hub.hub_id)
    if row is None:  # already taken by a scheduler
        return response
    if not msg.wait_until_done:
        hub.copies.run_in_background(row)
        return response
    error = await hub.copies.run(row)
    if error is not None:
        return Error(id=msg.id, error=error)
    return Success(id=msg.id)


async def _check_row_access(ctx: Context, source: UUID, target: UUID) -> None:
    await require(ctx, source, "read")
    await require(ctx, target, "write")


@routes.handler(CopyPathStatus)
async def copy_path_status(msg: CopyPathStatus, ctx: Context) -> CopyPathStatusResponse:
    db = ctx.hub.db
    if isinstance(msg.copy_path_id, UUID):
        row = await copy_paths.get(db, msg.copy_path_id)
        if row is None:
            raise BadRequest(f"Can't find copy operation with ID={msg.copy_path_id}")
        await _check_row_access(ctx, row.source_project_id, row.target_project_id)
        return CopyPathStatusResponse(id=msg.id or "", data=row.status())
    source = msg.src_project_id if isinstance(msg.src_project_id, UUID) else None
    target = msg.target_project_id if isinstance(msg.target_project_id, UUID) else None
    if source is None and target is None:
        raise BadRequest(
            "'copy_path_id' (UUID) of a copy operation or "
            "'src_project_id/target_project_id' must be defined"
        )
    if not 0 <= msg.limit <= MAX_LIMIT:
        raise BadRequest(f"ILLEGAL VALUE limit='{msg.limit}' (must be in [0, {MAX_LIMIT}])")
    offset = msg.offset if isinstance(msg.offset, int) else 0
    if not 0 <= offset <= MAX_OFFSET:
        raise BadRequest(f"ILLEGAL VALUE offset='{offset}' (must be in [0, {MAX_OFFSET}])")
    if source is not None:
        await require(ctx, source, "read")
    if target is not None:
        await require(ctx, target, "write")
    rows = await copy_paths.search(
        db,
        source_project_id=source,
        target_project_id=target,
        source_path=msg.src_path if isinstance(msg.src_path, str) else None,
        pending=msg.pending and not msg.failed,
        failed=msg.failed,
        limit=msg.limit,
        offset=offset,
    )
    return CopyPathStatusResponse(id=msg.id or "", data=[r.status() for r in rows])


@routes.handler(CopyPathDelete)
async def copy_path_delete(msg: CopyPathDelete, ctx: Context) -> CopyPathStatusResponse:
    if not isinstance(msg.copy_path_id, UUID):
        raise BadRequest("'copy_path_id' (UUID) of a copy operation must be defined")
    db = ctx.hub.db
    row = await copy_paths.get(db, msg.copy_path_id)
    if row is None or row.finished is not None or row.scheduled is None or row.started:
        raise BadRequest(
            f"Copy operation '{msg.copy_path_id}' either does not exist or already finished"
        )
    await _check_row_access(ctx, row.source_project_id, row.target_project_id)
    if not await copy_paths.delete_scheduled(db, msg.copy_path_id):
        raise BadRequest(
            f"Copy operation '{msg.copy_path_id}' either does not exist or already finished"
        )
    return CopyPathStatusResponse(
        id=msg.id or "", data=f"copy_path_id = '{msg.copy_path_id}' deleted"
    )
