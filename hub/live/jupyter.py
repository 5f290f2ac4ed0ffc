"""Jupyter on the hub's side: limits, the result cache, and the shared pool project.

The kernels themselves run in the project's local hub (hub/local_hub/daemon/
kernels.py); the hub decides which project (the caller's, or without one the
shared pool project when `jupyter_api_enabled`), which limits (the settings for
that kind of project, lowered by the request's `limits`), and answers identical
requests from `jupyter_execute_cache`: the key is the SHA-1 of the canonical JSON
of {history, input, kernel, path, project_id}.

Only runs that finished are cached (a Python exception in a cell finished; a limit
exceeded, a kernel that died or a project that did not answer did not).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec

from hub.config import Settings
from hub.db import jupyter_cache
from hub.db.database import Queryable
from hub.errors import BadRequest, HubError
from hub.local_hub.pool import ProjectLinks

# the project enforces the limits; the hub waits this much longer (start-up included)
REPLY_MARGIN_S = 15.0
DEFAULT_KERNEL = "python3"
LIMIT_KEYS = ("timeout_ms", "timeout_ms_per_cell", "max_output", "max_output_per_cell")
MAX_POOL_REQUEST = 1000


def request_hash(
    *, history: list[str], input: str, kernel: str, project_id: UUID | None, path: str | None
) -> str:
    """The cache key: what makes two jupyter_execute requests the same computation."""
    key = {
        "history": history,
        "input": input,
        "kernel": kernel,
        "path": path,
        "project_id": None if project_id is None else str(project_id),
    }
    return hashlib.sha1(msgspec.json.encode(key, order="sorted")).hexdigest()


def effective_limits(ceiling: dict[str, int], requested: Any) -> dict[str, int]:
    """The settings' limits, each lowered to the request's when it asks for less."""
    limits = dict(ceiling)
    if requested is None or requested is msgspec.UNSET:
        return limits
    if not isinstance(requested, dict):
        raise BadRequest("jupyter_execute: limits must be an object")
    for key in LIMIT_KEYS:
        value = requested.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise BadRequest(f"jupyter_execute: limits.{key} must be a positive number")
        limits[key] = min(limits[key], max(1, int(value)))
    return limits


def pool_request(kernels: Any) -> dict[str, int]:
    """`jupyter_start_pool`'s `kernels`: a count (of python3), a name, a list of names
    and {name, count} objects, or an object {name: count}; as counts by name."""
    if kernels is None or kernels is msgspec.UNSET:
        return {DEFAULT_KERNEL: 1}
    items: list[Any]
    if isinstance(kernels, bool):
        items = [None]
    elif isinstance(kernels, int):
        items = [{"name": DEFAULT_KERNEL, "count": kernels}]
    elif isinstance(kernels, str):
        items = [kernels]
    elif isinstance(kernels, dict) and "name" not in kernels:
        items = [{"name": k, "count": v} for k, v in kernels.items()]
    elif isinstance(kernels, list):
        items = kernels
    else:
        items = [kernels]
    wanted: dict[str, int] = {}
    for item in items:
        name, count = (item, 1) if isinstance(item, str) else _name_count(item)
        if not name:
            raise BadRequest("jupyter_start_pool: a kernel name must not be empty")
        wanted[name] = min(MAX_POOL_REQUEST, wanted.get(name, 0) + count)
    return wanted


def _name_count(item: Any) -> tuple[str, int]:
    if isinstance(item, dict):
        name, count = item.get("name"), item.get("count", 1)
        if isinstance(name, str) and isinstance(count, int) and not isinstance(count, bool):
            if count < 0:
                raise BadRequest("jupyter_start_pool: a kernel count must not be negative")
            return name, count
    raise BadRequest(
        "jupyter_start_pool: kernels must be a count, or a list of kernel names"
        " and {name, count} objects"
    )


@dataclass(frozen=True, slots=True)
class Run:
    """One jupyter_execute as the hub passes it to a project."""

    project_id: UUID
    shared: bool
    kernel: str
    input: str
    history: list[str]
    path: str | None
    limits: dict[str, int]


class JupyterService:
    def __init__(self, settings: Settings, links: ProjectLinks) -> None:
        self.settings = settings
        self.links = links

    @property
    def pool_project_id(self) -> UUID:
        try:
            return UUID(self.settings.jupyter_pool_project_id)
        except ValueError:
            raise HubError("jupyter_pool_project_id is not a valid uuid") from None

    def ceiling(self, shared: bool) -> dict[str, int]:
        s = self.settings
        if shared:
            return {
                "timeout_ms": int(s.jupyter_pool_timeout_s * 1000),
                "timeout_ms_per_cell": int(s.jupyter_pool_cell_timeout_s * 1000),
                "max_output": s.jupyter_pool_max_output_bytes,
                "max_output_per_cell": s.jupyter_pool_max_cell_output_bytes,
            }
        return {
            "timeout_ms": int(s.jupyter_timeout_s * 1000),
            "timeout_ms_per_cell": int(s.jupyter_cell_timeout_s * 1000),
            "max_output": s.jupyter_max_output_bytes,
            "max_output_per_cell": s.jupyter_max_cell_output_bytes,
        }

    def _pool_options(self) -> dict[str, Any]:
        s = self.settings
        return {
            "max_kernels": s.jupyter_pooled_kernels,
            "idle_s": s.jupyter_pooled_idle_s,
            "max_running": s.jupyter_max_running,
        }

    async def _call(self, project_id: UUID, message: dict[str, Any], timeout: float) -> Any:
        reply = await self.links.call(project_id, message, timeout=timeout)
        if reply.get("event") == "error":
            raise HubError(str(reply.get("error", "error in project")))
        return reply

    async def kernels(self, project_id: UUID) -> Any:
        reply = await self._call(project_id, {"event": "jupyter_kernels"}, REPLY_MARGIN_S)
        return reply.get("kernels", [])

    async def start_pool(self, project_id: UUID, wanted: dict[str, int]) -> Any:
        message = {
            "event": "jupyter_start_pool",
            "kernels": wanted,
            "pool_options": self._pool_options(),
        }
        reply = await self._call(project_id, message, 60.0 + REPLY_MARGIN_S)
        return reply.get("pool", {})

    async def cached(self, db: Queryable, hash_: str) -> jupyter_cache.CachedRun | None:
        if self.settings.jupyter_cache_s <= 0:
            return None
        return await jupyter_cache.get(db, hash_)

    async def execute(
        self, db: Queryable, run: Run, *, account_id: UUID | None, tag: str | None
    ) -> dict[str, Any]:
        project_id = None if run.shared else run.project_id
        hash_ = request_hash(
            history=run.history,
            input=run.input,
            kernel=run.kernel,
            project_id=project_id,
            path=run.path,
        )
        hit = await self.cached(db, hash_)
        if hit is not None:
            return response(hit.output, hit.total_time_s, hit.time)
        message: dict[str, Any] = {
            "event": "jupyter_execute",
            "kernel": run.kernel,
            "input": run.input,
            "history": run.history,
            "limits": run.limits,
            "pool_options": self._pool_options(),
        }
        if run.path:
            message["path"] = run.path
        timeout = run.limits["timeout_ms"] / 1000 + REPLY_MARGIN_S
        reply = await self._call(run.project_id, message, timeout)
        now = datetime.now(UTC)
        output = reply.get("output", [])
        total = reply.get("total_time_s")
        total_s = float(total) if isinstance(total, int | float) else 0.0
        if self.settings.jupyter_cache_s > 0:
            await jupyter_cache.put(
                db,
                hash_,
                project_id=project_id,
                account_id=account_id,
                kernel=run.kernel,
                path=run.path,
                tag=tag,
                output=output,
                total_time_s=total_s,
                time=now,
                ttl_s=self.settings.jupyter_cache_s,
            )
        out = response(output, total_s, now)
        out["pooled"] = reply.get("pooled") is True
        return out

    async def close(self) -> None:
        pass  # kernels belong to the projects; they stop with them


def response(output: Any, total_time_s: float | None, time: datetime) -> dict[str, Any]:
    return {
        "event": "jupyter_execute_response",
        "output": output,
        "total_time_s": total_time_s,
        "time": time,
    }
