"""What the `stripe_*` events need from a payment provider, as one protocol.

The handlers speak only to a `BillingProvider`: `StripeProvider` calls Stripe,
`NotConfigured` (no secret key set) refuses every call with one clear text.
Objects cross this boundary as plain JSON dicts in Stripe's shapes (`object`,
`id`, lists as `{"object": "list", "data": [...], "has_more": ...}`), because
that is what the reference's reply events carry to clients.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from hub.errors import HubError

StripeObject = dict[str, Any]

NOT_CONFIGURED = "billing is not configured on this server"


class BillingError(HubError):
    """The provider refused or failed a call; `text` is safe to show the user."""

    def __init__(self, text: str, *, code: str | None = None) -> None:
        super().__init__(text)
        self.code = code  # the provider's error code, e.g. card_declined, resource_missing


class BillingNotConfigured(BillingError):
    def __init__(self) -> None:
        super().__init__(NOT_CONFIGURED)


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a list: at most `limit` entries before or after an object id."""

    limit: int | None = None
    starting_after: str | None = None
    ending_before: str | None = None

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.limit is not None:
            out["limit"] = self.limit
        if self.starting_after:
            out["starting_after"] = self.starting_after
        if self.ending_before:
            out["ending_before"] = self.ending_before
        return out


@dataclass(frozen=True, slots=True)
class NewCustomer:
    account_id: UUID
    email: str | None
    name: str | None


class BillingProvider(Protocol):
    """One method per operation of the `stripe_*` events.

    `idempotency_key` makes a create safe to repeat: the provider answers a
    repeat with the first result instead of creating a second object.
    """

    @property
    def publishable_key(self) -> str | None: ...

    async def create_customer(self, customer: NewCustomer, *, idempotency_key: str) -> str:
        """A new customer for the account; returns its id."""

    async def get_customer(self, customer_id: str) -> StripeObject:
        """The customer with its payment sources and subscriptions expanded."""

    async def create_source(self, customer_id: str, token: str) -> StripeObject: ...

    async def delete_source(self, customer_id: str, card_id: str) -> None: ...

    async def set_default_source(self, customer_id: str, card_id: str) -> None: ...

    async def update_source(
        self, customer_id: str, card_id: str, info: dict[str, Any]
    ) -> StripeObject: ...

    async def list_plans(self) -> StripeObject: ...

    async def create_subscription(
        self,
        customer_id: str,
        plan: str,
        quantity: int,
        coupon_id: str | None,
        *,
        idempotency_key: str,
    ) -> StripeObject: ...

    async def get_subscription(self, subscription_id: str) -> StripeObject: ...

    async def cancel_subscription(self, subscription_id: str, at_period_end: bool) -> None: ...

    async def update_subscription(
        self,
        subscription: StripeObject,
        *,
        quantity: int | None,
        plan: str | None,
        coupon_id: str | None,
        projects: list[str] | None,
    ) -> StripeObject: ...

    async def list_subscriptions(self, customer_id: str, page: Page) -> StripeObject: ...

    async def get_coupon(self, coupon_id: str) -> StripeObject: ...

    async def list_charges(self, customer_id: str, page: Page) -> StripeObject: ...

    async def list_invoices(self, customer_id: str, page: Page) -> StripeObject: ...

    async def create_invoice_item(
        self, customer_id: str, amount_cents: int, description: str, *, idempotency_key: str
    ) -> StripeObject: ...


class NotConfigured:
    """The provider of a hub without a Stripe secret key: every call is refused."""

    @property
    def publishable_key(self) -> str | None:
        return None

    async def create_customer(self, customer: NewCustomer, *, idempotency_key: str) -> str:
        raise BillingNotConfigured()

    async def get_customer(self, customer_id: str) -> StripeObject:
        raise BillingNotConfigured()

    async def create_source(self, customer_id: str, token: str) -> StripeObject:
        raise BillingNotConfigured()

    async def delete_source(self, customer_id: str, card_id: str) -> None:
        raise BillingNotConfigured()

    async def set_default_source(self, customer_id: str, card_id: str) -> None:
        raise BillingNotConfigured()

    async def update_source(
        self, customer_id: str, card_id: str, info: dict[str, Any]
    ) -> StripeObject:
        raise BillingNotConfigured()

    async def list_plans(self) -> StripeObject:
        raise BillingNotConfigured()

    async def create_subscription(
        self,
        customer_id: str,
        plan: str,
        quantity: int,
        coupon_id: str | None,
        *,
        idempotency_key: str,
    ) -> StripeObject:
        raise BillingNotConfigured()

    async def get_subscription(self, subscription_id: str) -> StripeObject:
        raise BillingNotConfigured()

    async def cancel_subscription(self, subscription_id: str, at_period_end: bool) -> None:
        raise BillingNotConfigured()

    async def update_subscription(
        self,
        subscription: StripeObject,
        *,
        quantity: int | None,
        plan: str | None,
        coupon_id: str | None,
        projects: list[str] | None,
    ) -> StripeObject:
        raise BillingNotConfigured()

    async def list_subscriptions(self, customer_id: str, page: Page) -> StripeObject:
        raise BillingNotConfigured()

    async def get_coupon(self, coupon_id: str) -> StripeObject:
        raise BillingNotConfigured()

    async def list_charges(self, customer_id: str, page: Page) -> StripeObject:
        raise BillingNotConfigured()

    async def list_invoices(self, customer_id: str, page: Page) -> StripeObject:
        raise BillingNotConfigured()

    async def create_invoice_item(
        self, customer_id: str, amount_cents: int, description: str, *, idempotency_key: str
    ) -> StripeObject:
        raise BillingNotConfigured()
