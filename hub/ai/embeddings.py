"""openai_embeddings_save / _search / _remove: texts of a project's files as vectors
from the configured endpoint (`ai_embedding_model`), stored with pgvector and found
by cosine similarity.

A point is named like CoCalc's: url `projects/<project_id>/files/<path>#<id>` and
point id uuid5(URL namespace, url). A search's scope is one url prefix or a list of
them, each `projects/<project_id>[/files/<path prefix>]`; the caller must be able
to read every project named, and sees only points under those prefixes.
Limits are CoCalc's: 50 items a save, 100 a remove, search text 4,000 characters,
limit up to 200.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import replace
from typing import Any
from uuid import UUID

from hub.ai import filters
from hub.ai.client import AiUnavailable, Endpoint
from hub.ai.usage import estimate_tokens, record, require_configured, take
from hub.db import embeddings as table
from hub.errors import BadRequest, HubError
from hub.handlers.context import Context
from hub.projects.access import require

MAX_SAVE_ITEMS = 50
MAX_REMOVE_ITEMS = 100
MAX_SEARCH_TEXT = 4000
MAX_SEARCH_LIMIT = 200
MAX_SCOPES = 100
MAX_ITEM_TEXT = 32_000  # ~8K tokens: the input limit of OpenAI's embedding models
MAX_ID_CHARS = 1000
MAX_PATH_CHARS = 4096
MAX_DIMENSIONS = 16_000  # pgvector's largest vector
NO_PGVECTOR = "embeddings need the pgvector extension in PostgreSQL (see docs/ai.md)"
PAYLOAD_FIELDS = ("text", "url", "hash", "meta")


def point_url(project_id: UUID, path: str, fragment: str) -> str:
    return f"projects/{project_id}/files/{path}#{fragment}"


def point_id(url: str) -> UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, url)


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()


def vector_text(vector: list[float]) -> str:
    return "[" + ",".join(repr(float(x)) for x in vector) + "]"


async def _ready(ctx: Context) -> None:
    require_configured(ctx.hub.settings)
    if not await table.table_exists(ctx.hub.db):
        raise HubError(NO_PGVECTOR)


def _check_path(path: str) -> str:
    if not path or len(path) > MAX_PATH_CHARS or "\x00" in path or "#" in path:
        raise BadRequest(
            f"path must be a nonempty string of at most {MAX_PATH_CHARS} characters without '#'"
        )
    return path


def _fragment(item: dict[str, Any], i: int, *, text: Any) -> str:
    fragment = item.get("id")
    if fragment is None and isinstance(text, str) and text:
        return sha1(text)  # an item without an id is named by its text
    if not isinstance(fragment, str) or not fragment or len(fragment) > MAX_ID_CHARS:
        raise BadRequest(
            f"data[{i}].id must be a nonempty string of at most {MAX_ID_CHARS} characters"
        )
    return fragment


def _items(data: list[Any], most: int, what: str) -> list[dict[str, Any]]:
    if len(data) > most:
        raise BadRequest(f"{what}: at most {most} items at once (got {len(data)})")
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise BadRequest(f"data[{i}] must be an object {{id, text, meta, hash}}")
    return data


async def save(ctx: Context, project_id: UUID, path: str, data: list[Any]) -> list[str]:
    await _ready(ctx)
    await require(ctx, project_id, "write")
    _check_path(path)
    model = ctx.hub.settings.ai_embedding_model
    points: dict[str, table.Point] = {}  # by fragment: a repeated id, the last one wins
    order: list[str] = []
    for i, item in enumerate(_items(data, MAX_SAVE_ITEMS, "openai_embeddings_save")):
        text = item.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_ITEM_TEXT:
            raise BadRequest(
                f"data[{i}].text must be a nonempty string of at most {MAX_ITEM_TEXT} characters"
            )
        hash_ = item.get("hash")
        if hash_ is not None and not isinstance(hash_, str):
            raise BadRequest(f"data[{i}].hash must be a string")
        fragment = _fragment(item, i, text=text)
        url = point_url(project_id, path, fragment)
        order.append(str(point_id(url)))
        points[fragment] = table.Point(
            project_id, path, fragment, point_id(url), url, text, sha1(text),
            item.get("meta"), hash_, model, "", 0,
        )  # fmt: skip
    if not points:
        return []
    db = ctx.hub.db
    same = await table.unchanged(
        db, project_id, path, [(p.fragment, p.hash) for p in points.values() if p.hash], model
    )
    await table.update_payload(db, [p for p in points.values() if p.fragment in same])
    todo = [p for p in points.values() if p.fragment not in same]
    if todo:
        vectors = await _vectors(ctx, [p.text for p in todo], project_id, path)
        await table.upsert(
            db,
            [
                replace(p, vector=vectors[p.text_sha1][0], dims=vectors[p.text_sha1][1])
                for p in todo
            ],
        )
    return order


async def _vectors(
    ctx: Context, texts: list[str], project_id: UUID | None, path: str | None
) -> dict[str, tuple[str, int]]:
    """(pgvector text, dimensions) by text sha1: stored ones reused, the rest computed."""
    settings, db = ctx.hub.settings, ctx.hub.db
    model = settings.ai_embedding_model
    by_sha = {sha1(t): t for t in texts}
    known = await table.known_vectors(db, list(by_sha), model)
    found = {s: (v, v.count(",") + 1) for s, v in known.items()}
    missing = [s for s in by_sha if s not in found]
    if not missing:
        return found
    row_id, _ = await take(
        db, settings, ctx.session.account_id, kind="embeddings", model=model,
        project_id=project_id, path=path,
    )  # fmt: skip
    inputs = [by_sha[s] for s in missing]
    tokens = 0
    try:
        vectors, tokens = await Endpoint.of(settings).embeddings(model, inputs)
        tokens = tokens or sum(estimate_tokens(t) for t in inputs)
    finally:
        await record(db, row_id, tokens)
    if len(vectors[0]) > MAX_DIMENSIONS:
        raise AiUnavailable(f"the embedding model's vectors exceed {MAX_DIMENSIONS} dimensions")
    for s, vector in zip(missing, vectors, strict=True):
        found[s] = (vector_text(vector), len(vector))
    return found


async def remove(ctx: Context, project_id: UUID, path: str, data: list[Any]) -> list[str]:
    await _ready(ctx)
    await require(ctx, project_id, "write")
    _check_path(path)
    fragments = [
        _fragment(item, i, text=item.get("text"))
        for i, item in enumerate(_items(data, MAX_REMOVE_ITEMS, "openai_embeddings_remove"))
    ]
    if not fragments:
        return []
    return [str(p) for p in await table.remove(ctx.hub.db, project_id, path, fragments)]


async def _scope(ctx: Context, scope: Any) -> tuple[list[UUID], list[str]]:
    scopes = [scope] if isinstance(scope, str) else scope
    if not isinstance(scopes, list) or not scopes or len(scopes) > MAX_SCOPES:
        raise BadRequest(f"scope must be a string or a list of 1 to {MAX_SCOPES} strings")
    project_ids: list[UUID] = []
    for s in scopes:
        if not isinstance(s, str) or not s:
            raise BadRequest("each entry in the scope must be a nonempty string")
        parts = s.split("/", 2)
        if parts[0] != "projects" or len(parts) < 2:
            raise BadRequest(f'scope "{s[:200]}" not supported (use projects/<project_id>/…)')
        try:
            project_id = UUID(parts[1])
        except ValueError:
            project_id = None
        if project_id is None or str(project_id) != parts[1]:  # urls hold the canonical form
            raise BadRequest(f'scope "{s[:200]}": not a project id')
        if len(parts) == 3 and not (parts[2] == "files" or parts[2].startswith("files/")):
            raise BadRequest(f'scope "{s[:200]}" not supported (use projects/<id>/files/<path>)')
        if project_id not in project_ids:
            await require(ctx, project_id, "read")  # every project of the scope, each time
            project_ids.append(project_id)
    return project_ids, list(scopes)


def _selected(payload: dict[str, Any], selector: Any) -> dict[str, Any]:
    if selector is None:
        return payload
    if not isinstance(selector, dict) or set(selector) - {"include", "exclude"}:
        raise BadRequest("selector must be an object { include?: string[], exclude?: string[] }")
    include, exclude = selector.get("include"), selector.get("exclude")
    for name, value in (("include", include), ("exclude", exclude)):
        if value is not None and not (
            isinstance(value, list) and all(isinstance(x, str) for x in value)
        ):
            raise BadRequest(f"selector.{name} must be a list of payload field names")
    if include is not None:
        payload = {k: v for k, v in payload.items() if k in include}
    if exclude is not None:
        payload = {k: v for k, v in payload.items() if k not in exclude}
    return payload


async def search(
    ctx: Context, *, scope: Any, text: Any, filter_: Any, limit: int, selector: Any, offset: Any
) -> list[dict[str, Any]]:
    await _ready(ctx)
    if not isinstance(limit, int) or not 0 < limit <= MAX_SEARCH_LIMIT:
        raise BadRequest(f"limit must be a positive number up to {MAX_SEARCH_LIMIT}")
    if offset is None:
        offset = 0
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise BadRequest("offset must be a nonnegative integer")
    if text is not None and (not isinstance(text, str) or not text.strip()):
        raise BadRequest("text must be a string that is not only whitespace")
    if isinstance(text, str) and len(text) > MAX_SEARCH_TEXT:
        raise BadRequest(f"text must be at most {MAX_SEARCH_TEXT} characters")
    where, params = filters.to_sql(filter_)
    _selected({}, selector)  # refuse a bad selector before any work
    project_ids, prefixes = await _scope(ctx, scope)
    vector: str | None = None
    dims: int | None = None
    if isinstance(text, str):
        vector, dims = (await _vectors(ctx, [text], None, None))[sha1(text)]
    found = await table.search(
        ctx.hub.db,
        project_ids=project_ids,
        prefixes=prefixes,
        where=where,
        params=params,
        vector=vector,
        model=ctx.hub.settings.ai_embedding_model,
        dims=dims,
        limit=limit,
        offset=offset,
    )
    matches = []
    for f in found:
        fields = {"text": f.text, "url": f.url, "hash": f.hash, "meta": f.meta}
        payload = _selected({k: v for k, v in fields.items() if v is not None}, selector)
        match: dict[str, Any] = {"id": str(f.point_id), "payload": payload}
        if f.score is not None:
            match["score"] = f.score
        matches.append(match)
    return matches
