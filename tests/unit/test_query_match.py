"""Feed filters evaluated in Python agree with what the SQL operators mean."""

from __future__ import annotations

import pytest

from hub.query.match import Unsupported, check, matches


@pytest.mark.parametrize(
    ("kind", "stored", "op", "wanted", "expected"),
    [
        ("text", "abc", "=", "abc", True),
        ("text", "abc", "==", "abd", False),
        ("text", "abc", "!=", "abd", True),
        ("integer", 3, "<", 4, True),
        ("integer", 3, ">=", 4, False),
        ("integer", None, "<", 4, False),
        ("uuid", "ABC", "=", "abc", True),
        ("text", "Weekly REPORT", "ILIKE", "%report%", True),
        ("text", "Weekly REPORT", "LIKE", "%report%", False),
        ("text", "a.c", "LIKE", "a_c", True),
        ("text", "100%", "LIKE", "100\\%", True),
        ("text", "abc", "NOT ILIKE", "A%", False),
        ("boolean", None, "IS", None, True),
        ("boolean", True, "IS NOT", "true", False),
        ("text", "b", "ANY", ["a", "b"], True),
        ("text[]", ["x", "y"], "ANY", "y", True),
        ("text", "abcd", "MINLEN", 4, True),
        ("text", "abcd", "MAXLEN", 3, False),
    ],
)
def test_operators(kind: str, stored: object, op: str, wanted: object, expected: bool) -> None:
    assert matches(kind, stored, op, wanted) is expected


def test_timestamps_and_documents_are_not_followed_by_comparison() -> None:
    with pytest.raises(Unsupported):
        check("timestamptz", ">")
    with pytest.raises(Unsupported):
        check("jsonb", "=")
    check("timestamptz", "IS")  # null checks are fine on any column
