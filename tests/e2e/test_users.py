"""user_search and get_project_users over the WebSocket and HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.hub import basic_auth

PASSWORD = "users-pass-1"


async def ask(client: Any, event: str, **fields: Any) -> dict[str, Any]:
    return await client.call(event, raise_errors=False, **fields)


async def sign_up(client: Any, email: str, first: str, last: str) -> dict[str, Any]:
    me = await ask(
        client,
        "create_account",
        email_address=email,
        password=PASSWORD,
        first_name=first,
        last_name=last,
        agreed_to_terms=True,
    )
    assert me["event"] in ("account_created", "signed_in"), me
    return me


async def search(client: Any, query: str, **fields: Any) -> list[dict[str, Any]]:
    reply = await client.call("user_search", raise_errors=False, query=query, **fields)
    assert reply["event"] == "user_search_results", reply
    return list(reply["results"])


async def test_user_search_as_cocalcs_api_tests(connect: Any) -> None:
    async with connect() as a, connect() as b, connect() as anon:
        sage = await sign_up(a, "cocalc@sagemath.com", "Sage", "CoCalc")
        await sign_up(b, "john@example.com", "John", "Smith")
        found = await search(a, "cocalc@sagemath.com")
        assert len(found) == 1
        assert found[0]["account_id"] == str(sage["account_id"])
        assert (found[0]["first_name"], found[0]["last_name"]) == ("Sage", "CoCalc")
        assert found[0]["email_address"] == "cocalc@sagemath.com"
        found = await search(a, "coc sag")
        assert len(found) == 1 and "email_address" not in found[0]
        assert found[0]["account_id"] == str(sage["account_id"])
        assert len(await search(a, "coc sag,cocalc@sagemath.com")) == 2
        # prefixes of first and last names, in any order, any case
        assert [r["last_name"] for r in await search(b, "SM jo")] == ["Smith"]
        assert await search(b, "mith") == []  # a prefix, not a substring
        assert await search(b, "john@example") == []  # not an address: a name search
        assert await search(b, "%") == [] and await search(b, "_") == []
        assert await search(b, "   ,  ") == []
        refused = await ask(anon, "user_search", query="sage")
        assert refused == {
            "event": "error",
            "id": refused["id"],
            "error": "You must be signed in to search for users.",
        }


async def test_unlisted_accounts_are_found_by_address_only(connect: Any) -> None:
    async with connect() as a, connect() as b:
        await sign_up(a, "hidden@example.com", "Hidden", "Person")
        await sign_up(b, "seeker@example.com", "See", "Ker")
        done = await ask(a, "query", query={"accounts": {"unlisted": True}})
        assert done["event"] == "query", done
        assert await search(b, "hidden") == []
        assert len(await search(b, "hidden@example.com")) == 1


@pytest.mark.parametrize("hub_overrides", [{"user_search_limit": 3, "user_search_max_terms": 2}])
async def test_limit_for_non_admins(connect: Any, hub: Any) -> None:
    async with connect() as c:
        for i in range(5):
            async with connect() as other:
                await sign_up(other, f"lim{i}@example.com", "Limit", f"Number{i}")
        await sign_up(c, "asker@example.com", "Ask", "Er")
        assert len(await search(c, "limit")) == 3  # the default is the cap
        assert len(await search(c, "limit", limit=100)) == 3
        assert len(await search(c, "limit", limit=2)) == 2
        bad = await ask(c, "user_search", query="limit", limit=0)
        assert bad["error"] == "limit must be at least 1"
        many = await ask(c, "user_search", query="a,b,c")
        assert many["error"] == "at most 2 comma-separated terms"
        # an admin is capped by user_search_admin_limit instead
        await hub.db.execute(
            "UPDATE accounts SET groups = '{admin}' WHERE email_address = 'asker@example.com'"
        )
    async with connect() as admin:
        await admin.sign_in("asker@example.com", PASSWORD)
        assert len(await search(admin, "limit", limit=100)) == 5


async def test_user_search_over_http(http: Any, http_url: str) -> None:
    async with http.post(
        f"{http_url}/api/v1/create_account",
        data={
            "email_address": "http-search@example.com",
            "password": PASSWORD,
            "first_name": "Hyper",
            "last_name": "Text",
            "agreed_to_terms": "true",
            "get_api_key": "true",
        },
    ) as r:
        key = (await r.json())["api_key"]
    url = f"{http_url}/api/v1/user_search"
    async with http.post(url, data={"query": "hyp tex"}, headers=basic_auth(key)) as r:
        body = await r.json()
    assert body["event"] == "user_search_results"
    assert [x["first_name"] for x in body["results"]] == ["Hyper"]
    async with http.post(url, data={"query": "hyp"}) as r:
        assert r.status == 401


async def test_get_project_users(connect: Any, http: Any, http_url: str) -> None:
    async with connect() as a, connect() as b, connect() as c:
        me_a = await sign_up(a, "powner@example.com", "Pro", "Owner")
        me_b = await sign_up(b, "pcollab@example.com", "Col", "Lab")
        await sign_up(c, "poutsider@example.com", "Out", "Sider")
        created = await ask(a, "create_project", title="Shared")
        pid = created["project_id"]
        invited = await ask(a, "invite_collaborator", project_id=pid, account_id=me_b["account_id"])
        assert invited["event"] == "success"
        for client in (a, b):
            reply = await client.call("get_project_users", raise_errors=False, project_id=pid)
            assert reply["event"] == "project_users"
            assert reply["users"] == {
                str(me_a["account_id"]): {
                    "group": "owner",
                    "first_name": "Pro",
                    "last_name": "Owner",
                },
                str(me_b["account_id"]): {
                    "group": "collaborator",
                    "first_name": "Col",
                    "last_name": "Lab",
                },
            }
        refused = await ask(c, "get_project_users", project_id=pid)
        assert refused["event"] == "error"
        bad = await ask(c, "get_project_users", project_id="nope")
        assert bad["event"] == "error"
    # not an HTTP API event
    async with http.post(f"{http_url}/api/v1/get_project_users", data={"project_id": pid}) as r:
        assert r.status in (400, 404)
