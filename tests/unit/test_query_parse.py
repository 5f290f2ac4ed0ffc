"""hub.query.parse: table and rows, get vs set, substitutions, options, FATAL texts."""

from __future__ import annotations

import datetime

import pytest

from hub.query.parse import (
    MAX_LIMIT,
    QueryError,
    has_null_leaf,
    parse_options,
    parse_query,
    substitutions,
)

SUBS = substitutions("acc", "proj")


def test_get_if_any_null_leaf_else_set() -> None:
    assert not parse_query({"accounts": {"editor_settings": None}}, None, SUBS).is_set
    assert not parse_query({"accounts": {"a": {"b": [1, None]}}}, None, SUBS).is_set
    assert parse_query({"accounts": {"first_name": "x"}}, None, SUBS).is_set
    assert has_null_leaf({"x": {"y": None}})
    assert not has_null_leaf({"x": {"y": 1}, "z": [1, 2]})


def test_set_option_overrides() -> None:
    assert parse_query({"t": {"a": None}}, [{"set": True}], SUBS).is_set
    assert not parse_query({"t": {"a": 1}}, [{"set": False}], SUBS).is_set


def test_single_vs_multi() -> None:
    single = parse_query({"t": {"a": None}}, None, SUBS)
    assert (single.table, single.multi, single.row) == ("t", False, {"a": None})
    multi = parse_query({"t": [{"a": None}]}, None, SUBS)
    assert multi.multi and multi.row == {"a": None}
    assert parse_query({"t": []}, None, SUBS).row == {}


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ({}, "FATAL: must specify exactly one key in the query"),
        ({"a": {}, "b": {}}, "FATAL: must specify exactly one key in the query"),
        ("accounts", "FATAL: must specify exactly one key in the query"),
        ({"t": [{}, {}]}, "FATAL: array of length > 1 not yet implemented"),
        ({"t": 5}, "FATAL: invalid user_query of 't' -- query must be an object"),
        ({"t": [5]}, "FATAL: invalid user_query of 't' -- query must be an object"),
    ],
)
def test_fatal_texts(query: object, text: str) -> None:
    with pytest.raises(QueryError) as info:
        parse_query(query, None, SUBS)
    assert info.value.text == text


def test_substitutions_in_keys_and_values() -> None:
    q = parse_query({"t": {"{account_id}": {"x": "{project_id}"}, "time": "{now}"}}, None, SUBS)
    assert q.row["acc"] == {"x": "proj"}
    assert isinstance(q.row["time"], datetime.datetime)


def test_options() -> None:
    opts = parse_options([{"limit": 5}, {"order_by": "-last_edited"}, {"order_by": "title"}])
    assert opts.limit == 5 and opts.order_by == ["-last_edited", "title"]
    assert parse_options([{"limit": 10**9}]).limit == MAX_LIMIT
    assert parse_options([{"limit": "nonsense"}]).limit == MAX_LIMIT
    assert parse_options([{"delete": True}]).delete
    with pytest.raises(QueryError, match=r"^unknown option 'bogus'$"):
        parse_options([{"bogus": 1}])
    with pytest.raises(QueryError, match=r"^slice not implemented$"):
        parse_options([{"slice": [0, 1]}])
