"""Data access for `ai_embeddings`: points (text, payload, vector) of a project's files.

Vectors cross the wire as pgvector's text form `[x,y,…]` (no asyncpg codec needed).
A search is an exact cosine-distance scan of the rows whose url starts with one of
the caller's scope prefixes, narrowed further by a filter already turned into SQL
(hub/ai/filters.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from hub.db.client_logs import pg_json, pg_text
from hub.db.database import Queryable


@dataclass(frozen=True, slots=True)
class Point:
    project_id: UUID
    path: str
    fragment: str
    point_id: UUID
    url: str
    text: str
    text_sha1: str
    meta: Any
    hash: str | None
    model: str
    vector: str  # pgvector text form
    dims: int


async def table_exists(db: Queryable) -> bool:
    return bool(await db.fetchval("SELECT to_regclass('ai_embeddings') IS NOT NULL"))


async def known_vectors(db: Queryable, text_sha1s: Sequence[str], model: str) -> dict[str, str]:
    """Vectors already computed for these texts with this model, by text sha1."""
    rows = await db.fetch(
        "SELECT DISTINCT ON (text_sha1) text_sha1, embedding::text AS v FROM ai_embeddings"
        " WHERE text_sha1 = ANY($1::text[]) AND model = $2",
        list(text_sha1s),
        model,
    )
    return {row["text_sha1"]: row["v"] for row in rows}


async def unchanged(
    db: Queryable, project_id: UUID, path: str, items: Sequence[tuple[str, str]], model: str
) -> set[str]:
    """Fragments whose stored point has this (non-empty) hash and model: no new vector needed."""
    if not items:
        return set()
    rows = await db.fetch(
        "SELECT e.fragment FROM ai_embeddings e"
        " JOIN unnest($3::text[], $4::text[]) AS w(fragment, hash)"
        " ON e.fragment = w.fragment AND e.hash = w.hash"
        " WHERE e.project_id = $1 AND e.path = $2 AND e.model = $5",
        project_id,
        path,
        [f for f, _ in items],
        [h for _, h in items],
        model,
    )
    return {row["fragment"] for row in rows}


async def upsert(db: Queryable, points: Sequence[Point]) -> None:
    await db.execute(
        """
        INSERT INTO ai_embeddings (project_id, path, fragment, point_id, url, text, text_sha1,
                                   meta, hash, model, dims, embedding)
        SELECT $1, $2, p.fragment, p.point_id, p.url, p.text, p.text_sha1, p.meta, p.hash,
               p.model, p.dims, p.v::vector
        FROM unnest($3::text[], $4::uuid[], $5::text[], $6::text[], $7::text[], $8::jsonb[],
                    $9::text[], $10::text[], $11::int[], $12::text[])
             AS p(fragment, point_id, url, text, text_sha1, meta, hash, model, dims, v)
        ON CONFLICT (project_id, path, fragment) DO UPDATE SET
            text = EXCLUDED.text, text_sha1 = EXCLUDED.text_sha1, meta = EXCLUDED.meta,
            hash = EXCLUDED.hash, model = EXCLUDED.model, dims = EXCLUDED.dims,
            embedding = EXCLUDED.embedding, time = now()
        """,
        points[0].project_id,
        points[0].path,
        [p.fragment for p in points],
        [p.point_id for p in points],
        [p.url for p in points],
        [pg_text(p.text) for p in points],
        [p.text_sha1 for p in points],
        [pg_json(p.meta) for p in points],
        [p.hash for p in points],
        [p.model for p in points],
        [p.dims for p in points],
        [p.vector for p in points],
    )


async def update_payload(db: Queryable, points: Sequence[Point]) -> None:
    """Points whose hash is unchanged: keep the vector, refresh meta (and the row's time)."""
    if not points:
        return
    await db.execute(
        "UPDATE ai_embeddings e SET meta = w.meta, time = now()"
        " FROM unnest($3::text[], $4::jsonb[]) AS w(fragment, meta)"
        " WHERE e.project_id = $1 AND e.path = $2 AND e.fragment = w.fragment",
        points[0].project_id,
        points[0].path,
        [p.fragment for p in points],
        [pg_json(p.meta) for p in points],
    )


async def remove(
    db: Queryable, project_id: UUID, path: str, fragments: Sequence[str]
) -> list[UUID]:
    rows = await db.fetch(
        "DELETE FROM ai_embeddings WHERE project_id = $1 AND path = $2"
        " AND fragment = ANY($3::text[]) RETURNING point_id",
        project_id,
        path,
        list(fragments),
    )
    return [row["point_id"] for row in rows]


@dataclass(frozen=True, slots=True)
class Found:
    point_id: UUID
    score: float | None
    url: str
    text: str
    hash: str | None
    meta: Any


async def search(
    db: Queryable,
    *,
    project_ids: Sequence[UUID],
    prefixes: Sequence[str],
    where: str,
    params: Sequence[object],
    vector: str | None,
    model: str,
    dims: int | None,
    limit: int,
    offset: int,
) -> list[Found]:
    """Points in the scope matching `where` (SQL over the table's columns, its parameters
    numbered from $1 as `params`): nearest to `vector` first, or by url without one."""
    n = len(params)
    args: list[object] = [*params, list(project_ids), list(prefixes), limit, offset]
    scope = (
        f"project_id = ANY(${n + 1}::uuid[])"
        f" AND EXISTS (SELECT 1 FROM unnest(${n + 2}::text[]) AS s(prefix)"
        " WHERE starts_with(url, s.prefix))"
    )
    page = f"LIMIT ${n + 3} OFFSET ${n + 4}"
    if vector is None:
        sql = (
            "SELECT point_id, NULL::float8 AS score, url, text, hash, meta FROM ai_embeddings"
            f" WHERE {scope} AND ({where}) ORDER BY url {page}"
        )
    else:
        args += [vector, model, dims]
        v, m, d = f"${n + 5}::text::vector", f"${n + 6}", f"${n + 7}"
        sql = (
            f"SELECT point_id, 1 - (embedding <=> {v}) AS score, url, text, hash, meta"
            f" FROM ai_embeddings WHERE {scope} AND model = {m} AND dims = {d} AND ({where})"
            f" ORDER BY embedding <=> {v}, url {page}"
        )
    rows = await db.fetch(sql, *args)
    return [
        Found(r["point_id"], r["score"], r["url"], r["text"], r["hash"], r["meta"]) for r in rows
    ]
