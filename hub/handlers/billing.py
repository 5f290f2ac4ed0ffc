"""The `stripe_*` events: the account's customer, cards, plans, subscriptions and bills.

Every handler goes through the `BillingProvider` chosen from the settings; a hub
without a Stripe secret key answers each event with "billing is not configured
on this server". The account's customer at the provider is made the first time
the account adds a payment method (or an admin bills it), and its id is kept in
`accounts.stripe_customer_id`. After a change the hub re-reads the customer and
keeps it in `accounts.stripe_customer`, so other code can see the subscriptions
without calling the provider.

A subscription is only touched after checking that it belongs to the caller's
customer; listing and reading need no customer (an account without one has
nothing to list).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from msgspec import UNSET, UnsetType

from hub.billing import (
    BillingError,
    BillingNotConfigured,
    BillingProvider,
    NewCustomer,
    NotConfigured,
    Page,
    StripeObject,
    customers,
    provider_for,
)
from hub.billing.stripe_provider import CARD_FIELDS
from hub.db import accounts
from hub.errors import BadRequest, NotSignedIn, PermissionDenied
from hub.handlers.context import Context
from hub.handlers.registry import HandlerFn, M, Routes
from hub.protocol import Reply
from hub.protocol.messages import (
    StripeAdminCreateInvoiceItem,
    StripeCancelSubscription,
    StripeCharges,
    StripeCoupon,
    StripeCreateSource,
    StripeCreateSubscription,
    StripeCustomer,
    StripeDeleteSource,
    StripeGetCharges,
    StripeGetCoupon,
    StripeGetCustomer,
    StripeGetInvoices,
    StripeGetSubscriptions,
    StripeInvoices,
    StripePlans,
    StripeSetDefaultSource,
    StripeSubscriptions,
    StripeUpdateSource,
    StripeUpdateSubscription,
    Success,
)

routes = Routes()

NOT_SIGNED_IN = "You must be signed in to use billing related functions."
NO_CUSTOMER = "this account has no payment method on file yet; add one with stripe_create_source"
MAX_ID_CHARS = 255  # Stripe object ids and tokens are far shorter
MAX_PAGE = 100  # Stripe's own limit for one page of a list
MAX_DESCRIPTION_CHARS = 500
MAX_QUANTITY = 10_000
MAX_INVOICE_ITEM_CENTS = 100_000_000  # one million in the currency's main unit


def _billing(
    msg_type: type[M],
) -> Callable[[Callable[[M, Context], Awaitable[Reply | None]]], HandlerFn]:
    return routes.handler(msg_type, not_signed_in_text=NOT_SIGNED_IN)


def _provider(ctx: Context) -> BillingProvider:
    provider = provider_for(ctx.hub.settings)
    if isinstance(provider, NotConfigured):
        raise BillingNotConfigured()
    return provider


def _me(ctx: Context) -> UUID:
    identity = ctx.identity
    if identity is None:
        raise NotSignedIn(NOT_SIGNED_IN)
    if identity.project_id is not None:
        raise PermissionDenied("a project's API key cannot be used for billing")
    return identity.account_id


def _stripe_id(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"{name} must be given")
    if len(value) > MAX_ID_CHARS or any(c.isspace() or c == "/" for c in value):
        raise BadRequest(f"{name} is not a valid id")
    return value


def _page(event: str, limit: Any, starting_after: Any, ending_before: Any) -> Page:
    if isinstance(limit, int) and not 1 <= limit <= MAX_PAGE:
        raise BadRequest(f"{event}: limit must be between 1 and {MAX_PAGE}")
    return Page(
        limit=limit if isinstance(limit, int) else None,
        starting_after=_optional_id("starting_after", starting_after),
        ending_before=_optional_id("ending_before", ending_before),
    )


def _optional_id(name: str, value: Any) -> str | None:
    return _stripe_id(name, value) if isinstance(value, str) and value else None


def _empty_list() -> StripeObject:
    return {"object": "list", "data": [], "has_more": False}


async def _customer_id(ctx: Context, account_id: UUID) -> str | None:
    return await customers.customer_id(ctx.hub.db, account_id)


async def _need_customer_id(ctx: Context, account_id: UUID) -> str:
    found = await _customer_id(ctx, account_id)
    if found is None:
        raise BadRequest(NO_CUSTOMER)
    return found


async def _ensure_customer(ctx: Context, provider: BillingProvider, account_id: UUID) -> str:
    """The account's customer, made at the provider (once) if it has none."""
    found = await _customer_id(ctx, account_id)
    if found is not None:
        return found
    row = await accounts.by_id(ctx.hub.db, account_id)
    if row is None or row.deleted:
        raise BadRequest(f"no account {account_id}")
    name = " ".join(p for p in (row.first_name, row.last_name) if p) or None
    # The same key for every try: two racing first payments make one customer, not two.
    created = await provider.create_customer(
        NewCustomer(account_id=account_id, email=row.email_address, name=name),
        idempotency_key=f"hub-customer-{account_id}",
    )
    return await customers.link(ctx.hub.db, account_id, created)


