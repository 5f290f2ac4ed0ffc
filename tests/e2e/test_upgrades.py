"""Upgrades and licenses end to end: purchase_license, get_available_upgrades,
remove_all_upgrades over the WebSocket and HTTP, `query` refusing upgrades beyond
what is available, the shell grant, and quotas reaching the project runner."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from hub.projects.quotas_apply import CgroupLimits, QuotaApplier
from hub.shell_accounts import create_account_from_shell
from hub.shell_licenses import grant_license_from_shell
from tests.fixtures.hub import basic_auth
from tests.fixtures.timeouts import eventually

PASSWORD = "upgrade-pass-1"
SELF_SERVICE = {"licenses_self_service": True}


async def ask(client: Any, event: str, **fields: Any) -> dict[str, Any]:
    return await client.call(event, raise_errors=False, **fields)


async def sign_up(client: Any, email: str) -> dict[str, Any]:
    me = await ask(
        client,
        "create_account",
        email_address=email,
        password=PASSWORD,
        first_name="Up",
        last_name="Grade",
        agreed_to_terms=True,
        get_api_key=True,
    )
    assert me["event"] in ("account_created", "signed_in"), me
    return me


async def new_project(client: Any) -> str:
    reply = await ask(client, "create_project", title="U")
    assert reply["event"] == "project_created", reply
    return str(reply["project_id"])


async def set_upgrades(client: Any, pid: str, account_id: str, **upgrades: Any) -> dict[str, Any]:
    query = {"projects": {"project_id": pid, "users": {account_id: {"upgrades": upgrades}}}}
    # a null leaf makes a query a get unless it says set (CoCalc's rule)
    return await ask(client, "query", query=query, options=[{"set": True}])


async def available(client: Any) -> dict[str, Any]:
    reply = await client.call("get_available_upgrades", raise_errors=False)
    assert reply["event"] == "available_upgrades", reply
    return reply


@pytest.mark.parametrize("hub_overrides", [SELF_SERVICE])
async def test_license_apply_check_remove_over_websocket(connect: Any, hub: Any) -> None:
    default_idle = hub.settings.project_idle_timeout_s
    runner = hub.state.runner
    async with connect() as c:
        me = await sign_up(c, "buyer@example.com")
        aid = str(me["account_id"])
        empty = await available(c)
        assert (empty["total"], empty["excess"], empty["available"]) == ({}, {}, {})

        info = {"quota": {"memory": 1000, "mintime": 3600, "cores": 1}, "quantity": 2, "days": 30}
        bought = await ask(c, "purchase_license", info=info)
        assert bought["event"] == "purchase_license_resp", bought
        assert uuid.UUID(bought["resp"])
        got = await available(c)
        assert got["total"] == {"memory": 2000, "mintime": 7200, "cores": 2}
        assert got["available"] == got["total"] and got["excess"] == {}

        p1, p2 = await new_project(c), await new_project(c)
        ok = await set_upgrades(c, p1, aid, memory=1500, mintime=3600)
        assert ok["event"] == "query", ok
        got = await available(c)
        assert got["available"] == {"memory": 500, "mintime": 3600, "cores": 2}
        # the upgrade reaches the runner: a longer idle timeout
        await eventually(lambda: runner.idle_timeout(uuid.UUID(p1)) == default_idle + 3600, 10)

        refused = await set_upgrades(c, p2, aid, memory=600)
        assert refused["event"] == "error"
        assert refused["error"] == (
            "not enough upgrades available: memory=600 requested, 500 MB available"
            " (get_available_upgrades shows what is left)"
        )
        too_big = await set_upgrades(c, p2, aid, mintime=7_776_001)
        assert "more than one project may have" in too_big["error"]
        assert (await set_upgrades(c, p2, aid, memory=500, cores=2))["event"] == "query"
        # lowering one quantity works while the others stay
        assert (await set_upgrades(c, p1, aid, memory=1000))["event"] == "query"
        assert (await available(c))["available"] == {"memory": 500, "mintime": 3600, "cores": 0}
        # a null removes one upgrade
        assert (await set_upgrades(c, p1, aid, mintime=None))["event"] == "query"
        await eventually(lambda: runner.idle_timeout(uuid.UUID(p1)) == default_idle, 10)

        bad = await c.call("remove_all_upgrades", raise_errors=False, projects=["not-a-uuid"])
        assert bad["event"] == "error"
        done = await c.call("remove_all_upgrades", raise_errors=False, projects=[p2])
        assert done["event"] == "success"
        assert (await available(c))["available"] == {"memory": 1000, "mintime": 7200, "cores": 2}
        assert (await set_upgrades(c, p1, aid, mintime=60))["event"] == "query"
        done = await c.call("remove_all_upgrades", raise_errors=False)
        assert done["event"] == "success"
        got = await available(c)
        assert got["available"] == got["total"] and got["excess"] == {}
        await eventually(lambda: runner.idle_timeout(uuid.UUID(p1)) == default_idle, 10)


@pytest.mark.parametrize("hub_overrides", [SELF_SERVICE])
async def test_excess_after_a_license_ends(connect: Any, hub: Any) -> None:
    async with connect() as c:
        me = await sign_up(c, "ends@example.com")
        aid = str(me["account_id"])
        await ask(c, "purchase_license", info={"quota": {"disk_quota": 1000}, "days": 1})
        pid = await new_project(c)
        assert (await set_upgrades(c, pid, aid, disk_quota=1000))["event"] == "query"
        await hub.db.execute(
            "UPDATE licenses SET start = now() - interval '2 days',"
            " expires = now() - interval '1 day'"
        )
        got = await available(c)
        assert got["total"] == {}
        assert got["excess"] == {pid: {"disk_quota": 1000}}
        assert got["available"] == {"disk_quota": 0}


async def test_api_events_over_http(connect: Any, http: Any, http_url: str, hub: Any) -> None:
    async with connect() as c:
        me = await sign_up(c, "httpbuyer@example.com")
    auth = basic_auth(me["api_key"])
    async with http.post(f"{http_url}/api/v1/get_available_upgrades", headers=auth) as r:
        assert r.status == 200
        body = await r.json()
    assert body["event"] == "available_upgrades"
    assert (body["total"], body["excess"], body["available"]) == ({}, {}, {})
    # no billing and no self-service: purchase_license is refused clearly
    info = {"info": {"quota": {"memory": 1000}}}
    async with http.post(f"{http_url}/api/v1/purchase_license", json=info, headers=auth) as r:
        body = await r.json()
    assert body["event"] == "error"
    assert body["error"].startswith("licenses cannot be purchased on this server")
    async with http.post(f"{http_url}/api/v1/purchase_license", json=info) as r:
        assert r.status == 401


@pytest.mark.parametrize("hub_overrides", [SELF_SERVICE])
async def test_purchase_over_http_with_self_service(connect: Any, http: Any, http_url: str) -> None:
    async with connect() as c:
        me = await sign_up(c, "selfserve@example.com")
    auth = basic_auth(me["api_key"])
    info = {"info": {"quota": {"network": 1, "member_host": 1}, "quantity": 3, "days": 7}}
    async with http.post(f"{http_url}/api/v1/purchase_license", json=info, headers=auth) as r:
        body = await r.json()
    assert body["event"] == "purchase_license_resp", body
    async with http.post(f"{http_url}/api/v1/get_available_upgrades", headers=auth) as r:
        body = await r.json()
    assert body["total"] == {"network": 3, "member_host": 3}
    bad = {"info": {"quota": {"memory": 1}, "quantity": 0}}
    async with http.post(f"{http_url}/api/v1/purchase_license", json=bad, headers=auth) as r:
        body = await r.json()
    assert body == {
        "event": "error",
        "id": body["id"],
        "error": "quantity must be a whole number >= 1",
    }


async def test_break_in(connect: Any, hub: Any, dsn: str) -> None:
    async with connect() as a, connect() as b:
        me_a = await sign_up(a, "owner@example.com")
        me_b = await sign_up(b, "intruder@example.com")
        aid, bid = str(me_a["account_id"]), str(me_b["account_id"])
        pa, pb = await new_project(a), await new_project(b)

        async with connect() as anon:
            for event in ("get_available_upgrades", "remove_all_upgrades"):
                refused = await ask(anon, event)
                assert refused["error"] == "You must be signed in to use billing related functions."
        # a non-admin cannot grant itself a license (self-service is off)
        refused = await ask(b, "purchase_license", info={"quota": {"memory": 16000}})
        assert refused["event"] == "error" and "cannot be purchased" in refused["error"]
        # no license: no upgrades on its own project
        none = await set_upgrades(b, pb, bid, memory=1)
        assert none["error"].startswith("not enough upgrades available: memory=1 requested, 0")
        # not on a's project
        other = await set_upgrades(b, pa, bid, memory=1)
        assert other["event"] == "error"
        # a's allocation, from b
        theirs = await set_upgrades(b, pb, aid, memory=1)
        assert theirs["error"] == (
            f"FATAL: user '{bid}' tried to change user '{aid}' allocation toward a project"
        )
        odd = await set_upgrades(b, pb, bid, memory=-5)
        assert odd["event"] == "error"
        unknown = await set_upgrades(b, pb, bid, ram=5)
        assert unknown["error"] == "invalid upgrades field 'ram'"

        # an admin grants a license to b through purchase_license
        await create_account_from_shell(
            dsn,
            hub.settings,
            email="root@example.com",
            password=PASSWORD,
            first_name="Ad",
            last_name="Min",
            admin=True,
            api_key=False,
        )
        async with connect() as root:
            await root.sign_in("root@example.com", PASSWORD)
            info = {"quota": {"memory": 500}, "account_id": bid, "days": 1}
            granted = await ask(root, "purchase_license", info=info)
            assert granted["event"] == "purchase_license_resp", granted
        # b may not do the same for a
        hub_settings = hub.settings
        assert not hub_settings.licenses_self_service
        assert (await available(b))["total"] == {"memory": 500}
        assert (await set_upgrades(b, pb, bid, memory=500))["event"] == "query"
        assert (await available(a))["total"] == {}


@pytest.mark.parametrize("hub_overrides", [SELF_SERVICE])
async def test_only_an_admin_grants_to_others(connect: Any) -> None:
    async with connect() as a, connect() as b:
        me_a = await sign_up(a, "giver@example.com")
        await sign_up(b, "taker@example.com")
        info = {"quota": {"memory": 100}, "account_id": str(me_a["account_id"])}
        refused = await ask(b, "purchase_license", info=info)
        assert refused["error"] == "only an admin may grant a license to another account"


async def test_shell_grant(connect: Any, hub: Any, dsn: str) -> None:
    async with connect() as c:
        me = await sign_up(c, "shell@example.com")
        result = await grant_license_from_shell(
            dsn,
            hub.settings,
            account_id=None,
            email="Shell@Example.com",
            quota='{"cores": 1, "memory": 2000}',
            quantity=2,
            days=3,
        )
        assert result["account_id"] == str(me["account_id"]) and result["quantity"] == 2
        assert (await available(c))["total"] == {"cores": 2, "memory": 4000}
        for kwargs, text in (
            ({"email": "nobody@example.com", "quota": '{"cores": 1}'}, "no such account"),
            ({"email": "shell@example.com", "quota": "{cores"}, "--quota is not JSON"),
            ({"email": "shell@example.com", "quota": '{"gpu": 1}'}, "invalid upgrades field"),
        ):
            with pytest.raises(ValueError, match=text):
                await grant_license_from_shell(
                    dsn, hub.settings, account_id=None, quantity=1, days=1, **kwargs
                )


HAVE_CGROUPS = CgroupLimits().available


@pytest.mark.skipif(not HAVE_CGROUPS, reason="no writable memory cgroup on this machine")
@pytest.mark.parametrize("hub_overrides", [{**SELF_SERVICE, "project_enforce_quotas": True}])
async def test_quotas_reach_the_project_cgroups(connect: Any, hub: Any) -> None:
    async with connect() as c:
        me = await sign_up(c, "cgroup@example.com")
        aid = str(me["account_id"])
        pid = await new_project(c)
        out = await ask(
            c, "project_exec", project_id=pid, command="cat", args=["/proc/self/cgroup"]
        )
        assert out["event"] == "project_exec_output", out
        line = next(x for x in out["stdout"].splitlines() if re.match(r"^\d+:memory:", x))
        path = line.split(":", 2)[2]
        assert path.endswith(f"/hub-projects/{pid}")
        limit = Path("/sys/fs/cgroup/memory") / path.lstrip("/") / "memory.limit_in_bytes"
        mib = 1024 * 1024
        assert int(limit.read_text()) == 1000 * mib  # the default quota
        await ask(c, "purchase_license", info={"quota": {"memory": 1500, "cores": 2}, "days": 1})
        assert (await set_upgrades(c, pid, aid, memory=1500, cores=1))["event"] == "query"
        await eventually(lambda: int(limit.read_text()) == 2500 * mib, 10)
        cpu_line = next(x for x in out["stdout"].splitlines() if x.split(":")[1] == "cpu")
        cpu = Path("/sys/fs/cgroup/cpu") / cpu_line.split(":", 2)[2].lstrip("/")
        # cores: 1 by default + 1 upgraded = a CFS quota of two periods
        await eventually(lambda: (cpu / "cpu.cfs_quota_us").read_text().strip() == "200000", 10)


@pytest.mark.parametrize("hub_overrides", [SELF_SERVICE])
async def test_a_new_hub_applies_the_quotas_of_running_projects(connect: Any, hub: Any) -> None:
    async with connect() as c:
        me = await sign_up(c, "restart@example.com")
        await ask(c, "purchase_license", info={"quota": {"mintime": 600}, "days": 1})
        pid = await new_project(c)
        assert (await set_upgrades(c, pid, str(me["account_id"]), mintime=600))["event"] == "query"
    runner = hub.state.runner
    project = uuid.UUID(pid)
    default = hub.settings.project_idle_timeout_s
    await eventually(lambda: runner.idle_timeout(project) == default + 600, 10)
    runner.set_idle_timeout(project, None)  # as a hub process that just started knows it
    applier = QuotaApplier(hub.db, runner, default, None)
    assert await applier.apply_all() == 1
    assert runner.idle_timeout(project) == default + 600
