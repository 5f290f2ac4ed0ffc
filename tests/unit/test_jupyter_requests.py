"""The hub's Jupyter request rules: cache key, limits lowered only, pool requests."""

from __future__ import annotations

import uuid

import msgspec
import pytest

from hub.errors import BadRequest
from hub.live.jupyter import effective_limits, pool_request, request_hash

CEILING = {
    "timeout_ms": 30_000,
    "timeout_ms_per_cell": 15_000,
    "max_output": 2_500_000,
    "max_output_per_cell": 500_000,
}


def test_hash_covers_each_field_and_nothing_else() -> None:
    pid = uuid.uuid4()
    base = {"history": ["a=1"], "input": "a", "kernel": "python3", "project_id": pid, "path": None}
    first = request_hash(**base)
    assert first == request_hash(**base)
    assert len(first) == 40
    for field, other in (
        ("history", ["a=2"]),
        ("input", "a+1"),
        ("kernel", "python2"),
        ("project_id", uuid.uuid4()),
        ("path", "x.ipynb"),
    ):
        assert request_hash(**{**base, field: other}) != first, field
    # the cells are not simply joined: ["a", "b"] is not ["a\nb"]
    assert request_hash(**{**base, "history": ["a", "b"]}) != request_hash(
        **{**base, "history": ["a\nb"]}
    )


def test_limits_may_only_be_lowered() -> None:
    assert effective_limits(CEILING, msgspec.UNSET) == CEILING
    assert effective_limits(CEILING, None) == CEILING
    higher = {key: value * 10 for key, value in CEILING.items()}
    assert effective_limits(CEILING, higher) == CEILING
    lower = effective_limits(CEILING, {"timeout_ms_per_cell": 1000, "max_output": 99.9})
    assert lower == {**CEILING, "timeout_ms_per_cell": 1000, "max_output": 99}
    # at the edge: equal to the ceiling is the ceiling
    assert effective_limits(CEILING, {"timeout_ms": 30_000})["timeout_ms"] == 30_000
    assert effective_limits(CEILING, {"timeout_ms": 29_999})["timeout_ms"] == 29_999
    assert effective_limits(CEILING, {"unknown": 5}) == CEILING


@pytest.mark.parametrize("bad", [0, -1, "10", True, [1]])
def test_bad_limit_values_are_refused(bad: object) -> None:
    with pytest.raises(BadRequest, match=r"limits\.timeout_ms must be a positive number"):
        effective_limits(CEILING, {"timeout_ms": bad})


def test_limits_must_be_an_object() -> None:
    with pytest.raises(BadRequest, match="limits must be an object"):
        effective_limits(CEILING, [1, 2])


def test_pool_request_shapes() -> None:
    assert pool_request(msgspec.UNSET) == {"python3": 1}
    assert pool_request(3) == {"python3": 3}
    assert pool_request("ir") == {"ir": 1}
    assert pool_request(["python3", "python3", "ir"]) == {"python3": 2, "ir": 1}
    assert pool_request([{"name": "python3", "count": 2}, "ir"]) == {"python3": 2, "ir": 1}
    assert pool_request({"name": "ir", "count": 4}) == {"ir": 4}
    assert pool_request({"python3": 2, "ir": 0}) == {"python3": 2, "ir": 0}
    assert pool_request(10**9) == {"python3": 1000}


@pytest.mark.parametrize(
    "bad", [[{}], [{"name": "x", "count": "2"}], [3], True, 2.5, [{"name": "x", "count": -1}]]
)
def test_bad_pool_requests_are_refused(bad: object) -> None:
    with pytest.raises(BadRequest, match="jupyter_start_pool"):
        pool_request(bad)


def test_negative_count_is_refused() -> None:
    with pytest.raises(BadRequest, match="must not be negative"):
        pool_request(-1)
