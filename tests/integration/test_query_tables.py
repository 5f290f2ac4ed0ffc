"""User queries on public_paths, collaborators and project_log."""

from __future__ import annotations

import hashlib
import uuid

from hub.db import projects
from hub.db.database import Database
from hub.query import run_user_query
from tests.integration.test_query_accounts import fatal, make_account


async def test_public_paths(db: Database) -> None:
    owner = await make_account(db, "owner@example.com")
    stranger = await make_account(db, "stranger@example.com")
    pid = str(await projects.create(db, owner.account_id, "t", ""))
    q = {"public_paths": {"project_id": pid, "path": "myfile.txt", "description": "shared"}}
    assert await run_user_query(db, owner, q, None) == {}
    sha = hashlib.sha1((pid + "myfile.txt").encode()).hexdigest()
    get = {"public_paths": [{"project_id": pid, "id": None, "path": None, "description": None}]}
    expected = {
        "public_paths": [
            {"project_id": pid, "id": sha, "path": "myfile.txt", "description": "shared"}
        ]
    }
    assert await run_user_query(db, stranger, get, None) == expected
    assert await run_user_query(db, None, get, None) == expected  # anyone reads
    # an update of the same path: same row
    q2 = {"public_paths": {"project_id": pid, "path": "myfile.txt", "disabled": True}}
    await run_user_query(db, owner, q2, None)
    assert await db.fetchval("SELECT count(*) FROM public_paths") == 1
    assert await fatal(db, stranger, {"public_paths": {"project_id": pid, "path": "x"}}) == (
        "FATAL: user must be an admin"
    )
    assert await fatal(db, stranger, {"public_paths": [{"id": None}]}) == (
        "FATAL: must specify project_id"
    )
    assert await fatal(db, stranger, q2, [{"delete": True}]) == "FATAL: user must be an admin"
    await run_user_query(db, owner, q2, [{"delete": True}])
    assert await db.fetchval("SELECT count(*) FROM public_paths") == 0


async def test_collaborators(db: Database) -> None:
    me = await make_account(db, "me@example.com")
    friend = await make_account(db, "friend@example.com")
    stranger = await make_account(db, "stranger@example.com")
    pid = await projects.create(db, me.account_id, "t", "")
    await projects.add_user(db, pid, friend.account_id, projects.COLLABORATOR)
    await projects.create(db, stranger.account_id, "other", "")
    got = await run_user_query(
        db, me, {"collaborators": [{"account_id": None, "first_name": None}]}, None
    )
    ids = {row["account_id"] for row in got["collaborators"]}
    assert ids == {str(me.account_id), str(friend.account_id)}
    got = await run_user_query(db, stranger, {"collaborators": [{"account_id": None}]}, None)
    assert got == {"collaborators": [{"account_id": str(stranger.account_id)}]}
    q = {"collaborators": [{"account_id": None, "email_address": None}]}
    assert await fatal(db, me, q) == (
        "FATAL: user get query not allowed for collaborators.email_address"
    )


async def test_project_log(db: Database) -> None:
    owner = await make_account(db, "owner@example.com")
    stranger = await make_account(db, "stranger@example.com")
    pid = str(await projects.create(db, owner.account_id, "t", ""))
    entry = str(uuid.uuid4())
    q = {
        "project_log": {
            "id": entry,
            "project_id": pid,
            "account_id": str(stranger.account_id),  # forced to the caller
            "time": "2026-01-01T00:00:00Z",
            "event": {"event": "open", "filename": "a.txt"},
        }
    }
    assert await run_user_query(db, owner, q, None) == {}
    get = {"project_log": [{"id": None, "project_id": pid, "account_id": None, "event": None}]}
    got = await run_user_query(db, owner, get, None)
    assert got == {
        "project_log": [
            {
                "id": entry,
                "project_id": pid,
                "account_id": str(owner.account_id),
                "event": {"event": "open", "filename": "a.txt"},
            }
        ]
    }
    assert await fatal(db, stranger, get) == "FATAL: you do not have read access to this project"
    assert (
        await fatal(db, owner, {"project_log": [{"id": None}]}) == "FATAL: must specify project_id"
    )
    assert await fatal(db, stranger, q) == "FATAL: user must be an admin"
    # reusing another project's entry id cannot move or change that entry
    mine = str(await projects.create(db, stranger.account_id, "mine", ""))
    hijack = {"project_log": {"id": entry, "project_id": mine, "event": {"event": "x"}}}
    await run_user_query(db, stranger, hijack, None)
    row = await db.fetchrow(
        "SELECT project_id, event FROM project_log WHERE id = $1", uuid.UUID(entry)
    )
    assert row is not None and str(row["project_id"]) == pid
    assert row["event"] == {"event": "open", "filename": "a.txt"}


async def test_new_rows_store_jsonb_without_null_keys(db: Database) -> None:
    owner = await make_account(db, "owner@example.com")
    pid = str(await projects.create(db, owner.account_id, "t", ""))
    entry = str(uuid.uuid4())
    q = {"project_log": {"id": entry, "project_id": pid, "event": {"a": 1, "b": None}}}
    await run_user_query(db, owner, q, [{"set": True}])
    stored = await db.fetchval("SELECT event FROM project_log WHERE id = $1", uuid.UUID(entry))
    assert stored == {"a": 1}
