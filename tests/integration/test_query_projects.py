"""User queries on `projects` and `projects_all`: membership, recency, users, write access."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest

from hub.db import licenses, projects
from hub.db.database import Database
from hub.handlers.context import Identity
from hub.query import run_user_query
from hub.query.parse import QueryError
from tests.integration.test_query_accounts import fatal, make_account


@pytest.fixture
async def people(db: Database) -> tuple[Identity, Identity, Identity]:
    owner = await make_account(db, "owner@example.com")
    collab = await make_account(db, "collab@example.com")
    stranger = await make_account(db, "stranger@example.com")
    return owner, collab, stranger


async def new_project(db: Database, owner: Identity, title: str, age_days: float = 0) -> UUID:
    pid = await projects.create(db, owner.account_id, title, "")
    if age_days:
        await db.execute(
            "UPDATE projects SET last_edited = now() - make_interval(secs => $2)"
            " WHERE project_id = $1",
            pid,
            age_days * 86400,
        )
    return pid


async def titles(db: Database, me: Identity, table: str, options: Any = None) -> list[str]:
    got = await run_user_query(db, me, {table: [{"project_id": None, "title": None}]}, options)
    return [row["title"] for row in got[table]]


async def test_projects_recent_newest_first_and_projects_all(
    db: Database, people: tuple[Identity, Identity, Identity]
) -> None:
    owner, collab, stranger = people
    await new_project(db, owner, "old", age_days=30)
    await new_project(db, owner, "week", age_days=7)
    await new_project(db, owner, "new")
    await new_project(db, stranger, "not mine")
    assert await titles(db, owner, "projects") == ["new", "week"]
    assert sorted(await titles(db, owner, "projects_all")) == ["new", "old", "week"]
    assert await titles(db, owner, "projects_all", [{"order_by": "title"}]) == [
        "new",
        "old",
        "week",
    ]
    assert await titles(db, owner, "projects_all", [{"order_by": "-title"}, {"limit": 2}]) == [
        "week",
        "old",
    ]
    assert await titles(db, collab, "projects") == []


async def test_single_project_get_needs_read_access(
    db: Database, people: tuple[Identity, Identity, Identity]
) -> None:
    owner, collab, stranger = people
    pid = await new_project(db, owner, "t")
    await projects.add_user(db, pid, collab.account_id, projects.COLLABORATOR)
    got = await run_user_query(
        db, collab, {"projects": {"project_id": str(pid), "title": None, "users": None}}, None
    )
    assert got["projects"]["title"] == "t"
    assert set(got["projects"]["users"]) == {str(owner.account_id), str(collab.account_id)}
    assert await fatal(db, stranger, {"projects": {"project_id": str(pid), "title": None}}) == (
        "FATAL: you do not have read access to this project"
    )
    multi = {"projects_all": [{"project_id": str(pid), "title": None}]}
    assert await fatal(db, stranger, multi) == "FATAL: you do not have read access to this project"
    got = await run_user_query(db, stranger, {"projects_all": [{"title": "t"}]}, [{"set": False}])
    assert got == {"projects_all": []}  # a filter cannot reach others' projects


async def test_set_title_and_description_needs_write(
    db: Database, people: tuple[Identity, Identity, Identity]
) -> None:
    owner, collab, stranger = people
    pid = await new_project(db, owner, "t")
    await projects.add_user(db, pid, collab.account_id, projects.COLLABORATOR)
    q = {"projects": {"project_id": str(pid), "title": "REVISED", "description": "DESC"}}
    assert await run_user_query(db, collab, q, None) == {}
    project = await projects.get(db, pid)
    assert project is not None and (project.title, project.description) == ("REVISED", "DESC")
    bad = {"projects": {"project_id": str(pid), "title": "pwned"}}
    assert await fatal(db, stranger, bad) == "FATAL: user must be an admin"
    viewer = await make_account(db, "viewer@example.com")
    await projects.add_user(db, pid, viewer.account_id, projects.VIEWER)
    assert await fatal(db, viewer, bad) == "FATAL: user must be an admin"
    missing = "00000000-0000-4000-8000-000000000000"
    assert await fatal(db, owner, {"projects": {"project_id": missing, "title": "x"}}) == (
        f"FATAL: unknown project_id '{missing}'"
    )
    assert await fatal(db, owner, {"projects": {"title": "x"}}) == (
        "FATAL: must specify projects.project_id"
    )
    assert await fatal(db, owner, {"projects": {"project_id": str(pid), "host": "x"}}) == (
        "FATAL: changing projects.host not allowed"
    )
    project = await projects.get(db, pid)
    assert project is not None and project.title == "REVISED"


async def test_users_own_hide_and_upgrades_only(
    db: Database, people: tuple[Identity, Identity, Identity]
) -> None:
    owner, collab, _ = people
    pid = await new_project(db, owner, "t")
    await projects.add_user(db, pid, collab.account_id, projects.COLLABORATOR)
    me, other = str(collab.account_id), str(owner.account_id)
    # upgrades come from the account's licenses (hub/upgrades): the collaborator holds one
    now = datetime.now(UTC)
    await licenses.create(db, collab.account_id, {"cpu_shares": 1024, "cores": 1}, 1, now, None)
    q = {"projects": {"project_id": str(pid), "users": {me: {"upgrades": {"cpu_shares": 768}}}}}
    await run_user_query(db, collab, q, None)
    q = {
        "projects": {
            "project_id": str(pid),
            "users": {me: {"upgrades": {"cores": 1}, "hide": True}},
        }
    }
    await run_user_query(db, collab, q, None)
    project = await projects.get(db, pid)
    assert project is not None
    assert project.users[me] == {
        "group": "collaborator",
        "hide": True,
        "upgrades": {"cpu_shares": 768, "cores": 1},
    }
    assert project.users[other] == {"group": "owner"}
    steal = {"projects": {"project_id": str(pid), "users": {other: {"upgrades": {"cores": 0}}}}}
    assert await fatal(db, collab, steal) == (
        f"FATAL: user '{me}' tried to change user '{other}' allocation toward a project"
    )
    hide = {"projects": {"project_id": str(pid), "users": {other: {"hide": True}}}}
    with pytest.raises(QueryError):
        await run_user_query(db, collab, hide, None)
    promote = {"projects": {"project_id": str(pid), "users": {me: {"group": "owner"}}}}
    assert await fatal(db, collab, promote) == "FATAL: changing projects.users.group not allowed"
    bogus = {"projects": {"project_id": str(pid), "users": {me: {"upgrades": {"bogus": 1}}}}}
    assert await fatal(db, collab, bogus) == "invalid upgrades field 'bogus'"
    project = await projects.get(db, pid)
    assert project is not None and project.users[other] == {"group": "owner"}
    assert project.users[me]["group"] == "collaborator"


async def test_project_scoped_key_and_query_arrays(
    db: Database, people: tuple[Identity, Identity, Identity]
) -> None:
    owner, _, _ = people
    a = await new_project(db, owner, "a")
    b = await new_project(db, owner, "b")
    scoped = Identity(account_id=owner.account_id, project_id=a)
    assert await titles(db, scoped, "projects") == ["a"]
    got = await run_user_query(
        db, scoped, {"projects": {"project_id": "{project_id}", "title": None}}, None
    )
    assert got == {"projects": {"project_id": str(a), "title": "a"}}
    assert await fatal(db, scoped, {"projects": {"project_id": str(b), "title": None}}) == (
        "FATAL: you do not have read access to this project"
    )
    assert await fatal(db, scoped, {"projects": {"project_id": str(b), "title": "x"}}) == (
        "FATAL: can only query same project"
    )
    both = [
        {"projects": {"project_id": str(a), "title": "A2"}},
        {"projects": {"project_id": str(a), "title": None}},
    ]
    assert await run_user_query(db, owner, both, None) == [
        {},
        {"projects": {"project_id": str(a), "title": "A2"}},
    ]
    ranged = {"projects": [{"project_id": {"!=": str(a)}, "title": None}]}
    assert await run_user_query(db, people[2], ranged, None) == {"projects": []}
