"""Upgrades and licenses: purchase_license, get_available_upgrades, remove_all_upgrades.

There is no billing behind purchase_license: it records a license for free when
`licenses_self_service` is on, or when an admin asks (an admin may name another
account in `info.account_id`); otherwise it is refused with a clear error.
Licenses are also granted from the shell (`hub license grant`, hub/shell_licenses.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from msgspec import UnsetType

from hub.db import accounts
from hub.db import licenses as license_table
from hub.errors import BadRequest, PermissionDenied
from hub.handlers.context import Context
from hub.handlers.registry import Routes
from hub.protocol.messages import (
    AvailableUpgrades,
    GetAvailableUpgrades,
    PurchaseLicense,
    PurchaseLicenseResp,
    RemoveAllUpgrades,
    Success,
)
from hub.query.values import to_timestamp
from hub.upgrades import licenses, quotas

routes = Routes()

BILLING_TEXT = "You must be signed in to use billing related functions."
NOT_SELF_SERVICE = (
    "licenses cannot be purchased on this server (no billing is configured);"
    " an admin can grant one (hub license grant)"
)
GB = 1000  # CoCalc's license form counts RAM and disk in GB; upgrades count MB


def license_terms(
    info: dict[str, Any], *, max_quantity: int, max_days: float
) -> tuple[quotas.Upgrades, int, datetime, datetime | None]:
    """(quota, quantity, start, expires) from a purchase_license `info` or a grant.

    `quota` is in upgrade units ({"memory": 2000, "mintime": 3600, ...}); CoCalc's
    form fields custom_ram/custom_dedicated_ram/custom_disk (GB), custom_cpu,
    custom_dedicated_cpu (cores) and custom_member are understood too. The end is
    `end` (a date) or `days` from the start; neither: the longest allowed (max_days).
    """
    try:
        quota = quotas.clean(info.get("quota") or {}, what="quota")
        custom = {
            "memory": _num(info, "custom_ram", GB),
            "memory_request": _num(info, "custom_dedicated_ram", GB),
            "disk_quota": _num(info, "custom_disk", GB),
            "cores": _num(info, "custom_cpu", 1),
            "cpu_shares": _num(info, "custom_dedicated_cpu", 1024),
            "member_host": 1 if info.get("custom_member") is True else 0,
        }
        quota = quotas.add(quota, quotas.clean(custom, what="info"))
    except quotas.InvalidUpgrades as exc:
        raise BadRequest(str(exc)) from None
    if not quota:
        raise BadRequest("a license must grant some upgrades: give info.quota, e.g. {memory: 1000}")
    over = quotas.over_maximum(quota)
    if over:
        raise BadRequest(
            f"quota.{over[0]} is more than one project may have"
            f" ({quotas.MAX_PER_PROJECT[over[0]]:g})"
        )
    quantity = info.get("quantity", 1)
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise BadRequest("quantity must be a whole number >= 1")
    if quantity > max_quantity:
        raise BadRequest(f"quantity must be at most {max_quantity}")
    now = datetime.now(UTC)
    start = now if info.get("start") is None else to_timestamp(info["start"])
    if start is None:
        raise BadRequest("start must be a date (ISO 8601 or ms since the epoch)")
    start = max(start, now - timedelta(minutes=5))  # no back-dated licenses
    expires: datetime | None = None
    if info.get("end") is not None:
        expires = to_timestamp(info["end"])
        if expires is None:
            raise BadRequest("end must be a date (ISO 8601 or ms since the epoch)")
    elif info.get("days") is not None:
        days = info["days"]
        if isinstance(days, bool) or not isinstance(days, int | float) or days <= 0:
            raise BadRequest("days must be a number > 0")
        expires = start + timedelta(days=days)
    if expires is not None and expires <= start:
        raise BadRequest("end must be after start")
    longest = start + timedelta(days=max_days)
    if expires is None:
        expires = longest  # "no end" means the longest a license may run
    elif expires > longest:
        raise BadRequest(f"a license may run at most {max_days:g} days")
    return quota, quantity, start, expires


def _num(info: dict[str, Any], key: str, factor: float) -> float | None:
    value = info.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise quotas.InvalidUpgrades(f"info.{key} must be a number >= 0")
    return value * factor


@routes.handler(PurchaseLicense, not_signed_in_text=BILLING_TEXT)
async def purchase_license(msg: PurchaseLicense, ctx: Context) -> PurchaseLicenseResp:
    identity = ctx.identity
    assert identity is not None
    settings = ctx.hub.settings
    if identity.project_id is not None:
        raise PermissionDenied("a project-scoped API key cannot purchase licenses")
    if not (identity.is_admin or settings.licenses_self_service):
        raise PermissionDenied(NOT_SELF_SERVICE)
    account_id = identity.account_id
    if msg.info.get("account_id") is not None:
        if not identity.is_admin:
            raise PermissionDenied("only an admin may grant a license to another account")
        try:
            account_id = UUID(str(msg.info["account_id"]))
        except ValueError:
            raise BadRequest("info.account_id must be a uuid") from None
        target = await accounts.by_id(ctx.hub.db, account_id)
        if target is None or target.deleted:
            raise BadRequest(f"no such account {account_id}")
    quota, quantity, start, expires = license_terms(
        msg.info, max_quantity=settings.license_max_quantity, max_days=settings.license_max_days
    )
    lic = await license_table.create(
        ctx.hub.db,
        account_id,
        quota,
        quantity,
        start,
        expires,
        granted_by=identity.account_id if identity.is_admin else None,
        source={"via": "purchase_license", "info": msg.info},
    )
    return PurchaseLicenseResp(id=msg.id, resp=lic.id)


@routes.handler(GetAvailableUpgrades, not_signed_in_text=BILLING_TEXT)
async def get_available_upgrades(msg: GetAvailableUpgrades, ctx: Context) -> AvailableUpgrades:
    identity = ctx.identity
    assert identity is not None
    result = await available_for(ctx, identity.account_id)
    return AvailableUpgrades(
        id=msg.id, total=result.total, excess=result.excess, available=result.available
    )


async def available_for(ctx: Context, account_id: UUID) -> licenses.Available:
    held = await license_table.of_account(ctx.hub.db, account_id)
    applied = await license_table.applied_by(ctx.hub.db, account_id)
    return licenses.available(licenses.total(held), applied)


@routes.handler(RemoveAllUpgrades, not_signed_in_text=BILLING_TEXT)
async def remove_all_upgrades(msg: RemoveAllUpgrades, ctx: Context) -> Success:
    identity = ctx.identity
    assert identity is not None
    projects = None if isinstance(msg.projects, UnsetType) else list(msg.projects)
    if identity.project_id is not None:
        # a project-scoped key reaches its own project only
        projects = [p for p in (projects or [identity.project_id]) if p == identity.project_id]
    await license_table.remove_upgrades(ctx.hub.db, identity.account_id, projects)
    return Success(id=msg.id)