async def _refresh(ctx: Context, provider: BillingProvider, account_id: UUID, cid: str) -> None:
    customer = await provider.get_customer(cid)
    await customers.save_snapshot(ctx.hub.db, account_id, customer)


def _request_key(kind: str, account_id: UUID, msg_id: str | UnsetType) -> str:
    """An idempotency key: a client resending the same request id creates nothing twice."""
    suffix = msg_id if isinstance(msg_id, str) and msg_id else uuid.uuid4().hex
    return f"hub-{kind}-{account_id}-{suffix[:100]}"


async def _own_subscription(
    ctx: Context, provider: BillingProvider, account_id: UUID, subscription_id: Any
) -> StripeObject:
    sub_id = _stripe_id("subscription_id", subscription_id)
    not_yours = BadRequest(f"no subscription '{sub_id}' belongs to this account")
    cid = await _customer_id(ctx, account_id)
    if cid is None:
        raise not_yours
    try:
        subscription = await provider.get_subscription(sub_id)
    except BillingError as exc:
        if exc.code == "resource_missing":
            raise not_yours from None
        raise
    owner = subscription.get("customer")
    if isinstance(owner, dict):
        owner = owner.get("id")
    if owner != cid:
        raise not_yours
    return subscription


# ----------------------------------------------------------------------------- the customer


async def _customer_reply(msg_id: str | UnsetType, ctx: Context) -> StripeCustomer:
    provider = _provider(ctx)
    me = _me(ctx)
    key = provider.publishable_key or UNSET
    cid = await _customer_id(ctx, me)
    if cid is None:
        return StripeCustomer(id=msg_id, stripe_publishable_key=key)
    customer = await provider.get_customer(cid)
    if customer.get("deleted"):
        await customers.forget(ctx.hub.db, me)
        return StripeCustomer(id=msg_id, stripe_publishable_key=key)
    await customers.save_snapshot(ctx.hub.db, me, customer)
    return StripeCustomer(id=msg_id, customer=customer, stripe_publishable_key=key)


@_billing(StripeGetCustomer)
async def stripe_get_customer(msg: StripeGetCustomer, ctx: Context) -> StripeCustomer:
    return await _customer_reply(msg.id, ctx)


@_billing(StripeCustomer)
async def stripe_customer(msg: StripeCustomer, ctx: Context) -> StripeCustomer:
    # The reference makes this reply an API event; posting it reads the customer.
    return await _customer_reply(msg.id, ctx)


# ----------------------------------------------------------------------------- payment methods


@_billing(StripeCreateSource)
async def stripe_create_source(msg: StripeCreateSource, ctx: Context) -> Success:
    provider = _provider(ctx)
    me = _me(ctx)
    token = _stripe_id("token", msg.token)
    cid = await _ensure_customer(ctx, provider, me)
    await provider.create_source(cid, token)
    await _refresh(ctx, provider, me, cid)
    return Success(id=msg.id)


@_billing(StripeDeleteSource)
async def stripe_delete_source(msg: StripeDeleteSource, ctx: Context) -> Success:
    provider = _provider(ctx)
    me = _me(ctx)
    card_id = _stripe_id("card_id", msg.card_id)
    cid = await _need_customer_id(ctx, me)
    await provider.delete_source(cid, card_id)
    await _refresh(ctx, provider, me, cid)
    return Success(id=msg.id)


