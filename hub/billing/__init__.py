"""Billing: the `stripe_*` events' provider, chosen from the settings."""

from __future__ import annotations

from hub.billing.provider import (
    NOT_CONFIGURED,
    BillingError,
    BillingNotConfigured,
    BillingProvider,
    NewCustomer,
    NotConfigured,
    Page,
    StripeObject,
)
from hub.billing.stripe_provider import StripeProvider
from hub.config import Settings

__all__ = [
    "NOT_CONFIGURED",
    "BillingError",
    "BillingNotConfigured",
    "BillingProvider",
    "NewCustomer",
    "NotConfigured",
    "Page",
    "StripeObject",
    "StripeProvider",
    "provider_for",
]


def provider_for(settings: Settings) -> BillingProvider:
    """Stripe when a secret key is set; otherwise a provider that refuses every call."""
    if not settings.stripe_secret_key:
        return NotConfigured()
    return StripeProvider(
        settings.stripe_secret_key,
        api_base=settings.stripe_api_base,
        publishable_key=settings.stripe_publishable_key,
        currency=settings.stripe_currency,
        timeout_s=settings.stripe_timeout_s,
    )
