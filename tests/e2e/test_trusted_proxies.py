"""Behind a trusted proxy the client's address comes from X-Forwarded-For; from anyone
else the header is ignored, so nobody picks the address their limits count against."""

from __future__ import annotations

from typing import Any

import pytest

from hub.config import Settings
from hub.transport.addresses import parse_networks

SIGNUP = {"agreed_to_terms": True, "password": "proxy-pass-1"}


async def signup(http: Any, url: str, email: str, forwarded: str | None) -> dict[str, Any]:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    async with http.post(
        f"{url}/api/v1/create_account", json={**SIGNUP, "email_address": email}, headers=headers
    ) as r:
        return dict(await r.json())


@pytest.mark.parametrize(
    "hub_overrides", [{"signups_per_ip": 1, "trusted_proxies": "10.0.0.0/8, 127.0.0.1"}]
)
async def test_behind_a_trusted_proxy_each_client_has_its_own_limit(http, http_url) -> None:
    one = await signup(http, http_url, "a@example.com", "198.51.100.7")
    two = await signup(http, http_url, "b@example.com", "203.0.113.9, 10.1.2.3")
    assert one["event"] == two["event"] == "account_created"
    # the same client again is over its limit; a forged hop left of it changes nothing
    again = await signup(http, http_url, "c@example.com", "192.0.2.1, 198.51.100.7")
    assert again["event"] == "account_creation_failed", again


@pytest.mark.parametrize("hub_overrides", [{"signups_per_ip": 1}])
async def test_without_trusted_proxies_the_header_is_ignored(http, http_url) -> None:
    one = await signup(http, http_url, "d@example.com", "198.51.100.7")
    two = await signup(http, http_url, "e@example.com", "203.0.113.9")
    assert one["event"] == "account_created"
    assert two["event"] == "account_creation_failed", two  # both came from 127.0.0.1


def test_a_bad_entry_stops_the_start() -> None:
    with pytest.raises(ValueError, match=r"'10\.0\.0\.300' is not an address or network"):
        Settings.load(environ={}, trusted_proxies="10.0.0.0/8,10.0.0.300")
    assert [str(n) for n in parse_networks("::1, 10.0.0.0/8")] == ["::1/128", "10.0.0.0/8"]
