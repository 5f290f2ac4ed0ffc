"""Files in projects: text files, archives and uploads, all through the project's local hub."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from uuid import UUID

from hub.db import blobs
from hub.errors import BadRequest, HubError, PermissionDenied
from hub.handlers.context import Context
from hub.handlers.registry import Routes
from hub.handlers.relay import call_project, last_reply, raise_if_error
from hub.projects.access import require
from hub.protocol.messages import (
    FileReadFromProject,
    FileWrittenToProject,
    ReadFileFromProject,
    ReadTextFileFromProject,
    TextFileReadFromProject,
    WriteFileToProject,
    WriteTextFileToProject,
)

routes = Routes()

FILE_TIMEOUT_S = 60.0
MANY_FILES_CONCURRENCY = 20


async def _read_text(ctx: Context, project_id: UUID, path: str) -> str:
    await require(ctx, project_id, "read")
    reply = await call_project(
        ctx,
        project_id,
        {"event": "read_text_file_from_project", "path": path},
        FILE_TIMEOUT_S,
    )
    content = reply.get("content")
    if not isinstance(content, str):
        raise HubError(f"project {project_id} sent no content for '{path}'")
    return content


@routes.handler(ReadTextFileFromProject)
async def read_text_file_from_project(
    msg: ReadTextFileFromProject, ctx: Context
) -> TextFileReadFromProject:
    if isinstance(msg.project_id, UUID):
        if not isinstance(msg.path, str):
            raise BadRequest("if project_id is a single id, path must be a single path")
        content = await _read_text(ctx, msg.project_id, msg.path)
        return TextFileReadFromProject(id=msg.id or "", content=content)
    if not isinstance(msg.path, list) or len(msg.path) != len(msg.project_id):
        raise BadRequest("if project_id is an array, then path must be an array of the same length")
    limit = asyncio.Semaphore(MANY_FILES_CONCURRENCY)

    async def one(project_id: UUID, path: str) -> dict[str, Any]:
        result: dict[str, Any] = {"project_id": str(project_id), "path": path}
        async with limit:
            try:
                result["content"] = await _read_text(ctx, project_id, path)
            except HubError as exc:
                result["error"] = exc.text
        return result

    results = await asyncio.gather(
        *(one(p, f) for p, f in zip(msg.project_id, msg.path, strict=True))
    )
    return TextFileReadFromProject(id=msg.id or "", content=list(results))


@routes.handler(WriteTextFileToProject)
async def write_text_file_to_project(
    msg: WriteTextFileToProject, ctx: Context
) -> FileWrittenToProject:
    await require(ctx, msg.project_id, "write")
    await call_project(
        ctx,
        msg.project_id,
        {"event": "write_text_file_to_project", "path": msg.path, "content": msg.content},
        FILE_TIMEOUT_S,
    )
    return FileWrittenToProject(id=msg.id or "")


@routes.handler(ReadFileFromProject)
async def read_file_from_project(msg: ReadFileFromProject, ctx: Context) -> FileReadFromProject:
    """Archive a file or directory in the project and keep it as a downloadable blob."""
    account_id = await require(ctx, msg.project_id, "read")
    if msg.archive != "tar.bz2":
        raise BadRequest("archive must be 'tar.bz2'")
    conn = await ctx.hub.projects.get(msg.project_id)
    reply = raise_if_error(
        await last_reply(
            conn.request(
                {"event": "read_file_from_project", "path": msg.path, "archive": msg.archive},
                timeout=FILE_TIMEOUT_S,
            )
        )
    )
    data_uuid = reply.get("data_uuid")
    data = conn.take_blob(data_uuid) if isinstance(data_uuid, str) else None
    if data is None or not isinstance(data_uuid, str):
        raise HubError(f"project {msg.project_id} sent no archive for '{msg.path}'")
    settings = ctx.hub.settings
    ttl = float(msg.ttlSeconds) if isinstance(msg.ttlSeconds, int | float) else settings.blob_ttl_s
    ttl = min(max(ttl, 1.0), settings.blob_ttl_s)
    await blobs.save(
        ctx.hub.db,
        UUID(data_uuid),
        data,
        ttl_s=ttl,
        project_id=msg.project_id,
        account_id=account_id,
        name=f"{msg.path.rstrip('/').rsplit('/', 1)[-1] or 'files'}.tar.bz2",
    )
    return FileReadFromProject(id=msg.id or "", data_uuid=data_uuid, archive=msg.archive)


@routes.handler(WriteFileToProject)
async def write_file_to_project(msg: WriteFileToProject, ctx: Context) -> FileWrittenToProject:
    """Write an uploaded blob (POST /blobs) to a path in the project."""
    account_id = await require(ctx, msg.project_id, "write")
    try:
        blob_id = UUID(msg.data_uuid)
    except ValueError:
        raise BadRequest(f"invalid data_uuid '{msg.data_uuid}'") from None
    blob = await blobs.get(ctx.hub.db, blob_id)
    if blob is None:
        raise BadRequest(f"no blob {msg.data_uuid} (unknown or expired)")
    if blob.account_id != account_id:
        raise PermissionDenied(f"blob {msg.data_uuid} was not uploaded by you")
    conn = await ctx.hub.projects.get(msg.project_id)
    wire_id = str(uuid.uuid4())

    async def upload() -> None:
        await conn.send_blob(wire_id, blob.data)

    raise_if_error(
        await last_reply(
            conn.request(
                {"event": "write_file_to_project", "path": msg.path, "data_uuid": wire_id},
                timeout=FILE_TIMEOUT_S,
                before_send=upload,
            )
        )
    )
    return FileWrittenToProject(id=msg.id)
