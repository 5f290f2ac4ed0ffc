"""Finding people: user_search, and the users of one project (get_project_users).

user_search as CoCalc's hub did it: `query` is split at commas into terms; a term
that is an e-mail address finds the account with exactly that address (and only
then is the address shown); any other term finds accounts whose first or last
name starts with each of its words, in any order ("jo sm" finds John Smith).
Deleted and banned accounts are never found, unlisted ones only by address.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from msgspec import UnsetType

from hub.db.database import Queryable
from hub.errors import BadRequest
from hub.handlers.context import Context
from hub.handlers.registry import Routes
from hub.projects.access import require
from hub.protocol.messages import GetProjectUsers, ProjectUsers, UserSearch, UserSearchResults

routes = Routes()

SIGN_IN_TEXT = "You must be signed in to search for users."
QUERY_MAX = 10_000
WORDS_MAX = 10
_EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+\.[^@\s,]+$")
_COLUMNS = "account_id, first_name, last_name, last_active, created"


def parse_terms(query: str, max_terms: int) -> tuple[list[str], list[list[str]]]:
    """(exact addresses, name terms as lists of lower-cased word prefixes)."""
    emails: list[str] = []
    names: list[list[str]] = []
    terms = [t.strip().lower() for t in query.split(",") if t.strip()]
    if len(terms) > max_terms:
        raise BadRequest(f"at most {max_terms} comma-separated terms")
    for term in terms:
        if _EMAIL.match(term):
            emails.append(term)
        else:
            words = term.split()[:WORDS_MAX]
            if words:
                names.append(words)
    return emails, names


def _like_prefix(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _result(row: Any, email: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "account_id": str(row["account_id"]),
        "first_name": row["first_name"] or "",
        "last_name": row["last_name"] or "",
    }
    for key in ("last_active", "created"):
        value = row[key]
        if isinstance(value, datetime):
            out[key] = value.isoformat()
    if email is not None:
        out["email_address"] = email
    return out


async def search(
    db: Queryable, emails: list[str], names: list[list[str]], limit: int
) -> list[dict[str, Any]]:
    by_email: list[dict[str, Any]] = []
    found: dict[str, dict[str, Any]] = {}
    if emails:
        rows = await db.fetch(
            f"SELECT {_COLUMNS}, lower(email_address) AS email FROM accounts"
            " WHERE lower(email_address) = ANY($1::text[]) AND NOT deleted AND NOT banned"
            " LIMIT $2",
            emails,
            limit,
        )
        by_email = [_result(row, row["email"]) for row in rows]
    for words in names:
        if len(by_email) + len(found) >= limit:
            break
        params: list[Any] = []
        conditions = []
        for word in words:
            params.append(_like_prefix(word))
            n = len(params)
            conditions.append(f"(lower(first_name) LIKE ${n} OR lower(last_name) LIKE ${n})")
        params.append(limit)
        rows = await db.fetch(
            f"SELECT {_COLUMNS} FROM accounts WHERE NOT deleted AND NOT banned"
            " AND unlisted IS NOT TRUE AND "
            + " AND ".join(conditions)
            + f" ORDER BY last_active DESC NULLS LAST, created DESC LIMIT ${len(params)}",
            *params,
        )
        for row in rows:
            found.setdefault(str(row["account_id"]), _result(row))
    # as CoCalc: address matches first, then name matches (an account found both ways
    # appears twice, once with its address and once without)
    return (by_email + list(found.values()))[:limit]


@routes.handler(UserSearch, not_signed_in_text=SIGN_IN_TEXT)
async def user_search(msg: UserSearch, ctx: Context) -> UserSearchResults:
    identity = ctx.identity
    assert identity is not None
    settings = ctx.hub.settings
    cap = settings.user_search_admin_limit if identity.is_admin else settings.user_search_limit
    limit = cap if isinstance(msg.limit, UnsetType) else msg.limit
    if limit < 1:
        raise BadRequest("limit must be at least 1")
    limit = min(limit, cap)
    if len(msg.query) > QUERY_MAX:
        raise BadRequest(f"query must be at most {QUERY_MAX} characters")
    emails, names = parse_terms(msg.query, settings.user_search_max_terms)
    results = await search(ctx.hub.db, emails, names, limit)
    return UserSearchResults(id=msg.id, results=results)


@routes.handler(GetProjectUsers)
async def get_project_users(msg: GetProjectUsers, ctx: Context) -> ProjectUsers:
    """{account_id: {group, first_name, last_name}} for everyone on the project."""
    await require(ctx, msg.project_id, "read")
    rows = await ctx.hub.db.fetch(
        """
        SELECT u.key AS account_id, u.value ->> 'group' AS grp, a.first_name, a.last_name
        FROM projects p, jsonb_each(p.users) u
        LEFT JOIN accounts a ON a.account_id::text = u.key
        WHERE p.project_id = $1
        """,
        msg.project_id,
    )
    users: dict[str, Any] = {}
    for row in rows:
        if row["grp"] is None:
            continue
        users[row["account_id"]] = {
            "group": row["grp"],
            "first_name": row["first_name"] or "",
            "last_name": row["last_name"] or "",
        }
    return ProjectUsers(id=msg.id, users=users)
