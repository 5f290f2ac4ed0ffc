"""What a license grants, and what an account has left to apply to projects.

A license gives its account `quota * quantity` of upgrades from `start` until
`expires` (None: no end). The account spends them by applying upgrades to
projects (`projects.users[account].upgrades`, through `query`). As CoCalc's
`available_upgrades`: start from the total of the active licenses, walk the
projects in project_id order and subtract what each got; where a project's
upgrade does not fit in what is left, the part that does not fit is that
project's `excess` and nothing of that quantity is left.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hub.upgrades import quotas
from hub.upgrades.quotas import Upgrades


@dataclass(frozen=True, slots=True)
class License:
    id: str
    account_id: str
    quota: Upgrades
    quantity: int
    start: datetime
    expires: datetime | None = None
    created: datetime | None = None
    source: dict[str, Any] = field(default_factory=dict)

    def grants(self) -> Upgrades:
        return quotas.scale(self.quota, self.quantity)

    def active(self, now: datetime | None = None) -> bool:
        now = now or datetime.now(UTC)
        return self.start <= now and (self.expires is None or now < self.expires)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "account_id": self.account_id,
            "quota": self.quota,
            "quantity": self.quantity,
            "start": self.start.isoformat(),
            "expires": self.expires.isoformat() if self.expires else None,
            "created": self.created.isoformat() if self.created else None,
        }


def total(licenses: Iterable[License], now: datetime | None = None) -> Upgrades:
    """What the account's active licenses grant together."""
    now = now or datetime.now(UTC)
    return quotas.add(*(lic.grants() for lic in licenses if lic.active(now)))


@dataclass(frozen=True, slots=True)
class Available:
    total: Upgrades
    available: Upgrades
    excess: dict[str, Upgrades]  # project_id -> quantities applied beyond the total


def available(total: Mapping[str, float], applied: Mapping[str, Mapping[str, float]]) -> Available:
    """`applied` maps project_id to the upgrades this account applied to it."""
    left: Upgrades = dict(total)
    excess: dict[str, Upgrades] = {}
    for project_id in sorted(applied):
        for key, value in applied[project_id].items():
            have = left.get(key, 0)
            if value <= have:
                left[key] = have - value
            else:
                excess.setdefault(project_id, {})[key] = value - have
                left[key] = 0
    return Available(dict(total), left, excess)


def refusal(
    total: Mapping[str, float],
    applied_elsewhere: Mapping[str, Mapping[str, float]],
    wanted: Mapping[str, float],
) -> str | None:
    """Why applying `wanted` to one project is refused, or None when it fits.

    What the account applied to its other projects counts first; this project may
    have at most what is left, and at most the per-project maximum.
    """
    over = quotas.over_maximum(wanted)
    if over:
        key = over[0]
        return (
            f"upgrade {key}={wanted[key]:g} is more than one project may have"
            f" ({quotas.MAX_PER_PROJECT[key]:g} {quotas.BY_NAME[key].unit})"
        )
    used = quotas.add(*applied_elsewhere.values())
    for key, value in wanted.items():
        left = max(0.0, total.get(key, 0) - used.get(key, 0))
        if value > left:
            return (
                f"not enough upgrades available: {key}={value:g} requested,"
                f" {left:g} {quotas.BY_NAME[key].unit} available"
                " (get_available_upgrades shows what is left)"
            )
    return None
