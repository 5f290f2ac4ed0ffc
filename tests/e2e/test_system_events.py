"""The small system events over the WebSocket: heartbeat, version, webapp_error and
user_tracking land where they should and answer as documented."""

from __future__ import annotations

from tests.e2e.test_projects import account, close
from tests.fixtures.timeouts import seconds


async def test_heartbeat_is_silent_and_keeps_the_connection(connect) -> None:
    async with connect() as c:
        await c.send({"event": "heartbeat"})
        await c.send({"event": "heartbeat", "id": "h1"})
        # nothing comes back for a heartbeat; the next request is answered as usual
        assert (await c.call("ping"))["event"] == "pong"
        while not c.pushes.empty():
            assert c.pushes.get_nowait().get("id") != "h1"


async def test_version_tells_an_old_client_what_is_recommended(connect) -> None:
    async with connect() as c:
        await c.send({"event": "version", "version": 1})
        assert (await c.call("ping"))["event"] == "pong"  # the current default asks nothing


async def test_webapp_error_and_user_tracking_are_stored(connect, hub) -> None:
    c, me = await account(connect, "tracked@example.com")
    try:
        ok = await c.call(
            "webapp_error",
            name="TypeError",
            message="x is undefined",
            stacktrace="at f (app.js:1:2)",
            file="app.js",
            lineNumber=1,
        )
        assert ok["event"] == "success"
        ok = await c.call("user_tracking", evt="opened", value={"page": "projects"})
        assert ok["event"] == "success"
        row = await hub.db.fetchrow(
            "SELECT name, message FROM webapp_errors WHERE account_id = $1", me["account_id"]
        )
        assert (row["name"], row["message"]) == ("TypeError", "x is undefined")
        tracked = await hub.db.fetchrow(
            "SELECT event, value FROM user_tracking WHERE account_id = $1", me["account_id"]
        )
        assert tracked["event"] == "opened"
        # a bad one is answered with an error carrying its id, not a dropped connection
        bad = await c.call("user_tracking", raise_errors=False, evt=5, value=1, wait_s=seconds(5))
        assert bad["event"] == "error" and "evt" in bad["error"]
    finally:
        await close(c)
