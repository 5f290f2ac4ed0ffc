"""`BillingProvider` over Stripe's HTTP API, through the official `stripe` library.

Each operation opens its own short aiohttp session: billing calls are rare, and
a session per call needs no closing at hub stop. `api_base` points the library
at another server speaking Stripe's API (the tests' stand-in). The secret key
only ever goes into the Authorization header the library builds; it is never
logged, and Stripe's own texts about a bad key are replaced by ours.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any, cast

import aiohttp
import stripe
import structlog

from hub.billing.provider import BillingError, NewCustomer, Page, StripeObject

log = structlog.get_logger(__name__)

# the fields of a card that stripe_update_source may change (Stripe's card update API)
CARD_FIELDS = frozenset(
    {
        "address_city",
        "address_country",
        "address_line1",
        "address_line2",
        "address_state",
        "address_zip",
        "exp_month",
        "exp_year",
        "name",
        "metadata",
    }
)


def _plain(obj: Any) -> StripeObject:
    if isinstance(obj, stripe.StripeObject):
        return obj.to_dict(recursive=True, for_json=True)
    return dict(obj)


def _text(exc: stripe.StripeError) -> str:
    """What the user is told about a failed Stripe call (never the key, never a traceback)."""
    if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        return "the billing provider refused this server's credentials; tell the operator"
    if isinstance(exc, stripe.APIConnectionError):
        return "could not reach the billing provider; try again later"
    if isinstance(exc, stripe.RateLimitError):
        return "the billing provider is busy; try again in a moment"
    message = exc.user_message or "the billing provider refused the request"
    code = exc.code
    return f"Stripe: {message}" + (f" ({code})" if code else "")


def _params(values: dict[str, Any]) -> Any:
    # The library types params as TypedDicts; ours are built from checked input.
    return values


class StripeProvider:
    def __init__(
        self,
        secret_key: str,
        *,
        api_base: str = "",
        publishable_key: str = "",
        currency: str = "usd",
        timeout_s: float = 30.0,
        max_network_retries: int = 1,
    ) -> None:
        self._secret_key = secret_key
        self._api_base = api_base.rstrip("/")
        self._publishable_key = publishable_key
        self.currency = currency
        self._timeout_s = timeout_s
        self._retries = max_network_retries

    def __repr__(self) -> str:  # the secret key must not reach a log line
        return f"StripeProvider(api_base={self._api_base or stripe.DEFAULT_API_BASE!r})"

    @property
    def publishable_key(self) -> str | None:
        return self._publishable_key or None

    @contextlib.asynccontextmanager
    async def _client(self, operation: str) -> AsyncIterator[stripe.StripeClient]:
        timeout = aiohttp.ClientTimeout(total=self._timeout_s)
        async with aiohttp.ClientSession() as session:
            http = stripe.AIOHTTPClient(session=session, timeout=timeout)
            bases: Any = {"api": self._api_base} if self._api_base else None
            client = stripe.StripeClient(
                self._secret_key,
                base_addresses=bases,
                http_client=http,
                max_network_retries=self._retries,
            )
            try:
                yield client
            except stripe.StripeError as exc:
                log.info(
                    "billing call failed",
                    operation=operation,
                    status=exc.http_status,
                    code=exc.code,
                    kind=type(exc).__name__,
                )
                raise BillingError(_text(exc), code=exc.code) from None

    async def create_customer(self, customer: NewCustomer, *, idempotency_key: str) -> str:
        params: dict[str, Any] = {"metadata": {"account_id": str(customer.account_id)}}
        if customer.email:
            params["email"] = customer.email
        if customer.name:
            params["name"] = customer.name
        async with self._client("create_customer") as client:
            created = await client.v1.customers.create_async(
                _params(params), {"idempotency_key": idempotency_key}
            )
        return str(created.id)

    async def get_customer(self, customer_id: str) -> StripeObject:
        async with self._client("get_customer") as client:
            found = await client.v1.customers.retrieve_async(
                customer_id, _params({"expand": ["sources", "subscriptions"]})
            )
        return _plain(found)

    async def create_source(self, customer_id: str, token: str) -> StripeObject:
        async with self._client("create_source") as client:
            source = await client.v1.customers.payment_sources.create_async(
                customer_id, _params({"source": token})
            )
        return _plain(source)

    async def delete_source(self, customer_id: str, card_id: str) -> None:
        async with self._client("delete_source") as client:
            await client.v1.customers.payment_sources.delete_async(customer_id, card_id)

    async def set_default_source(self, customer_id: str, card_id: str) -> None:
        async with self._client("set_default_source") as client:
            await client.v1.customers.update_async(
                customer_id, _params({"default_source": card_id})
            )

    async def update_source(
        self, customer_id: str, card_id: str, info: dict[str, Any]
    ) -> StripeObject:
        async with self._client("update_source") as client:
            source = await client.v1.customers.payment_sources.update_async(
                customer_id, card_id, _params(info)
            )
        return _plain(source)

    async def list_plans(self) -> StripeObject:
        async with self._client("list_plans") as client:
            plans = await client.v1.plans.list_async(_params({"active": True, "limit": 100}))
        return _plain(plans)

    async def create_subscription(
        self,
        customer_id: str,
        plan: str,
        quantity: int,
        coupon_id: str | None,
        *,
        idempotency_key: str,
    ) -> StripeObject:
        # A plan id is accepted wherever Stripe takes a price id.
        params: dict[str, Any] = {
            "customer": customer_id,
            "items": [{"price": plan, "quantity": quantity}],
        }
        if coupon_id:
            params["discounts"] = [{"coupon": coupon_id}]
        async with self._client("create_subscription") as client:
            created = await client.v1.subscriptions.create_async(
                _params(params), {"idempotency_key": idempotency_key}
            )
        return _plain(created)

    async def get_subscription(self, subscription_id: str) -> StripeObject:
        async with self._client("get_subscription") as client:
            found = await client.v1.subscriptions.retrieve_async(subscription_id)
        return _plain(found)

    async def cancel_subscription(self, subscription_id: str, at_period_end: bool) -> None:
        async with self._client("cancel_subscription") as client:
            if at_period_end:
                await client.v1.subscriptions.update_async(
                    subscription_id, _params({"cancel_at_period_end": True})
                )
            else:
                await client.v1.subscriptions.cancel_async(subscription_id)

    async def update_subscription(
        self,
        subscription: StripeObject,
        *,
        quantity: int | None,
        plan: str | None,
        coupon_id: str | None,
        projects: list[str] | None,
    ) -> StripeObject:
        params: dict[str, Any] = {}
        item: dict[str, Any] = {}
        if quantity is not None:
            item["quantity"] = quantity
        if plan is not None:
            item["price"] = plan
        if item:
            items = cast(dict[str, Any], subscription.get("items") or {}).get("data") or []
            if not items:
                raise BillingError(f"subscription {subscription.get('id')} has no items to change")
            params["items"] = [{"id": items[0]["id"], **item}]
        if coupon_id is not None:
            params["discounts"] = [{"coupon": coupon_id}] if coupon_id else ""
        if projects is not None:
            params["metadata"] = {"projects": ",".join(projects)}
        async with self._client("update_subscription") as client:
            updated = await client.v1.subscriptions.update_async(
                str(subscription["id"]), _params(params)
            )
        return _plain(updated)

    async def list_subscriptions(self, customer_id: str, page: Page) -> StripeObject:
        async with self._client("list_subscriptions") as client:
            found = await client.v1.subscriptions.list_async(
                _params({"customer": customer_id, **page.params()})
            )
        return _plain(found)

    async def get_coupon(self, coupon_id: str) -> StripeObject:
        async with self._client("get_coupon") as client:
            coupon = await client.v1.coupons.retrieve_async(coupon_id)
        return _plain(coupon)

    async def list_charges(self, customer_id: str, page: Page) -> StripeObject:
        async with self._client("list_charges") as client:
            found = await client.v1.charges.list_async(
                _params({"customer": customer_id, **page.params()})
            )
        return _plain(found)

    async def list_invoices(self, customer_id: str, page: Page) -> StripeObject:
        async with self._client("list_invoices") as client:
            found = await client.v1.invoices.list_async(
                _params({"customer": customer_id, **page.params()})
            )
        return _plain(found)

    async def create_invoice_item(
        self, customer_id: str, amount_cents: int, description: str, *, idempotency_key: str
    ) -> StripeObject:
        params = {
            "customer": customer_id,
            "amount": amount_cents,
            "currency": self.currency,
            "description": description,
        }
        async with self._client("create_invoice_item") as client:
            item = await client.v1.invoice_items.create_async(
                _params(params), {"idempotency_key": idempotency_key}
            )
        return _plain(item)
