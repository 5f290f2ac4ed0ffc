"""What an operator sees: metrics, health, one log line per connection, re-checked cookies."""

from __future__ import annotations

import pytest
import structlog

from tests.fixtures.timeouts import seconds

PASSWORD = "observable-1"


async def test_metrics_count_connections_events_latency_and_errors(connect, http, http_url) -> None:
    async with connect() as c:
        await c.call("ping")
        await c.call("no_such_event", raise_errors=False)
        async with http.get(f"{http_url}/metrics") as r:
            assert r.status == 200
            text = await r.text()
    assert "hub_websocket_connections 1.0" in text
    assert 'hub_messages_total{event="ping",transport="websocket"} 1.0' in text
    assert 'hub_handler_seconds_count{event="ping"} 1.0' in text
    assert 'hub_errors_total{kind="unknown_event"} 1.0' in text
    assert "hub_database_up 1.0" in text


async def test_one_log_line_at_connect_and_disconnect_without_secrets(connect) -> None:
    with structlog.testing.capture_logs() as logs:
        async with connect() as c:
            await c.call(
                "create_account",
                email_address="logs@example.com",
                password=PASSWORD,
                agreed_to_terms=True,
                get_api_key=True,
            )
            for _ in range(5):
                await c.call("ping")
        await c.closed.wait()
    lifecycle = [e for e in logs if e["event"] in ("connect", "disconnect")]
    assert [e["event"] for e in lifecycle] == ["connect", "disconnect"]
    assert lifecycle[1]["received"] == 6
    assert PASSWORD not in repr(logs)
    assert "sk_" not in repr(logs)


@pytest.mark.parametrize("hub_overrides", [{"remember_me_recheck_s": 0.2}])
async def test_cookie_sessions_are_rechecked_and_signed_out_when_revoked(connect) -> None:
    async with connect() as c:
        await c.call(
            "create_account",
            email_address="recheck@example.com",
            password=PASSWORD,
            agreed_to_terms=True,
        )
        await c.call(
            "sign_in", email_address="recheck@example.com", password=PASSWORD, remember_me=True
        )
        while (push := await c.next_push())["event"] != "cookies":
            pass
        token = push["value"]
    async with connect(cookie=token) as long_lived:
        assert (await long_lived.next_push())["event"] == "signed_in"
        async with connect(cookie=token) as other:
            assert (await other.next_push())["event"] == "signed_in"
            await other.call("sign_out", everywhere=True)
        pushed = await long_lived.next_push(seconds(5))
        assert pushed == {"event": "remember_me_failed", "reason": "remember_me deleted or expired"}
        reply = await long_lived.call("api_key", action="get", raise_errors=False)
        assert reply["error"] == "not signed in"


async def test_healthz_is_ok_when_the_database_is(http, http_url) -> None:
    async with http.get(f"{http_url}/healthz") as r:
        assert r.status == 200
        assert await r.json() == {"status": "ok"}
