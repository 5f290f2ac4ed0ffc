"""Changefeeds of user queries: one change log per hub, fanned out in memory.

A feed remembers the rows its client has (the initial result, then every change
sent) and, for each change of its table, works out from the logged row alone
whether the client must see an insert, an update or a delete: no query per
change, whatever the number of subscribers. Because it compares with what the
client has, a change already contained in the initial result is not sent twice,
and one committed while the initial result was computed is not lost.

Feeds are served for the tables whose visibility can be decided from a row
(`own_account`, `projects`, `everyone`, `public` rules) and for equality filters;
other queries get a clear error instead of a feed that would miss changes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from hub.handlers.context import Identity
from hub.query.changes import Change, ChangeLog
from hub.query.get import OPERATORS, _fill_defaults
from hub.query.match import Unsupported, check, matches
from hub.query.parse import QueryError, parse_query, substitutions
from hub.query.schema import TABLES, Table

# rules under which a changed row alone says whether the client may see it (for
# "public" and "project_id" the initial query checked access to the project, and
# the feed's project_id filter keeps it to that project)
FEED_RULES = frozenset({"own_account", "projects", "everyone", "public", "project_id"})

Send = Callable[[dict[str, Any]], None]


class Feed:
    def __init__(
        self,
        feed_id: str,
        table: Table,
        identity: Identity | None,
        fields: list[str],
        equals: dict[str, Any],
        send: Send,
        conditions: list[tuple[str, str, Any]] | None = None,
    ) -> None:
        self.feed_id = feed_id
        self.table = table
        self.identity = identity
        self.fields = fields
        self.equals = equals
        self.conditions = conditions or []
        self.send = send
        self.rows: dict[str, dict[str, Any]] = {}
        # changes that arrive before the initial result is known wait here
        self._early: list[Change] | None = []
        # a resumed feed does not know the client's rows: it judges each change by
        # whether the row was visible before it (old_val) and is after it (new_val)
        self.stateless = False
        self._after_seq = 0

    def route_key(self) -> str | None:
        """The one row this feed follows (an equality filter on the primary key)."""
        value = self.equals.get(self.table.primary_key)
        return None if value is None else str(value).lower()

    def key(self, row: dict[str, Any]) -> str:
        return str(row.get(self.table.primary_key))

    def start(self, initial: list[dict[str, Any]]) -> None:
        """The client has the initial result: from now on, send what differs from it."""
        for row in initial:
            self.rows[self.key(row)] = row
        early, self._early = self._early or [], None
        for change in early:
            self.on_change(change)

    def visible(self, row: dict[str, Any]) -> bool:
        rule = self.table.get_rule
        caller = None if self.identity is None else str(self.identity.account_id)
        if rule == "own_account" and row.get("account_id") != caller:
            return False
        if rule == "projects":
            users = row.get("users")
            if not isinstance(users, dict) or caller not in users or row.get("deleted"):
                return False
            scoped = self.identity.project_id if self.identity else None
            if scoped is not None and row.get("project_id") != str(scoped):
                return False
        kind = self.table.column
        if not all(matches(kind(f).type, row.get(f), "=", v) for f, v in self.equals.items()):
            return False
        return all(
            matches(self.table.column(f).type, row.get(f), op, v) for f, op, v in self.conditions
        )

    def resume(self, since: int, missed: list[Change]) -> None:
        """The client has everything up to `since`: send what it missed, then go on."""
        self.stateless = True
        early, self._early = self._early or [], None
        self._after_seq = since
        for change in [*missed, *early]:
            self.on_change(change)

    def on_change(self, change: Change) -> None:
        if self._early is not None:
            self._early.append(change)
            return
        if change.seq <= self._after_seq:
            return  # already sent (a resumed feed's early changes overlap its catch-up)
        self._after_seq = change.seq
        if self.stateless:
            self._on_change_stateless(change)
            return
        key = str(change.pk.get(self.table.primary_key))
        had = self.rows.get(key)
        new_row = change.new_val if change.action != "delete" else None
        now = (
            _fill_defaults(self.table, self.fields, new_row)
            if new_row is not None and self.visible(new_row)
            else None
        )
        if now is None:
            if had is not None:
                del self.rows[key]
                self.send(self._message("delete", change.seq, old_val=self._pk(had)))
            return
        if had == now:
            return  # nothing the client sees changed (or the initial result had it)
        self.rows[key] = now
        action = "update" if had is not None else "insert"
        self.send(self._message(action, change.seq, new_val=now))

    def _on_change_stateless(self, change: Change) -> None:
        before = change.old_val is not None and self.visible(change.old_val)
        after_row = change.new_val if change.action != "delete" else None
        if after_row is not None and self.visible(after_row):
            now = _fill_defaults(self.table, self.fields, after_row)
            self.send(self._message("update" if before else "insert", change.seq, new_val=now))
        elif before and change.old_val is not None:
            self.send(self._message("delete", change.seq, old_val=self._pk(change.old_val)))

    def _pk(self, row: dict[str, Any]) -> dict[str, Any]:
        pk = self.table.primary_key
        return {pk: row.get(pk)}

    def _message(self, action: str, seq: int, **vals: Any) -> dict[str, Any]:
        return {
            "event": "query",
            "id": self.feed_id,
            "multi_response": True,
            "action": action,
            "seq": seq,
            **vals,
        }


def plan_feed(
    identity: Identity | None, query: Any, options: list[dict[str, Any]] | None
) -> tuple[Table, list[str], dict[str, Any], list[tuple[str, str, Any]]]:
    """Check that a query can be a feed; its table, fields, equality filters and the
    operator conditions (field, operator, value)."""
    subs = substitutions(
        str(identity.account_id) if identity else None,
        str(identity.project_id) if identity and identity.project_id else None,
    )
    if isinstance(query, list):
        raise QueryError("FATAL: changefeeds only implemented for single table")
    q = parse_query(query, options, subs)
    if q.is_set:
        raise QueryError("FATAL: changefeeds only for read queries")
    table = TABLES.get(q.table)
    if table is None:
        raise QueryError(f"FATAL: table '{q.table}' does not exist")
    if table.get_rule not in FEED_RULES:
        raise QueryError(f"FATAL: changefeeds are not available for table '{table.name}' yet")
    equals: dict[str, Any] = {}
    conditions: list[tuple[str, str, Any]] = []
    for field, value in q.row.items():
        if field not in table.columns:
            continue  # the get itself refuses it with CoCalc's text
        if isinstance(value, dict) and value and all(k in OPERATORS for k in value):
            for op, wanted in value.items():
                try:
                    check(table.column(field).type, op)
                except Unsupported as exc:
                    raise QueryError(
                        f"FATAL: changefeeds cannot follow {field} with this filter ({exc})"
                    ) from None
                conditions.append((field, op, wanted))
        elif isinstance(value, dict | list):
            raise QueryError(
                f"FATAL: changefeeds cannot follow {field} compared with a JSON document"
            )
        elif value is not None:
            try:
                check(table.column(field).type, "=")
            except Unsupported as exc:
                raise QueryError(
                    f"FATAL: changefeeds cannot follow {field} with this filter ({exc})"
                ) from None
            equals[field] = value
    if table.get_rule in ("public", "project_id") and "project_id" not in equals:
        raise QueryError("FATAL: must specify project_id")
    fields = list(q.row)
    if table.primary_key not in fields:
        fields.insert(0, table.primary_key)
    return table, fields, equals, conditions


class _TableFeeds:
    """The feeds on one table: those that follow one row (an equality filter on the
    primary key) by that key, so a change reaches only the feeds that may want it."""

    __slots__ = ("by_key", "general")

    def __init__(self) -> None:
        self.general: set[Feed] = set()
        self.by_key: dict[str, set[Feed]] = {}

    def add(self, feed: Feed) -> None:
        key = feed.route_key()
        if key is None:
            self.general.add(feed)
        else:
            self.by_key.setdefault(key, set()).add(feed)

    def discard(self, feed: Feed) -> None:
        key = feed.route_key()
        if key is None:
            self.general.discard(feed)
            return
        keyed = self.by_key.get(key)
        if keyed is not None:
            keyed.discard(feed)
            if not keyed:
                del self.by_key[key]

    def __bool__(self) -> bool:
        return bool(self.general or self.by_key)

    def for_change(self, change: Change) -> list[Feed]:
        feeds = list(self.general)
        for value in change.pk.values():
            feeds.extend(self.by_key.get(str(value).lower(), ()))
        return feeds


class Feeds:
    """This hub's feeds, by table; one subscription to the change log per table."""

    def __init__(self, change_log: ChangeLog, max_per_client: int) -> None:
        self.change_log = change_log
        self.max_per_client = max_per_client
        self._by_table: dict[str, _TableFeeds] = {}
        self._by_owner: dict[object, dict[str, Feed]] = {}
        self._unsubscribe: dict[str, Callable[[], None]] = {}

    def add(self, owner: object, feed: Feed) -> None:
        mine = self._by_owner.setdefault(owner, {})
        if feed.feed_id not in mine and len(mine) >= self.max_per_client:
            raise QueryError(f"FATAL: too many changefeeds (at most {self.max_per_client})")
        old = mine.pop(feed.feed_id, None)
        if old is not None:
            self._drop(old)
        mine[feed.feed_id] = feed
        sql_table = feed.table.sql_table
        self._by_table.setdefault(sql_table, _TableFeeds()).add(feed)
        if sql_table not in self._unsubscribe:
            self._unsubscribe[sql_table] = self.change_log.subscribe(
                sql_table, functools.partial(self._fan_out, sql_table)
            )

    def _fan_out(self, sql_table: str, change: Change) -> None:
        feeds = self._by_table.get(sql_table)
        if feeds is not None:
            for feed in feeds.for_change(change):
                feed.on_change(change)

    def cancel(self, owner: object, feed_id: str) -> bool:
        feed = self._by_owner.get(owner, {}).pop(feed_id, None)
        if feed is None:
            return False
        self._drop(feed)
        return True

    def drop_owner(self, owner: object) -> None:
        for feed in self._by_owner.pop(owner, {}).values():
            self._drop(feed)

    def _drop(self, feed: Feed) -> None:
        sql_table = feed.table.sql_table
        feeds = self._by_table.get(sql_table)
        if feeds is not None:
            feeds.discard(feed)
            if not feeds:
                del self._by_table[sql_table]
                self._unsubscribe.pop(sql_table)()
