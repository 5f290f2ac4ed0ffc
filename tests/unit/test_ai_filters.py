"""The search filter (a subset of Qdrant's) turned into SQL: shapes, parameters, refusals."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from hub.ai.filters import MAX_CONDITIONS, MAX_DEPTH, to_sql
from hub.errors import BadRequest


def test_no_filter_is_true() -> None:
    assert to_sql(None) == ("TRUE", [])
    assert to_sql({}) == ("TRUE", [])
    assert to_sql({"must": []}) == ("TRUE", [])


def test_clauses_and_parameters() -> None:
    sql, params = to_sql(
        {
            "must": [{"key": "meta.kind", "match": {"value": "pet"}}],
            "should": [
                {"key": "url", "match": {"text": "projects/x/files/a"}},
                {"key": "hash", "match": {"any": ["h1", "h2"]}},
            ],
            "must_not": [{"key": "meta.n", "range": {"gte": 2, "lt": 5}}],
        }
    )
    assert sql == (
        "((meta #> $1::text[]) = ANY($2::jsonb[]))"
        " AND (starts_with(url, $3::text) OR hash = ANY($4::text[]))"
        " AND NOT (((CASE WHEN jsonb_typeof(meta #> $5::text[]) = 'number'"
        " THEN (meta #> $5::text[])::numeric END) >= $6::numeric AND"
        " (CASE WHEN jsonb_typeof(meta #> $5::text[]) = 'number'"
        " THEN (meta #> $5::text[])::numeric END) < $7::numeric))"
    )
    assert params == [["kind"], ["pet"], "projects/x/files/a", ["h1", "h2"], ["n"], 2, 5]


def test_text_contains_nested_and_has_id() -> None:
    pid = uuid.uuid4()
    sql, params = to_sql(
        {"must": [{"should": [{"key": "text", "match": {"text": "cat"}}]}, {"has_id": [str(pid)]}]}
    )
    assert sql == "(((strpos(text, $1::text) > 0)) AND point_id = ANY($2::uuid[]))"
    assert to_sql({"should": [{"must": [{"has_id": []}, {"has_id": []}]}]})[0] == (
        "(((point_id = ANY($1::uuid[]) AND point_id = ANY($2::uuid[]))))"
    )
    assert params == ["cat", [pid]]


def test_a_single_condition_may_stand_for_a_list() -> None:
    sql, _ = to_sql({"must": {"key": "hash", "match": {"value": "h"}}})
    assert sql == "(hash = ANY($1::text[]))"


def nested(depth: int) -> dict[str, Any]:
    f: dict[str, Any] = {"must": [{"key": "hash", "match": {"value": "h"}}]}
    for _ in range(depth):
        f = {"must": [f]}
    return f


def test_depth_and_count_limits_at_their_edges() -> None:
    to_sql(nested(MAX_DEPTH - 1))
    with pytest.raises(BadRequest, match="nested deeper than"):
        to_sql(nested(MAX_DEPTH + 1))
    many = [{"key": "hash", "match": {"value": str(i)}} for i in range(MAX_CONDITIONS)]
    to_sql({"must": many})
    with pytest.raises(BadRequest, match=f"more than {MAX_CONDITIONS} conditions"):
        to_sql({"must": [*many, many[0]]})


@pytest.mark.parametrize(
    ("filter_", "text"),
    [
        ([], "filter must be an object"),
        ({"where": "1=1"}, "unsupported field 'where'"),
        ({"must": "x"}, "must be a list of conditions"),
        ({"must": ["x"]}, "each condition must be an object"),
        ({"must": [{"key": "meta.a') OR 1=1 --", "match": {"value": 1}}]}, "unsupported key"),
        ({"must": [{"key": "point_id", "match": {"value": "x"}}]}, "unsupported key"),
        ({"must": [{"key": "meta.a", "match": {"regex": "."}}]}, "unsupported match 'regex'"),
        ({"must": [{"key": "meta.a", "match": {"value": {"x": 1}}}]}, "strings, numbers"),
        ({"must": [{"key": "meta.a", "match": {"any": []}}]}, "nonempty list"),
        ({"must": [{"key": "text", "match": {"value": 3}}]}, "compared with strings"),
        ({"must": [{"key": "meta.a", "range": {"gt": "1"}}]}, "bounds must be numbers"),
        ({"must": [{"key": "meta.a", "range": {"near": 1}}]}, "unsupported range bound"),
        ({"must": [{"key": "meta.a"}]}, "needs match or range"),
        ({"must": [{"has_id": ["not-a-uuid"]}]}, "point ids"),
    ],
)
def test_refused(filter_: Any, text: str) -> None:
    with pytest.raises(BadRequest, match=text.replace("(", r"\(")):
        to_sql(filter_)
