"""jupyter_kernels, jupyter_execute and jupyter_start_pool: in a project, or in the shared pool.

With `project_id` the caller needs write access (read access to list kernels);
without one, the operator must have enabled the shared pool
(`jupyter_api_enabled`), and a project-scoped API key may not use it.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec

from hub.errors import BadRequest, HubError, PermissionDenied
from hub.handlers.context import Context
from hub.handlers.registry import Routes
from hub.live.jupyter import Run, effective_limits, pool_request, response
from hub.projects.access import Level, require
from hub.protocol import Reply
from hub.protocol.messages import JupyterExecute, JupyterKernels, JupyterStartPool

routes = Routes()

NOT_ENABLED = "the Jupyter API is not enabled on this server (jupyter_api_enabled)"
MAX_INPUT_CHARS = 1_000_000


async def _target(ctx: Context, project_id: Any, level: Level) -> tuple[UUID, bool]:
    """Where the kernels run: the project (access checked), or the shared pool project."""
    if isinstance(project_id, UUID):
        await require(ctx, project_id, level)
        ctx.hub.live.audience.join(project_id, ctx.session)
        return project_id, False
    if not ctx.hub.settings.jupyter_api_enabled:
        raise HubError(NOT_ENABLED)
    identity = ctx.identity
    if identity is not None and identity.project_id is not None:
        raise PermissionDenied("a project's API key can use Jupyter only in its project")
    return ctx.hub.live.jupyter.pool_project_id, True


@routes.handler(JupyterKernels)
async def jupyter_kernels(msg: JupyterKernels, ctx: Context) -> Reply:
    project_id, _ = await _target(ctx, msg.project_id, "read")
    kernels = await ctx.hub.live.jupyter.kernels(project_id)
    return {"event": "jupyter_kernels", "kernels": kernels}


@routes.handler(JupyterStartPool)
async def jupyter_start_pool(msg: JupyterStartPool, ctx: Context) -> Reply:
    wanted = pool_request(msg.kernels)
    project_id, _ = await _target(ctx, msg.project_id, "write")
    pool = await ctx.hub.live.jupyter.start_pool(project_id, wanted)
    return {"event": "success", "pool": pool}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


@routes.handler(JupyterExecute)
async def jupyter_execute(msg: JupyterExecute, ctx: Context) -> Reply:
    service = ctx.hub.live.jupyter
    if not isinstance(msg.input, str):
        if isinstance(msg.hash, str):
            return await _from_hash(ctx, msg.hash)
        raise BadRequest("jupyter_execute: input must be given")
    if not isinstance(msg.kernel, str) or not msg.kernel:
        raise BadRequest("jupyter_execute: kernel must be given")
    history = msg.history if isinstance(msg.history, list) else []
    if len(msg.input) + sum(len(cell) for cell in history) > MAX_INPUT_CHARS:
        raise BadRequest(f"jupyter_execute: input and history exceed {MAX_INPUT_CHARS} characters")
    project_id, shared = await _target(ctx, msg.project_id, "write")
    limits = effective_limits(service.ceiling(shared), msg.limits)
    run = Run(
        project_id=project_id,
        shared=shared,
        kernel=msg.kernel,
        input=msg.input,
        history=history,
        path=_text(msg.path) or None,
        limits=limits,
    )
    reply = await service.execute(
        ctx.hub.db, run, account_id=ctx.session.account_id, tag=_text(msg.tag)
    )
    return reply


async def _from_hash(ctx: Context, hash_: str) -> Reply:
    """`hash` without `input`: a result computed before, if it is still cached."""
    hit = await ctx.hub.live.jupyter.cached(ctx.hub.db, hash_)
    if hit is None:
        raise HubError(f"jupyter_execute: no cached result for hash '{hash_[:64]}'")
    await _target(ctx, hit.project_id if hit.project_id is not None else msgspec.UNSET, "write")
    return response(hit.output, hit.total_time_s, hit.time)
