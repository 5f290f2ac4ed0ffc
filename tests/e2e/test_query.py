"""The `query` event from a client's side, as the reference's API examples show it."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.fixtures.hub import basic_auth

PASSWORD = "query-pass-1"


async def http_account(http: Any, url: str, email: str) -> dict[str, str]:
    async with http.post(
        f"{url}/api/v1/create_account",
        data={
            "email_address": email,
            "password": PASSWORD,
            "agreed_to_terms": "true",
            "first_name": "Q",
            "last_name": "User",
            "get_api_key": "true",
        },
    ) as r:
        body = await r.json()
    return basic_auth(body["api_key"]) | {"account_id": body["account_id"]}


async def q(http: Any, url: str, auth: dict[str, str], query: Any, **extra: Any) -> Any:
    headers = {"Authorization": auth["Authorization"]}
    async with http.post(
        f"{url}/api/v1/query", json={"query": query, **extra}, headers=headers
    ) as r:
        assert r.status == 200
        return await r.json()


async def test_projects_get_and_set_like_the_reference(http, http_url) -> None:
    auth = await http_account(http, http_url, "q@example.com")
    async with http.post(
        f"{http_url}/api/v1/create_project",
        data={"title": "MY NEW PROJECT 2", "description": "desc 2"},
        headers={"Authorization": auth["Authorization"]},
    ) as r:
        pid = (await r.json())["project_id"]
    got = await q(
        http, http_url, auth, {"projects": {"project_id": pid, "title": None, "description": None}}
    )
    assert got["event"] == "query" and got["multi_response"] is False
    assert got["query"] == {
        "projects": {"project_id": pid, "title": "MY NEW PROJECT 2", "description": "desc 2"}
    }
    users = await q(http, http_url, auth, {"projects": {"project_id": pid, "users": None}})
    assert users["query"]["projects"]["users"] == {auth["account_id"]: {"group": "owner"}}
    done = await q(
        http, http_url, auth, {"projects": {"project_id": pid, "title": "REVISED TITLE"}}
    )
    assert done["query"] == {}
    listed = await q(http, http_url, auth, {"projects_all": [{"project_id": None, "title": None}]})
    assert listed["query"]["projects_all"] == [{"project_id": pid, "title": "REVISED TITLE"}]


async def test_editor_settings_defaults_and_merge(http, http_url) -> None:
    auth = await http_account(http, http_url, "settings@example.com")
    me = {"account_id": auth["account_id"]}
    got = await q(http, http_url, auth, {"accounts": {**me, "editor_settings": None}})
    settings = got["query"]["accounts"]["editor_settings"]
    assert settings["jupyter_classic"] is False and settings["tab_size"] == 4
    await q(http, http_url, auth, {"accounts": {**me, "editor_settings": {"tab_size": 2}}})
    got = await q(http, http_url, auth, {"accounts": {**me, "editor_settings": None}})
    assert got["query"]["accounts"]["editor_settings"]["tab_size"] == 2
    assert got["query"]["accounts"]["editor_settings"]["jupyter_classic"] is False


async def test_fatal_errors_and_other_peoples_rows(connect, http, http_url) -> None:
    auth = await http_account(http, http_url, "fatal@example.com")
    other = await http_account(http, http_url, "other-q@example.com")
    two = await q(http, http_url, auth, {"accounts": {}, "projects": {}})
    assert two["event"] == "error"
    assert two["error"] == "FATAL: must specify exactly one key in the query"
    theirs = await q(
        http,
        http_url,
        auth,
        {"accounts": {"account_id": other["account_id"], "email_address": None}},
    )
    # another account's row is simply not visible: no row, no email
    assert theirs["event"] == "query" and theirs["query"] == {}
    async with connect() as c:
        feed = await c.call(
            "query",
            query={"accounts": {"account_id": None}},
            changes=True,
            multi_response=True,
            raise_errors=False,
        )
        # an anonymous feed on accounts is refused like the query itself
        assert feed["event"] == "error"
        anon = await c.call("query", query={"accounts": {"account_id": None}}, raise_errors=False)
        assert anon["event"] == "error"


async def signed_in(connect: Any, email: str) -> tuple[Any, Any, Any]:
    cm = connect()
    c = await cm.__aenter__()
    me = await c.call(
        "create_account",
        email_address=email,
        password=PASSWORD,
        agreed_to_terms=True,
        first_name="F",
        last_name="L",
    )
    return cm, c, me


async def send_feed(c: Any, feed_id: str, query: Any, **extra: Any) -> None:
    """Open a changefeed; its replies are read with next_change."""
    message = {"event": "query", "id": feed_id, "changes": True, "multi_response": True}
    await c.send({**message, "query": query, **extra})


async def next_change(c: Any, feed_id: str) -> dict[str, Any]:
    while True:
        push = await c.next_push()
        if push.get("id") == feed_id:
            return push


async def test_projects_feed_sees_insert_update_leave_and_cancel(connect, hub) -> None:
    cm, c, _ = await signed_in(connect, "feed@example.com")
    try:
        await send_feed(c, "f1", {"projects": [{"project_id": None, "title": None}]})
        first = await next_change(c, "f1")
        assert first["query"] == {"projects": []} and first["multi_response"] is True
        pid = (await c.call("create_project", title="one"))["project_id"]
        insert = await next_change(c, "f1")
        assert insert["action"] == "insert"
        assert insert["new_val"] == {"project_id": pid, "title": "one"}
        # a write made straight in PostgreSQL reaches the feed too
        await hub.db.execute("UPDATE projects SET title = 'two' WHERE project_id = $1::uuid", pid)
        update = await next_change(c, "f1")
        assert update["action"] == "update" and update["new_val"]["title"] == "two"
        assert update["seq"] > insert["seq"]
        # a change the feed's fields do not show sends nothing; leaving the project is a delete
        await hub.db.execute("UPDATE projects SET users = '{}' WHERE project_id = $1::uuid", pid)
        gone = await next_change(c, "f1")
        assert gone["action"] == "delete" and gone["old_val"] == {"project_id": pid}
        assert (await c.call("query_cancel", id="f1"))["event"] == "success"
        await c.call("create_project", title="after cancel")
        assert (await c.call("ping"))["event"] == "pong"
        while not c.pushes.empty():  # nothing for the cancelled feed arrived
            assert c.pushes.get_nowait().get("id") != "f1"
    finally:
        await cm.__aexit__(None, None, None)


async def test_feed_on_own_account_and_other_peoples_changes_stay_private(connect, hub) -> None:
    cm, c, me = await signed_in(connect, "mine@example.com")
    cm2, c2, other = await signed_in(connect, "notmine@example.com")
    try:
        await send_feed(c, "acc", {"accounts": {"account_id": None, "first_name": None}})
        first = await next_change(c, "acc")
        assert first["query"]["accounts"]["first_name"] == "F"
        await c2.call(
            "query", query={"accounts": {"account_id": other["account_id"], "first_name": "Other"}}
        )
        await c.call(
            "query", query={"accounts": {"account_id": me["account_id"], "first_name": "Me"}}
        )
        change = await next_change(c, "acc")
        assert change["new_val"] == {"account_id": me["account_id"], "first_name": "Me"}
    finally:
        await cm.__aexit__(None, None, None)
        await cm2.__aexit__(None, None, None)


async def test_a_write_through_one_hub_reaches_a_feed_on_another(connect, dsn, tmp_path) -> None:
    from hub.app import Hub
    from hub.client import HubClient
    from hub.config import Settings
    from tests.fixtures.hub import FAST_HASHING

    other = Hub(
        Settings.load(environ={}, port=0, database_url=dsn, data_dir=tmp_path / "b", **FAST_HASHING)
    )
    await other.start()
    try:
        cm, c, _ = await signed_in(connect, "two-hubs@example.com")
        try:
            await send_feed(c, "x", {"projects": [{"project_id": None, "title": None}]})
            await next_change(c, "x")
            async with HubClient.connect(f"ws://127.0.0.1:{other.port}/hub") as b:
                await b.call("sign_in", email_address="two-hubs@example.com", password=PASSWORD)
                pid = (await b.call("create_project", title="from B"))["project_id"]
            change = await next_change(c, "x")
            assert change["action"] == "insert" and change["new_val"]["project_id"] == pid
        finally:
            await cm.__aexit__(None, None, None)
    finally:
        await other.stop()


async def test_feeds_are_refused_where_they_cannot_be_exact(connect, http, http_url) -> None:
    cm, c, _ = await signed_in(connect, "refused@example.com")
    try:
        bad = await c.call(
            "query",
            changes=True,
            multi_response=True,
            raise_errors=False,
            query={"projects": [{"project_id": None, "last_edited": {">": "2020-01-01"}}]},
        )
        assert bad["event"] == "error" and "changefeeds cannot follow last_edited" in bad["error"]
    finally:
        await cm.__aexit__(None, None, None)


async def test_system_notifications_feed_sees_an_admins_write(connect, hub) -> None:
    cm, c, _ = await signed_in(connect, "reader@example.com")
    try:
        await send_feed(c, "n", {"system_notifications": [{"id": None, "text": None}]})
        assert (await next_change(c, "n"))["query"] == {"system_notifications": []}
        await hub.db.execute(
            "INSERT INTO system_notifications (id, text) VALUES (gen_random_uuid(), 'hello')"
        )
        change = await next_change(c, "n")
        assert change["action"] == "insert" and change["new_val"]["text"] == "hello"
    finally:
        await cm.__aexit__(None, None, None)


async def test_a_feed_resumes_with_exactly_the_missed_changes(connect, hub) -> None:
    query = {"projects": [{"project_id": None, "title": None}]}
    cm, c, _ = await signed_in(connect, "resume@example.com")
    try:
        await send_feed(c, "r", query)
        await next_change(c, "r")
        pid = (await c.call("create_project", title="before"))["project_id"]
        last_seen = (await next_change(c, "r"))["seq"]
    finally:
        await cm.__aexit__(None, None, None)
    # while the client is away: one update it must get, one project of someone else
    await hub.db.execute("UPDATE projects SET title = 'while away' WHERE project_id = $1", pid)
    await hub.db.execute("INSERT INTO projects (title) VALUES ('not mine')")
    async with connect() as c:
        await c.call("sign_in", email_address="resume@example.com", password=PASSWORD)
        await send_feed(c, "r", query, options=[{"since": last_seen}])
        first = await next_change(c, "r")
        assert first["query"] == {} and "resync" not in first
        missed = await next_change(c, "r")
        assert missed["action"] == "update" and missed["new_val"]["title"] == "while away"
        assert missed["seq"] > last_seen
        # and the feed goes on
        await hub.db.execute("UPDATE projects SET title = 'live' WHERE project_id = $1", pid)
        live = await next_change(c, "r")
        assert live["new_val"]["title"] == "live" and live["seq"] > missed["seq"]
        # too old to resume: a fresh result, marked resync
        await hub.db.execute("DELETE FROM change_log")
        await send_feed(c, "r2", query, options=[{"since": 1}])
        fresh = await next_change(c, "r2")
        assert fresh["resync"] is True
        assert fresh["query"]["projects"] == [{"project_id": pid, "title": "live"}]


async def test_project_log_feed_for_one_project(connect, hub) -> None:
    cm, c, _ = await signed_in(connect, "logs@example.com")
    try:
        pid = (await c.call("create_project", title="logged"))["project_id"]
        other = (await c.call("create_project", title="elsewhere"))["project_id"]
        await send_feed(c, "log", {"project_log": [{"id": None, "project_id": pid, "event": None}]})
        assert (await next_change(c, "log"))["query"] == {"project_log": []}
        for project in (other, pid):
            await c.call(
                "query",
                query={
                    "project_log": {
                        "id": str(uuid.uuid4()),
                        "project_id": project,
                        "event": {"event": "open"},
                    }
                },
            )
        change = await next_change(c, "log")
        assert change["action"] == "insert" and change["new_val"]["project_id"] == pid
    finally:
        await cm.__aexit__(None, None, None)


async def test_a_feed_with_an_operator_filter_sees_rows_enter_and_leave(connect, hub) -> None:
    cm, c, _ = await signed_in(connect, "ops@example.com")
    try:
        await send_feed(
            c, "op", {"projects": [{"project_id": None, "title": {"ILIKE": "%report%"}}]}
        )
        assert (await next_change(c, "op"))["query"] == {"projects": []}
        skip = (await c.call("create_project", title="holiday"))["project_id"]
        pid = (await c.call("create_project", title="Weekly REPORT"))["project_id"]
        entered = await next_change(c, "op")
        assert entered["action"] == "insert" and entered["new_val"]["project_id"] == pid
        await hub.db.execute("UPDATE projects SET title = 'notes' WHERE project_id = $1", pid)
        left = await next_change(c, "op")
        assert left["action"] == "delete" and left["old_val"] == {"project_id": pid}
        await hub.db.execute("UPDATE projects SET title = 'report 2' WHERE project_id = $1", skip)
        back = await next_change(c, "op")
        assert back["action"] == "insert" and back["new_val"]["project_id"] == skip
    finally:
        await cm.__aexit__(None, None, None)


async def test_a_feed_on_one_row_gets_only_that_rows_changes(connect, hub) -> None:
    cm, c, _ = await signed_in(connect, "one-row@example.com")
    try:
        pid = (await c.call("create_project", title="watched"))["project_id"]
        other = (await c.call("create_project", title="ignored"))["project_id"]
        await send_feed(c, "row", {"projects": {"project_id": pid.upper(), "title": None}})
        first = await next_change(c, "row")
        assert first["query"]["projects"]["title"] == "watched"
        await hub.db.execute("UPDATE projects SET title = 'x' WHERE project_id = $1", other)
        await hub.db.execute("UPDATE projects SET title = 'seen' WHERE project_id = $1", pid)
        change = await next_change(c, "row")
        assert change["new_val"] == {"project_id": pid, "title": "seen"}
    finally:
        await cm.__aexit__(None, None, None)


@pytest.mark.parametrize("hub_overrides", [{"feeds_per_client": 2}])
async def test_the_per_client_feed_limit(connect) -> None:
    cm, c, _ = await signed_in(connect, "many-feeds@example.com")
    try:
        query = {"projects": [{"project_id": None, "title": None}]}
        for feed_id in ("a", "b"):
            await send_feed(c, feed_id, query)
            assert (await next_change(c, feed_id))["event"] == "query"
        refused = await c.call(
            "query", id="c", changes=True, multi_response=True, query=query, raise_errors=False
        )
        assert refused["error"] == "FATAL: too many changefeeds (at most 2)"
        await c.call("query_cancel", id="a")
        await send_feed(c, "c", query)
        assert (await next_change(c, "c"))["event"] == "query"
    finally:
        await cm.__aexit__(None, None, None)