@_billing(StripeSetDefaultSource)
async def stripe_set_default_source(msg: StripeSetDefaultSource, ctx: Context) -> Success:
    provider = _provider(ctx)
    me = _me(ctx)
    card_id = _stripe_id("card_id", msg.card_id)
    cid = await _need_customer_id(ctx, me)
    await provider.set_default_source(cid, card_id)
    await _refresh(ctx, provider, me, cid)
    return Success(id=msg.id)


@_billing(StripeUpdateSource)
async def stripe_update_source(msg: StripeUpdateSource, ctx: Context) -> Success:
    provider = _provider(ctx)
    me = _me(ctx)
    card_id = _stripe_id("card_id", msg.card_id)
    unknown = sorted(set(msg.info) - CARD_FIELDS)
    if unknown or not msg.info:
        raise BadRequest(
            "stripe_update_source: info may set only " + ", ".join(sorted(CARD_FIELDS))
        )
    cid = await _need_customer_id(ctx, me)
    await provider.update_source(cid, card_id, dict(msg.info))
    await _refresh(ctx, provider, me, cid)
    return Success(id=msg.id)


# ------------------------------------------------------------------ plans and subscriptions


@_billing(StripePlans)
async def stripe_plans(msg: StripePlans, ctx: Context) -> StripePlans:
    # message.js has no stripe_get_plans: sending stripe_plans (any `plans`) asks for them.
    provider = _provider(ctx)
    _me(ctx)
    return StripePlans(id=msg.id, plans=await provider.list_plans())


def _quantity(event: str, value: int) -> int:
    if not 1 <= value <= MAX_QUANTITY:
        raise BadRequest(f"{event}: quantity must be between 1 and {MAX_QUANTITY}")
    return value


@_billing(StripeCreateSubscription)
async def stripe_create_subscription(msg: StripeCreateSubscription, ctx: Context) -> Success:
    provider = _provider(ctx)
    me = _me(ctx)
    plan = _stripe_id("plan", msg.plan)
    quantity = _quantity("stripe_create_subscription", msg.quantity)
    coupon = _optional_id("coupon_id", msg.coupon_id)
    cid = await _need_customer_id(ctx, me)
    await provider.create_subscription(
        cid, plan, quantity, coupon, idempotency_key=_request_key("subscription", me, msg.id)
    )
    await _refresh(ctx, provider, me, cid)
    return Success(id=msg.id)


@_billing(StripeCancelSubscription)
async def stripe_cancel_subscription(msg: StripeCancelSubscription, ctx: Context) -> Success:
    provider = _provider(ctx)
    me = _me(ctx)
    subscription = await _own_subscription(ctx, provider, me, msg.subscription_id)
    await provider.cancel_subscription(str(subscription["id"]), msg.at_period_end)
    await _refresh(ctx, provider, me, await _need_customer_id(ctx, me))
    return Success(id=msg.id)


def _projects(value: Any) -> list[str] | None:
    if value is UNSET:
        return None
    out: list[str] = []
    for entry in value:
        try:
            out.append(str(UUID(str(entry))))
        except ValueError:
            raise BadRequest("stripe_update_subscription: projects must be project ids") from None
    if len(",".join(out)) > MAX_DESCRIPTION_CHARS:  # Stripe's limit for one metadata value
        raise BadRequest("stripe_update_subscription: too many projects")
    return out


@_billing(StripeUpdateSubscription)
async def stripe_update_subscription(msg: StripeUpdateSubscription, ctx: Context) -> Success:
    provider = _provider(ctx)
    me = _me(ctx)
    quantity = (
        _quantity("stripe_update_subscription", msg.quantity)
        if isinstance(msg.quantity, int)
        else None
    )
    plan = _stripe_id("plan", msg.plan) if isinstance(msg.plan, str) else None
    coupon: str | None = None
    if isinstance(msg.coupon_id, str):
        coupon = _stripe_id("coupon_id", msg.coupon_id) if msg.coupon_id else ""
    projects = _projects(msg.projects)
    subscription = await _own_subscription(ctx, provider, me, msg.subscription_id)
    await provider.update_subscription(
        subscription, quantity=quantity, plan=plan, coupon_id=coupon, projects=projects
    )
    await _refresh(ctx, provider, me, await _need_customer_id(ctx, me))
    return Success(id=msg.id)


