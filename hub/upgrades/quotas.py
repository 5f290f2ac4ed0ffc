"""The upgrade quantities, in CoCalc's units (`upgrade-spec.ts`), in one place.

    disk_quota      MB of disk
    memory          MB of shared RAM (the project's memory limit)
    memory_request  MB of dedicated RAM
    cores           shared cores (a CPU limit)
    cpu_shares      dedicated CPU, 1024 = one core
    mintime         seconds a project stays up without activity (its idle timeout)
    network, member_host, always_running, ephemeral_state, ephemeral_disk   0/1 flags

A project's quota is its default plus what its users applied to it
(`projects.users[account].upgrades`), each quantity capped at its per-project maximum.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Quantity:
    name: str
    unit: str
    default: float
    max_per_project: float
    flag: bool = False  # 0 or 1 on one project; summed across licenses


QUANTITIES: tuple[Quantity, ...] = (
    Quantity("disk_quota", "MB", 3000, 20000),
    Quantity("memory", "MB", 1000, 16000),
    Quantity("memory_request", "MB", 0, 8000),
    Quantity("cores", "cores", 1, 3),
    Quantity("cpu_shares", "1/1024 core", 0, 2048),
    Quantity("mintime", "seconds", 1800, 7_776_000),
    Quantity("network", "flag", 0, 1, flag=True),
    Quantity("member_host", "flag", 0, 1, flag=True),
    Quantity("always_running", "flag", 0, 1, flag=True),
    Quantity("ephemeral_state", "flag", 0, 1, flag=True),
    Quantity("ephemeral_disk", "flag", 0, 1, flag=True),
)
BY_NAME: dict[str, Quantity] = {q.name: q for q in QUANTITIES}
UPGRADE_KEYS = frozenset(BY_NAME)

DEFAULT_QUOTAS: dict[str, float] = {q.name: q.default for q in QUANTITIES}
MAX_PER_PROJECT: dict[str, float] = {q.name: q.max_per_project for q in QUANTITIES}

Upgrades = dict[str, float]


class InvalidUpgrades(ValueError):
    """An upgrades object with an unknown key or a value that is not a number ≥ 0."""


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if value != value or value in (float("inf"), float("-inf")):
        return None
    return value


def clean(upgrades: Any, *, what: str = "upgrades") -> Upgrades:
    """`upgrades` checked: known keys, numbers ≥ 0 (zeros and nulls dropped)."""
    if not isinstance(upgrades, Mapping):
        raise InvalidUpgrades(f"{what} must be an object of upgrade quantities")
    out: Upgrades = {}
    for key, value in upgrades.items():
        if key not in BY_NAME:
            raise InvalidUpgrades(f"invalid upgrades field '{key}'")
        if value is None:
            continue
        number = _number(value)
        if number is None or number < 0:
            raise InvalidUpgrades(f"{what}.{key} must be a number >= 0")
        if number:
            out[key] = number
    return out


def lenient(upgrades: Any) -> Upgrades:
    """Stored upgrades read back: unknown keys and bad values ignored, never raised."""
    if not isinstance(upgrades, Mapping):
        return {}
    out: Upgrades = {}
    for key, value in upgrades.items():
        number = _number(value)
        if key in BY_NAME and number is not None and number > 0:
            out[key] = number
    return out


def add(*many: Mapping[str, float]) -> Upgrades:
    total: Upgrades = {}
    for one in many:
        for key, value in one.items():
            total[key] = total.get(key, 0) + value
    return total


def scale(upgrades: Mapping[str, float], factor: float) -> Upgrades:
    return {key: value * factor for key, value in upgrades.items()}


def over_maximum(upgrades: Mapping[str, float]) -> list[str]:
    """Keys whose value alone exceeds what one project may have."""
    return [k for k, v in upgrades.items() if k in BY_NAME and v > MAX_PER_PROJECT[k]]


def project_quotas(
    applied: Iterable[Mapping[str, float]], defaults: Mapping[str, float] | None = None
) -> dict[str, float]:
    """The quotas a project runs with: defaults plus every user's upgrades, capped."""
    base = dict(DEFAULT_QUOTAS if defaults is None else defaults)
    total = add(base, *applied)
    out: dict[str, float] = {}
    for q in QUANTITIES:
        value = min(total.get(q.name, 0), q.max_per_project)
        out[q.name] = (1 if value >= 1 else 0) if q.flag else value
    return out
