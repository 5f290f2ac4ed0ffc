"""The `query` event from a client's side, as the reference's API examples show it."""

from __future__ import annotations

from typing import Any

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
        assert feed["event"] == "error" and "changefeeds" in feed["error"]
        anon = await c.call("query", query={"accounts": {"account_id": None}}, raise_errors=False)
        assert anon["event"] == "error"
