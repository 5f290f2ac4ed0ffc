"""Upgrade quantities, license arithmetic, and the idle timeout from upgrades."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from hub.db.sha1_blobs import uuidsha1
from hub.errors import BadRequest
from hub.handlers.upgrades import license_terms
from hub.handlers.users import parse_terms
from hub.projects.quotas_apply import idle_timeout
from hub.upgrades import licenses, quotas
from hub.upgrades.licenses import License

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def lic(quota: dict[str, float], quantity: int = 1, days: float | None = 30) -> License:
    end = NOW + timedelta(days=days) if days is not None else None
    return License("l", "a", quota, quantity, NOW - timedelta(days=1), end)


def test_units_defaults_and_maxima_as_the_reference() -> None:
    assert quotas.DEFAULT_QUOTAS["disk_quota"] == 3000
    assert quotas.DEFAULT_QUOTAS["memory"] == 1000
    assert quotas.DEFAULT_QUOTAS["mintime"] == 1800
    assert quotas.DEFAULT_QUOTAS["cores"] == 1
    assert quotas.MAX_PER_PROJECT["cpu_shares"] == 2048  # 1024 = one core
    assert quotas.MAX_PER_PROJECT["mintime"] == 7_776_000
    assert quotas.BY_NAME["network"].flag and quotas.BY_NAME["always_running"].flag
    assert quotas.BY_NAME["memory"].unit == "MB"


def test_clean_refuses_unknown_keys_and_negative_values() -> None:
    assert quotas.clean({"memory": 100, "cores": 0, "network": None}) == {"memory": 100}
    with pytest.raises(quotas.InvalidUpgrades, match="invalid upgrades field 'ram'"):
        quotas.clean({"ram": 1})
    with pytest.raises(quotas.InvalidUpgrades, match=">= 0"):
        quotas.clean({"memory": -1})
    with pytest.raises(quotas.InvalidUpgrades):
        quotas.clean({"memory": True})
    assert quotas.lenient({"memory": "x", "bogus": 3, "cores": 2}) == {"cores": 2}


def test_project_quotas_add_upgrades_and_cap_at_the_maximum() -> None:
    q = quotas.project_quotas([{"memory": 2000}, {"memory": 20000, "network": 3}])
    assert q["memory"] == 16000  # 1000 + 22000 capped
    assert q["network"] == 1  # a flag
    assert q["disk_quota"] == 3000
    assert quotas.project_quotas([])["mintime"] == 1800


def test_total_counts_active_licenses_times_quantity() -> None:
    held = [
        lic({"memory": 1000, "network": 1}, quantity=3),
        lic({"cores": 1}, days=None),
        License("x", "a", {"memory": 5}, 1, NOW - timedelta(days=10), NOW - timedelta(days=1)),
        License("y", "a", {"memory": 7}, 1, NOW + timedelta(days=1), None),  # not yet
    ]
    assert licenses.total(held, NOW) == {"memory": 3000, "network": 3, "cores": 1}


def test_available_and_excess_in_project_id_order() -> None:
    total = {"memory": 3000, "cores": 2}
    applied = {"b": {"memory": 2000}, "a": {"memory": 500, "cores": 1}, "c": {"memory": 1000}}
    result = licenses.available(total, applied)
    assert result.available == {"memory": 0, "cores": 1}
    assert result.excess == {"c": {"memory": 500}}
    assert result.total == total
    empty = licenses.available({}, {"p": {"disk_quota": 10}})
    assert empty.excess == {"p": {"disk_quota": 10}} and empty.available == {"disk_quota": 0}


def test_refusal_counts_other_projects_and_the_per_project_maximum() -> None:
    total = {"memory": 3000}
    assert licenses.refusal(total, {"p": {"memory": 1000}}, {"memory": 2000}) is None
    why = licenses.refusal(total, {"p": {"memory": 1000}}, {"memory": 2001})
    assert why is not None and "memory=2001 requested, 2000 MB available" in why
    big = licenses.refusal({"memory": 99999}, {}, {"memory": 16001})
    assert big is not None and "more than one project may have" in big


def test_license_terms_from_info() -> None:
    quota, qty, start, end = license_terms(
        {"quota": {"memory": 1000}, "quantity": 2, "days": 10}, max_quantity=5, max_days=30
    )
    assert quota == {"memory": 1000} and qty == 2
    assert end is not None and (end - start) == timedelta(days=10)
    quota, _, start, end = license_terms(
        {"custom_ram": 2, "custom_cpu": 1, "custom_member": True}, max_quantity=5, max_days=30
    )
    assert quota == {"memory": 2000, "cores": 1, "member_host": 1}
    assert end == start + timedelta(days=30)  # no end: the longest allowed
    for bad, text in (
        ({}, "must grant some upgrades"),
        ({"quota": {"memory": 1}, "quantity": 6}, "at most 5"),
        ({"quota": {"memory": 1}, "quantity": 0}, ">= 1"),
        ({"quota": {"memory": 1}, "days": 31}, "at most 30 days"),
        ({"quota": {"memory": 1}, "end": "not a date"}, "end must be a date"),
        ({"quota": {"nope": 1}}, "invalid upgrades field"),
        ({"quota": {"memory": 17000}}, "more than one project may have"),
    ):
        with pytest.raises(BadRequest, match=text):
            license_terms(bad, max_quantity=5, max_days=30)


def test_idle_timeout_from_mintime_and_always_running() -> None:
    assert idle_timeout(1800, []) is None
    assert idle_timeout(1800, [{"mintime": 3600}, {"mintime": 600}]) == 1800 + 4200
    assert idle_timeout(60, [{"always_running": 1}]) == math.inf
    assert idle_timeout(0, [{"mintime": 10**9}]) == quotas.MAX_PER_PROJECT["mintime"]


def test_uuidsha1_is_cocalcs() -> None:
    # sha1("hello") = aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d
    assert uuidsha1(b"hello") == "aaf4c61d-dcc5-4e8a-adab-ede0f3b482cd"


def test_user_search_terms() -> None:
    emails, names = parse_terms(" Jo SM , ada@Example.com,,x", 5)
    assert emails == ["ada@example.com"]
    assert names == [["jo", "sm"], ["x"]]
    with pytest.raises(BadRequest, match="at most 2"):
        parse_terms("a,b,c", 2)