@_billing(StripeGetSubscriptions)
async def stripe_get_subscriptions(
    msg: StripeGetSubscriptions, ctx: Context
) -> StripeSubscriptions:
    provider = _provider(ctx)
    page = _page("stripe_get_subscriptions", msg.limit, msg.starting_after, msg.ending_before)
    cid = await _customer_id(ctx, _me(ctx))
    found = _empty_list() if cid is None else await provider.list_subscriptions(cid, page)
    return StripeSubscriptions(id=msg.id, subscriptions=found)


# ----------------------------------------------------------------------------- coupons and bills


@_billing(StripeGetCoupon)
async def stripe_get_coupon(msg: StripeGetCoupon, ctx: Context) -> StripeCoupon:
    provider = _provider(ctx)
    _me(ctx)
    coupon_id = _stripe_id("coupon_id", msg.coupon_id)
    coupon = await provider.get_coupon(coupon_id)
    if coupon.get("valid") is False:
        raise BadRequest(f"coupon '{coupon_id}' is no longer valid")
    return StripeCoupon(id=msg.id, coupon=coupon)


@_billing(StripeGetCharges)
async def stripe_get_charges(msg: StripeGetCharges, ctx: Context) -> StripeCharges:
    provider = _provider(ctx)
    page = _page("stripe_get_charges", msg.limit, msg.starting_after, msg.ending_before)
    cid = await _customer_id(ctx, _me(ctx))
    found = _empty_list() if cid is None else await provider.list_charges(cid, page)
    return StripeCharges(id=msg.id, charges=found)


@_billing(StripeGetInvoices)
async def stripe_get_invoices(msg: StripeGetInvoices, ctx: Context) -> StripeInvoices:
    provider = _provider(ctx)
    page = _page("stripe_get_invoices", msg.limit, msg.starting_after, msg.ending_before)
    cid = await _customer_id(ctx, _me(ctx))
    found = _empty_list() if cid is None else await provider.list_invoices(cid, page)
    return StripeInvoices(id=msg.id, invoices=found)


@_billing(StripeAdminCreateInvoiceItem)
async def stripe_admin_create_invoice_item(
    msg: StripeAdminCreateInvoiceItem, ctx: Context
) -> Success:
    identity = ctx.identity
    if identity is None or not identity.is_admin or identity.project_id is not None:
        raise PermissionDenied("stripe_admin_create_invoice_item: only an admin may bill accounts")
    provider = _provider(ctx)
    if isinstance(msg.account_id, UUID):
        target = await accounts.by_id(ctx.hub.db, msg.account_id)
    elif isinstance(msg.email_address, str) and msg.email_address:
        target = await accounts.by_email(ctx.hub.db, msg.email_address.strip().lower())
    else:
        raise BadRequest(
            "stripe_admin_create_invoice_item: account_id or email_address must be given"
        )
    if target is None or target.deleted:
        raise BadRequest("stripe_admin_create_invoice_item: no such account")
    if not isinstance(msg.amount, int | float) or isinstance(msg.amount, bool):
        raise BadRequest("stripe_admin_create_invoice_item: amount must be a number")
    cents = round(msg.amount * 100)
    if not 1 <= cents <= MAX_INVOICE_ITEM_CENTS:
        raise BadRequest(
            "stripe_admin_create_invoice_item: amount must be between 0.01 and "
            f"{MAX_INVOICE_ITEM_CENTS // 100}"
        )
    description = msg.description if isinstance(msg.description, str) else ""
    if not description.strip() or len(description) > MAX_DESCRIPTION_CHARS:
        raise BadRequest(
            "stripe_admin_create_invoice_item: description must be given "
            f"(at most {MAX_DESCRIPTION_CHARS} characters)"
        )
    cid = await _ensure_customer(ctx, provider, target.account_id)
    await provider.create_invoice_item(
        cid,
        cents,
        description,
        idempotency_key=_request_key("invoice-item", identity.account_id, msg.id),
    )
    return Success(id=msg.id)
