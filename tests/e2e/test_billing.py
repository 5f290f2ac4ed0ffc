"""Billing end to end: the `stripe_*` events over the WebSocket and the HTTP API, through
the real `stripe` library, against a local server that speaks Stripe's HTTP API."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg
import pytest

from hub.billing import NOT_CONFIGURED, BillingError, StripeProvider
from hub.config import Settings
from hub.shell_accounts import create_account_from_shell
from tests.fixtures.hub import basic_auth
from tests.fixtures.stripe_standin import (
    PUBLISHABLE_KEY,
    SECRET_KEY,
    StripeStandin,
    stripe_standin,  # noqa: F401  (the fixture)
)

PASSWORD = "billing-pass-1"
NOT_SIGNED_IN = "You must be signed in to use billing related functions."

# every stripe_* event a client may send, with valid fields
REQUESTS: dict[str, dict[str, Any]] = {
    "stripe_get_customer": {},
    "stripe_customer": {},
    "stripe_create_source": {"token": "tok_visa"},
    "stripe_delete_source": {"card_id": "card_1"},
    "stripe_set_default_source": {"card_id": "card_1"},
    "stripe_update_source": {"card_id": "card_1", "info": {"address_zip": "10115"}},
    "stripe_plans": {"plans": []},
    "stripe_create_subscription": {"plan": "standard", "quantity": 1},
    "stripe_cancel_subscription": {"subscription_id": "sub_1"},
    "stripe_update_subscription": {"subscription_id": "sub_1", "quantity": 2},
    "stripe_get_subscriptions": {},
    "stripe_get_coupon": {"coupon_id": "WELCOME"},
    "stripe_get_charges": {},
    "stripe_get_invoices": {},
    "stripe_admin_create_invoice_item": {
        "email_address": "x@example.com",
        "amount": 5,
        "description": "d",
    },
}
API_EVENTS = [e for e in REQUESTS if e != "stripe_admin_create_invoice_item"]


@pytest.fixture
def hub_overrides(stripe_standin: StripeStandin) -> dict[str, Any]:  # noqa: F811
    return {
        "stripe_secret_key": SECRET_KEY,
        "stripe_publishable_key": PUBLISHABLE_KEY,
        "stripe_api_base": stripe_standin.url,
    }


async def ask(client: Any, event: str, **fields: Any) -> dict[str, Any]:
    """The reply, errors included (the client raises on errors by default)."""
    reply: dict[str, Any] = await client.call(event, raise_errors=False, **fields)
    return reply


async def sign_up(client: Any, email: str) -> dict[str, Any]:
    me = await ask(
        client,
        "create_account",
        email_address=email,
        password=PASSWORD,
        first_name="Ada",
        last_name="Lovelace",
        agreed_to_terms=True,
        get_api_key=True,
    )
    assert me["event"] == "signed_in", me
    return dict(me)


async def stripe_customer_id(dsn: str, account_id: str) -> str | None:
    conn = await asyncpg.connect(dsn)
    try:
        value = await conn.fetchval(
            "SELECT stripe_customer_id FROM accounts WHERE account_id = $1::uuid", account_id
        )
        return str(value) if value is not None else None
    finally:
        await conn.close()


async def stored_customer(dsn: str, account_id: str) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        value = await conn.fetchval(
            "SELECT stripe_customer::text FROM accounts WHERE account_id = $1::uuid", account_id
        )
    finally:
        await conn.close()
    found: dict[str, Any] = json.loads(value)
    return found


async def test_cards_plans_subscriptions_over_websocket(
    connect: Any,
    dsn: str,
    stripe_standin: StripeStandin,  # noqa: F811
) -> None:
    async with connect() as c:
        me = await sign_up(c, "ada@example.com")
        account_id = me["account_id"]

        first = await ask(c, "stripe_get_customer")
        assert first["event"] == "stripe_customer"
        assert first["stripe_publishable_key"] == PUBLISHABLE_KEY
        assert "customer" not in first
        assert not stripe_standin.requests  # nothing to ask Stripe yet

        assert (await ask(c, "stripe_create_source", token="tok_visa"))["event"] == "success"
        [create] = stripe_standin.calls("POST", "/v1/customers")
        assert create.headers["Authorization"] == f"Bearer {SECRET_KEY}"
        assert create.headers["Idempotency-Key"] == f"hub-customer-{account_id}"
        assert create.params["metadata"] == {"account_id": account_id}
        assert create.params["email"] == "ada@example.com"
        assert create.params["name"] == "Ada Lovelace"
        cid = await stripe_customer_id(dsn, account_id)
        assert cid is not None and cid in stripe_standin.customers
        [attach] = stripe_standin.calls("POST", f"/v1/customers/{cid}/sources")
        assert attach.params == {"source": "tok_visa"}

        got = await ask(c, "stripe_get_customer")
        customer = got["customer"]
        assert customer["id"] == cid and customer["object"] == "customer"
        [card] = customer["sources"]["data"]
        assert card["last4"] == "4242"
        assert customer["default_source"] == card["id"]

        # a second card: the customer is reused, not made again
        assert (await ask(c, "stripe_create_source", token="tok_mastercard"))["event"] == "success"
        assert len(stripe_standin.calls("POST", "/v1/customers")) == 1
        cards = stripe_standin.customers[cid]["_sources"]
        second = cards[1]["id"]
        reply = await ask(c, "stripe_set_default_source", card_id=second)
        assert reply["event"] == "success"
        assert stripe_standin.customers[cid]["default_source"] == second
        reply = await ask(
            c, "stripe_update_source", card_id=second, info={"address_zip": "10115", "name": "A L"}
        )
        assert reply["event"] == "success"
        assert cards[1]["address_zip"] == "10115"
        bad = await ask(c, "stripe_update_source", card_id=second, info={"customer": "cus_x"})
        assert bad["event"] == "error" and "info may set only" in bad["error"]
        assert (await ask(c, "stripe_delete_source", card_id=second))["event"] == "success"
        assert [x["id"] for x in cards] == [card["id"]]
        gone = await ask(c, "stripe_delete_source", card_id=second)
        assert gone == {
            "event": "error",
            "id": gone["id"],
            "error": f"Stripe: No such source: '{second}' (resource_missing)",
        }

        plans = await ask(c, "stripe_plans", plans=[])
        assert plans["event"] == "stripe_plans"
        assert [p["id"] for p in plans["plans"]["data"]] == ["standard", "premium"]

        coupon = await ask(c, "stripe_get_coupon", coupon_id="WELCOME")
        assert coupon["event"] == "stripe_coupon" and coupon["coupon"]["percent_off"] == 25
        expired = await ask(c, "stripe_get_coupon", coupon_id="EXPIRED")
        assert expired["error"] == "coupon 'EXPIRED' is no longer valid"
        nope = await ask(c, "stripe_get_coupon", coupon_id="NOPE")
        assert nope["error"] == "Stripe: No such coupon: 'NOPE' (resource_missing)"

        reply = await ask(
            c, "stripe_create_subscription", plan="standard", quantity=2, coupon_id="WELCOME"
        )
        assert reply["event"] == "success"
        [sub_call] = stripe_standin.calls("POST", "/v1/subscriptions")
        assert sub_call.params["customer"] == cid
        assert sub_call.params["items"] == [{"price": "standard", "quantity": "2"}]
        assert sub_call.params["discounts"] == [{"coupon": "WELCOME"}]
        assert sub_call.headers["Idempotency-Key"] == f"hub-subscription-{account_id}-{reply['id']}"

        subs = await ask(c, "stripe_get_subscriptions", limit=10)
        assert subs["event"] == "stripe_subscriptions"
        [sub] = subs["subscriptions"]["data"]
        assert sub["items"]["data"][0]["quantity"] == 2
        project = "0b6a8e4c-5a3f-4f55-9d3e-8a1f2f1e0b11"
        reply = await ask(
            c,
            "stripe_update_subscription",
            subscription_id=sub["id"],
            quantity=3,
            plan="premium",
            projects=[project],
        )
        assert reply["event"] == "success"
        stored = stripe_standin.subscriptions[sub["id"]]
        assert stored["items"]["data"][0]["quantity"] == 3
        assert stored["items"]["data"][0]["plan"]["id"] == "premium"
        assert stored["metadata"] == {"projects": project}
        too_many = await ask(c, "stripe_update_subscription", subscription_id=sub["id"], quantity=0)
        assert too_many["error"] == (
            "stripe_update_subscription: quantity must be between 1 and 10000"
        )

        reply = await ask(c, "stripe_cancel_subscription", subscription_id=sub["id"])
        assert reply["event"] == "success"
        assert stored["cancel_at_period_end"] is True and stored["status"] == "active"
        reply = await ask(
            c, "stripe_cancel_subscription", subscription_id=sub["id"], at_period_end=False
        )
        assert reply["event"] == "success" and stored["status"] == "canceled"
        subs = await ask(c, "stripe_get_subscriptions")
        assert subs["subscriptions"]["data"] == []

        # the customer record kept in the database follows the changes
        kept = await stored_customer(dsn, account_id)
        assert kept["id"] == cid and kept["subscriptions"]["data"] == []
        assert [x["id"] for x in kept["sources"]["data"]] == [card["id"]]

        stripe_standin.add_charge(cid, 700)
        stripe_standin.add_charge(cid, 1400)
        charges = await ask(c, "stripe_get_charges", limit=1)
        assert charges["event"] == "stripe_charges"
        assert len(charges["charges"]["data"]) == 1 and charges["charges"]["has_more"] is True
        after = await ask(
            c, "stripe_get_charges", starting_after=charges["charges"]["data"][0]["id"]
        )
        assert [x["amount"] for x in after["charges"]["data"]] == [1400]
        bad_limit = await ask(c, "stripe_get_charges", limit=101)
        assert bad_limit["error"] == "stripe_get_charges: limit must be between 1 and 100"
        stripe_standin.add_invoice(cid, 700)
        invoices = await ask(c, "stripe_get_invoices")
        assert invoices["event"] == "stripe_invoices"
        assert [i["amount_due"] for i in invoices["invoices"]["data"]] == [700]


async def test_every_api_event_over_http(
    connect: Any,
    http: Any,
    http_url: str,
    stripe_standin: StripeStandin,  # noqa: F811
) -> None:
    async with connect() as c:
        me = await sign_up(c, "grace@example.com")
    auth = basic_auth(me["api_key"])

    async def post(event: str, **body: Any) -> dict[str, Any]:
        async with http.post(f"{http_url}/api/v1/{event}", json=body, headers=auth) as r:
            assert r.status == 200, await r.text()
            reply: dict[str, Any] = await r.json()
            return reply

    empty = await post("stripe_get_customer")
    assert empty["event"] == "stripe_customer" and "customer" not in empty
    for event in ("stripe_get_subscriptions", "stripe_get_charges", "stripe_get_invoices"):
        reply = await post(event)
        assert reply["event"] == event.replace("get_", "")
        assert reply[event.removeprefix("stripe_get_")]["data"] == []
    # a form body, as curl -d sends it
    async with http.post(
        f"{http_url}/api/v1/stripe_create_source", data={"token": "tok_visa"}, headers=auth
    ) as r:
        assert (await r.json())["event"] == "success"
    customer = (await post("stripe_customer"))["customer"]
    card = customer["sources"]["data"][0]["id"]
    assert (await post("stripe_set_default_source", card_id=card))["event"] == "success"
    reply = await post("stripe_update_source", card_id=card, info={"exp_month": 11})
    assert reply["event"] == "success"
    assert (await post("stripe_plans", plans=[]))["plans"]["data"][0]["id"] == "standard"
    assert (await post("stripe_get_coupon", coupon_id="WELCOME"))["event"] == "stripe_coupon"
    assert (await post("stripe_create_subscription", plan="standard"))["event"] == "success"
    sub = (await post("stripe_get_subscriptions"))["subscriptions"]["data"][0]
    assert sub["items"]["data"][0]["quantity"] == 1  # message.js's default quantity
    reply = await post("stripe_update_subscription", subscription_id=sub["id"], quantity=4)
    assert reply["event"] == "success"
    reply = await post("stripe_cancel_subscription", subscription_id=sub["id"])
    assert reply["event"] == "success"
    assert (await post("stripe_delete_source", card_id=card))["event"] == "success"
    stripe_standin.add_charge(customer["id"], 500)
    stripe_standin.add_invoice(customer["id"], 500)
    assert len((await post("stripe_get_charges", limit=5))["charges"]["data"]) == 1
    assert len((await post("stripe_get_invoices", limit=5))["invoices"]["data"]) == 1
    # the admin event is not in the API set
    async with http.post(
        f"{http_url}/api/v1/stripe_admin_create_invoice_item", json={}, headers=auth
    ) as r:
        assert r.status == 404


async def test_declined_card_is_a_clear_error(
    connect: Any,
    http: Any,
    http_url: str,
    stripe_standin: StripeStandin,  # noqa: F811
) -> None:
    async with connect() as c:
        me = await sign_up(c, "declined@example.com")
        reply = await ask(c, "stripe_create_source", token="tok_chargeDeclined")
        assert reply == {
            "event": "error",
            "id": reply["id"],
            "error": "Stripe: Your card was declined. (card_declined)",
        }
        # no card, so no subscription either, and the hub says why
        no_card = await ask(c, "stripe_create_subscription", plan="standard")
        assert no_card["event"] == "error"
        assert "no attached payment source" in no_card["error"]
        assert (await ask(c, "ping"))["event"] == "pong"  # the connection is fine
    async with http.post(
        f"{http_url}/api/v1/stripe_create_source",
        data={"token": "tok_chargeDeclined"},
        headers=basic_auth(me["api_key"]),
    ) as r:
        assert r.status == 200
        body = await r.json()
    assert body["event"] == "error" and body["error"].endswith("(card_declined)")


async def test_wrong_key_and_unreachable_provider(stripe_standin: StripeStandin) -> None:  # noqa: F811
    wrong = StripeProvider("sk_test_wrong", api_base=stripe_standin.url)
    with pytest.raises(BillingError) as refused:
        await wrong.get_coupon("WELCOME")
    # Stripe's text names part of the key; the user sees ours
    assert refused.value.text == (
        "the billing provider refused this server's credentials; tell the operator"
    )
    down = StripeProvider(SECRET_KEY, api_base="http://127.0.0.1:9", max_network_retries=0)
    with pytest.raises(BillingError) as unreachable:
        await down.list_plans()
    assert unreachable.value.text == "could not reach the billing provider; try again later"


async def test_racing_first_cards_make_one_customer(
    connect: Any,
    dsn: str,
    stripe_standin: StripeStandin,  # noqa: F811
) -> None:
    async with connect() as c, connect() as d:
        me = await sign_up(c, "racer@example.com")
        await d.sign_in("racer@example.com", PASSWORD)
        replies = await asyncio.gather(
            ask(c, "stripe_create_source", token="tok_visa"),
            ask(d, "stripe_create_source", token="tok_mastercard"),
        )
        assert [r["event"] for r in replies] == ["success", "success"]
    assert len(stripe_standin.customers) == 1
    [cid] = stripe_standin.customers
    assert await stripe_customer_id(dsn, me["account_id"]) == cid
    assert len(stripe_standin.customers[cid]["_sources"]) == 2


async def test_subscriptions_of_others_are_out_of_reach(
    connect: Any,
    stripe_standin: StripeStandin,  # noqa: F811
) -> None:
    async with connect() as a, connect() as b:
        await sign_up(a, "owner@example.com")
        await sign_up(b, "other@example.com")
        assert (await ask(a, "stripe_create_source", token="tok_visa"))["event"] == "success"
        assert (await ask(a, "stripe_create_subscription", plan="standard"))["event"] == "success"
        sub_id = next(iter(stripe_standin.subscriptions))
        for event, extra in (
            ("stripe_cancel_subscription", {"at_period_end": False}),
            ("stripe_update_subscription", {"quantity": 9}),
        ):
            reply = await ask(b, event, subscription_id=sub_id, **extra)
            assert reply["error"] == f"no subscription '{sub_id}' belongs to this account"
        assert (await ask(b, "stripe_create_source", token="tok_visa"))["event"] == "success"
        reply = await ask(b, "stripe_cancel_subscription", subscription_id=sub_id)
        assert reply["error"] == f"no subscription '{sub_id}' belongs to this account"
        missing = await ask(b, "stripe_cancel_subscription", subscription_id="sub_nope")
        assert missing["error"] == "no subscription 'sub_nope' belongs to this account"
        assert stripe_standin.subscriptions[sub_id]["status"] == "active"
        reply = await ask(b, "stripe_delete_source", card_id="../../customers")
        assert reply["error"] == "card_id is not a valid id"


async def test_admin_invoice_item(
    connect: Any,
    hub: Any,
    dsn: str,
    stripe_standin: StripeStandin,  # noqa: F811
) -> None:
    admin = await create_account_from_shell(
        dsn,
        hub.settings,
        email="root@example.com",
        password=PASSWORD,
        first_name="Ad",
        last_name="Min",
        admin=True,
        api_key=False,
    )
    async with connect() as user, connect() as root:
        me = await sign_up(user, "billed@example.com")
        args = {"email_address": "billed@example.com", "amount": 12.5, "description": "Support"}
        refused = await ask(user, "stripe_admin_create_invoice_item", **args)
        assert refused["error"] == (
            "stripe_admin_create_invoice_item: only an admin may bill accounts"
        )
        assert not stripe_standin.requests

        signed = await root.sign_in("root@example.com", PASSWORD)
        assert signed["account_id"] == admin["account_id"]
        reply = await ask(root, "stripe_admin_create_invoice_item", **args)
        assert reply["event"] == "success"
        [item] = stripe_standin.invoice_items
        assert item["amount"] == 1250 and item["currency"] == "usd"
        assert item["description"] == "Support"
        cid = await stripe_customer_id(dsn, me["account_id"])
        assert item["customer"] == cid  # the billed account got its customer
        [call] = stripe_standin.calls("POST", "/v1/invoiceitems")
        assert call.headers["Idempotency-Key"].startswith(f"hub-invoice-item-{admin['account_id']}")

        by_id = await ask(
            root,
            "stripe_admin_create_invoice_item",
            account_id=me["account_id"],
            amount=1,
            description="Again",
        )
        assert by_id["event"] == "success" and len(stripe_standin.invoice_items) == 2
        for bad, text in (
            ({"amount": 0}, "amount must be between 0.01 and 1000000"),
            ({"amount": 1_000_001}, "amount must be between 0.01 and 1000000"),
            ({"description": ""}, "description must be given"),
            ({"email_address": "nobody@example.com"}, "no such account"),
        ):
            reply = await ask(root, "stripe_admin_create_invoice_item", **{**args, **bad})
            assert reply["event"] == "error" and text in reply["error"], reply
        assert len(stripe_standin.invoice_items) == 2


async def test_not_signed_in(connect: Any, http: Any, http_url: str) -> None:
    async with connect() as c:
        for event, fields in REQUESTS.items():
            reply = await ask(c, event, **fields)
            assert reply["event"] == "error", (event, reply)
            assert reply["error"] == NOT_SIGNED_IN, (event, reply)
    async with http.post(f"{http_url}/api/v1/stripe_get_customer", json={}) as r:
        assert r.status == 401


@pytest.mark.parametrize("hub_overrides", [{}])
async def test_not_configured(connect: Any, dsn: str, http: Any, http_url: str) -> None:
    async with connect() as c:
        me = await sign_up(c, "free@example.com")
        for event, fields in REQUESTS.items():
            if event == "stripe_admin_create_invoice_item":
                continue  # refused to non-admins before anything else (tested above)
            reply = await ask(c, event, **fields)
            assert reply == {"event": "error", "id": reply["id"], "error": NOT_CONFIGURED}, event
    auth = basic_auth(me["api_key"])
    for event in API_EVENTS:
        async with http.post(
            f"{http_url}/api/v1/{event}", json={"id": f"r-{event}", **REQUESTS[event]}, headers=auth
        ) as r:
            assert r.status == 200
            reply = await r.json()
        assert reply == {"event": "error", "id": f"r-{event}", "error": NOT_CONFIGURED}
    assert await stripe_customer_id(dsn, me["account_id"]) is None


def test_secret_key_hidden_from_repr() -> None:

    settings = Settings.load(environ={"HUB_STRIPE_SECRET_KEY": SECRET_KEY})
    assert settings.stripe_secret_key == SECRET_KEY
    assert SECRET_KEY not in repr(settings)
    assert SECRET_KEY not in repr(StripeProvider(SECRET_KEY))
