"""User queries on `accounts`: own row only, editor_settings defaults, deep merge."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from hub.db import accounts
from hub.db.database import Database
from hub.handlers.context import Identity
from hub.query import run_user_query
from hub.query.parse import QueryError
from hub.query.schema import EDITOR_SETTINGS_DEFAULTS


async def make_account(db: Database, email: str, **kw: Any) -> Identity:
    account_id = await accounts.create(
        db, email=email, password_hash=None, first_name="A", last_name="B", **kw
    )
    return Identity(account_id=account_id, groups=kw.get("groups", ()))


async def fatal(db: Database, me: Identity | None, query: Any, options: Any = None) -> str:
    with pytest.raises(QueryError) as info:
        await run_user_query(db, me, query, options)
    return info.value.text


async def test_editor_settings_defaults_as_the_reference_shows(db: Database) -> None:
    me = await make_account(db, "a@example.com")
    aid = str(me.account_id)
    result = await run_user_query(
        db, me, {"accounts": {"account_id": aid, "editor_settings": None}}, None
    )
    assert result == {"accounts": {"account_id": aid, "editor_settings": EDITOR_SETTINGS_DEFAULTS}}
    assert result["accounts"]["editor_settings"]["show_trailing_whitespace"] is True


async def test_set_merges_one_key_and_null_deletes(db: Database) -> None:
    me = await make_account(db, "a@example.com")
    aid = str(me.account_id)
    q = {
        "accounts": {"account_id": aid, "editor_settings": {"jupyter_classic": True, "x": {"y": 1}}}
    }
    assert await run_user_query(db, me, q, None) == {}
    stored = await db.fetchval(
        "SELECT editor_settings FROM accounts WHERE account_id = $1", me.account_id
    )
    assert stored == {"jupyter_classic": True, "x": {"y": 1}}
    await run_user_query(db, me, {"accounts": {"editor_settings": {"x": {"z": 2}}}}, None)
    stored = await db.fetchval(
        "SELECT editor_settings FROM accounts WHERE account_id = $1", me.account_id
    )
    assert stored == {"jupyter_classic": True, "x": {"y": 1, "z": 2}}
    await run_user_query(
        db, me, {"accounts": {"editor_settings": {"jupyter_classic": None}}}, [{"set": True}]
    )
    got = await run_user_query(db, me, {"accounts": {"editor_settings": None}}, None)
    settings = got["accounts"]["editor_settings"]
    assert settings["jupyter_classic"] is False  # the default shows again
    assert settings["x"] == {"y": 1, "z": 2}
    assert settings["tab_size"] == 4


async def test_plain_fields_and_nulls_dropped(db: Database) -> None:
    me = await make_account(db, "a@example.com")
    await run_user_query(db, me, {"accounts": {"first_name": "Ada", "autosave": 30}}, None)
    got = await run_user_query(
        db, me, {"accounts": {"first_name": None, "autosave": None, "name": None}}, None
    )
    assert got == {"accounts": {"first_name": "Ada", "autosave": 30}}  # name null: dropped
    assert await fatal(db, me, {"accounts": {"first_name": "  "}}) == "first_name must be nonempty"


async def test_only_own_row(db: Database) -> None:
    me = await make_account(db, "a@example.com")
    other = await make_account(db, "b@example.com")
    got = await run_user_query(
        db, me, {"accounts": {"account_id": str(other.account_id), "email_address": None}}, None
    )
    assert got == {}
    many = await run_user_query(db, me, {"accounts": [{"account_id": None}]}, None)
    assert many == {"accounts": [{"account_id": str(me.account_id)}]}
    # a set naming another account changes the caller's own row
    await run_user_query(
        db, me, {"accounts": {"account_id": str(other.account_id), "first_name": "Eve"}}, None
    )
    acct = await accounts.by_id(db, other.account_id)
    assert acct is not None and acct.first_name == "A"
    mine = await accounts.by_id(db, me.account_id)
    assert mine is not None and mine.first_name == "Eve"


async def test_fatal_errors(db: Database) -> None:
    me = await make_account(db, "a@example.com")
    assert await fatal(db, me, {"accounts": {}, "projects": {}}) == (
        "FATAL: must specify exactly one key in the query"
    )
    assert await fatal(db, me, {"nope": {"x": None}}) == "FATAL: table 'nope' does not exist"
    assert await fatal(db, me, {"accounts": {"password_hash": None}}) == (
        "FATAL: user get query not allowed for accounts.password_hash"
    )
    assert await fatal(db, me, {"accounts": {"groups": ["admin"]}}) == (
        "FATAL: changing accounts.groups not allowed"
    )
    assert await fatal(db, me, {"accounts": {"email_address": "x@y.z"}}) == (
        "FATAL: changing accounts.email_address not allowed"
    )
    assert await fatal(db, None, {"accounts": {"first_name": "x"}}) == (
        "FATAL: no anonymous set queries"
    )
    assert await fatal(db, None, {"accounts": {"first_name": None}}) == (
        "FATAL: anonymous get queries not allowed for table 'accounts'"
    )
    assert await fatal(db, me, {"accounts": {"first_name": "x"}}, [{"delete": True}]) == (
        "FATAL: delete from accounts not allowed"
    )
    assert await fatal(db, me, {"collaborators": {"first_name": "x"}}) == (
        "FATAL: user set queries not allowed for table 'collaborators'"
    )
    acct = await accounts.by_id(db, me.account_id)
    assert acct is not None and acct.groups == ()


async def test_sql_looking_values_are_data(db: Database) -> None:
    me = await make_account(db, "a@example.com")
    evil = "x'; DROP TABLE accounts; --"
    await run_user_query(db, me, {"accounts": {"first_name": evil}}, None)
    got = await run_user_query(db, me, {"accounts": {"first_name": None}}, None)
    assert got == {"accounts": {"first_name": evil}}
    assert await run_user_query(
        db, me, {"accounts": {"first_name": evil, "account_id": None}}, None
    )
    assert await fatal(db, me, {"accounts": {"account_id": evil, "first_name": None}}) == (
        "FATAL: invalid value for accounts.account_id"
    )
    assert await fatal(db, me, {"accounts": {'first_name" FROM accounts; --': None}}) == (
        'FATAL: user get query not allowed for accounts.first_name" FROM accounts; --'
    )
    assert await db.fetchval("SELECT count(*) FROM accounts") == 1
    assert isinstance(me.account_id, UUID)


async def test_name_taken_and_admin_sudo(db: Database) -> None:
    me = await make_account(db, "a@example.com")
    other = await make_account(db, "b@example.com")
    admin = await make_account(db, "admin@example.com", groups=("admin",))
    await run_user_query(db, other, {"accounts": {"name": "Org"}}, None)
    assert await fatal(db, me, {"accounts": {"name": "org"}}) == (
        'name "org" is already taken by another organization or account'
    )
    sudo = [{"account_id": str(other.account_id)}]
    got = await run_user_query(db, admin, {"accounts": {"name": None}}, sudo)
    assert got == {"accounts": {"name": "Org"}}
    assert await fatal(db, me, {"accounts": {"name": None}}, sudo) == "user must be admin to sudo"
