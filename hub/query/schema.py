"""The table registry: every table a user query may touch, and its rules.

Adding a table is one `Table` entry in `TABLES` plus a migration. Every SQL
identifier the query engine writes comes from here, never from the client.

Get rules (`Table.get_rule`):
    own_account    rows where account_id = the caller
    projects       the caller's projects (or one project_id given in the query,
                   which the caller must be able to read)
    project_id     rows of the project_id given in the query, which the caller must read
    public         rows of the project_id given in the query; anyone may read
    collaborators  accounts sharing a project with the caller
    everyone       every row

Set field specs (`Table.set_fields`):
    user           the client's value
    account_id     forced to the caller's account_id
    project_write  required; the caller must be owner or collaborator (or admin)
    computed       computed by the engine (public_paths.id), client value ignored
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from hub.query.hooks import SetHook, accounts_hook, projects_hook, public_paths_hook

GetRule = Literal["own_account", "projects", "project_id", "public", "collaborators", "everyone"]
SetSpec = Literal["user", "account_id", "project_write", "computed"]


@dataclass(frozen=True, slots=True)
class Column:
    """One column: its PostgreSQL type (`uuid`, `text`, `boolean`, `integer`,
    `timestamptz`, `jsonb`, `text[]`) and the default a get fills in."""

    type: str
    default: Any = None


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    sql_table: str  # the relation the SQL reads and writes
    primary_key: str
    columns: Mapping[str, Column]
    get_fields: frozenset[str]
    set_fields: Mapping[str, SetSpec] = field(default_factory=dict)
    get_rule: GetRule = "everyone"
    # extra fixed SQL condition on gets (no parameters)
    get_where: str | None = None
    default_limit: int | None = None
    default_order_by: str | None = None
    allow_delete: bool = False
    admin_set: bool = False  # only admins may set
    set_update_only: bool = False  # rows are never created by a set
    anonymous_get: bool = False
    set_hook: SetHook | None = None  # table-specific checks (hub/query/hooks.py)

    def column(self, name: str) -> Column:
        return self.columns[name]


EDITOR_SETTINGS_DEFAULTS: dict[str, Any] = {
    "auto_close_brackets": True,
    "auto_close_xml_tags": True,
    "bindings": "standard",
    "code_folding": True,
    "electric_chars": True,
    "extra_button_bar": True,
    "first_line_number": 1,
    "indent_unit": 4,
    "jupyter_classic": False,
    "line_numbers": True,
    "line_wrapping": True,
    "match_brackets": True,
    "match_xml_tags": True,
    "multiple_cursors": True,
    "show_trailing_whitespace": True,
    "smart_indent": True,
    "spaces_instead_of_tabs": True,
    "strip_trailing_whitespace": False,
    "tab_size": 4,
    "theme": "default",
    "track_revisions": True,
    "undo_depth": 300,
}

OTHER_SETTINGS_DEFAULTS: dict[str, Any] = {
    "katex": True,
    "confirm_close": False,
    "mask_files": True,
    "page_size": 500,
    "standby_timeout_m": 5,
    "default_file_sort": "name",
}

_ACCOUNT_COLUMNS: dict[str, Column] = {
    "account_id": Column("uuid"),
    "email_address": Column("text"),
    "editor_settings": Column("jsonb", EDITOR_SETTINGS_DEFAULTS),
    "other_settings": Column("jsonb", OTHER_SETTINGS_DEFAULTS),
    "name": Column("text"),
    "first_name": Column("text", ""),
    "last_name": Column("text", ""),
    "terminal": Column("jsonb", {"font_size": 14, "color_scheme": "default", "font": "monospace"}),
    "autosave": Column("integer", 45),
    "evaluate_key": Column("text", "Shift-Enter"),
    "font_size": Column("integer", 14),
    "groups": Column("text[]", []),
    "last_active": Column("timestamptz"),
    "profile": Column("jsonb", {"color": "rgb(170,170,170)"}),
    "ssh_keys": Column("jsonb", {}),
    "created": Column("timestamptz"),
    "unlisted": Column("boolean", False),
    "tags": Column("text[]"),
    "tours": Column("text[]"),
}

_PROJECT_COLUMNS: dict[str, Column] = {
    "project_id": Column("uuid"),
    "title": Column("text", ""),
    "description": Column("text", ""),
    "users": Column("jsonb", {}),
    "deleted": Column("boolean"),
    "state": Column("jsonb"),
    "settings": Column("jsonb"),
    "last_edited": Column("timestamptz"),
    "last_active": Column("jsonb"),
    "created": Column("timestamptz"),
}

_PROJECT_GET = frozenset(_PROJECT_COLUMNS)
_PROJECT_SET: dict[str, SetSpec] = {
    "project_id": "project_write",
    "title": "user",
    "description": "user",
    "deleted": "user",
    "users": "user",
}

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            name="accounts",
            sql_table="accounts",
            primary_key="account_id",
            columns=_ACCOUNT_COLUMNS,
            get_fields=frozenset(_ACCOUNT_COLUMNS),
            set_fields={
                "account_id": "account_id",
                "name": "user",
                "editor_settings": "user",
                "other_settings": "user",
                "first_name": "user",
                "last_name": "user",
                "terminal": "user",
                "autosave": "user",
                "evaluate_key": "user",
                "font_size": "user",
                "profile": "user",
                "ssh_keys": "user",
                "unlisted": "user",
                "tags": "user",
                "tours": "user",
            },
            get_rule="own_account",
            set_update_only=True,
            set_hook=accounts_hook,
        ),
        Table(
            name="projects",
            sql_table="projects",
            primary_key="project_id",
            columns=_PROJECT_COLUMNS,
            get_fields=_PROJECT_GET,
            set_fields=_PROJECT_SET,
            get_rule="projects",
            get_where="last_edited >= now() - interval '21 days'",
            default_limit=100,
            default_order_by="-last_edited",
            set_update_only=True,
            set_hook=projects_hook,
        ),
        Table(
            name="projects_all",
            sql_table="projects",
            primary_key="project_id",
            columns=_PROJECT_COLUMNS,
            get_fields=_PROJECT_GET,
            set_fields=_PROJECT_SET,
            get_rule="projects",
            set_update_only=True,
            set_hook=projects_hook,
        ),
        Table(
            name="public_paths",
            sql_table="public_paths",
            primary_key="id",
            columns={
                "id": Column("text"),
                "project_id": Column("uuid"),
                "path": Column("text"),
                "name": Column("text"),
                "description": Column("text"),
                "disabled": Column("boolean"),
                "unlisted": Column("boolean"),
                "license": Column("text"),
                "created": Column("timestamptz"),
                "last_edited": Column("timestamptz"),
            },
            get_fields=frozenset(
                {
                    "id",
                    "project_id",
                    "path",
                    "name",
                    "description",
                    "disabled",
                    "unlisted",
                    "license",
                    "created",
                    "last_edited",
                }
            ),
            set_fields={
                "id": "computed",
                "project_id": "project_write",
                "path": "user",
                "name": "user",
                "description": "user",
                "disabled": "user",
                "unlisted": "user",
                "license": "user",
                "last_edited": "user",
                "created": "user",
            },
            get_rule="public",
            anonymous_get=True,
            allow_delete=True,
            set_hook=public_paths_hook,
        ),
        Table(
            name="collaborators",
            sql_table="accounts",
            primary_key="account_id",
            columns={
                "account_id": Column("uuid"),
                "first_name": Column("text", ""),
                "last_name": Column("text", ""),
                "last_active": Column("timestamptz"),
                "profile": Column("jsonb", {"color": "rgb(170,170,170)"}),
            },
            get_fields=frozenset(
                {"account_id", "first_name", "last_name", "last_active", "profile"}
            ),
            get_rule="collaborators",
        ),
        Table(
            name="project_log",
            sql_table="project_log",
            primary_key="id",
            columns={
                "id": Column("uuid"),
                "project_id": Column("uuid"),
                "time": Column("timestamptz"),
                "account_id": Column("uuid"),
                "event": Column("jsonb"),
            },
            get_fields=frozenset({"id", "project_id", "time", "account_id", "event"}),
            set_fields={
                "id": "user",
                "project_id": "project_write",
                "account_id": "account_id",
                "time": "user",
                "event": "user",
            },
            get_rule="project_id",
            default_order_by="-time",
        ),
        Table(
            name="system_notifications",
            sql_table="system_notifications",
            primary_key="id",
            columns={
                "id": Column("uuid"),
                "time": Column("timestamptz"),
                "text": Column("text", ""),
                "priority": Column("text", "low"),
                "done": Column("boolean", False),
            },
            get_fields=frozenset({"id", "time", "text", "priority", "done"}),
            set_fields={
                "id": "user",
                "time": "user",
                "text": "user",
                "priority": "user",
                "done": "user",
            },
            get_rule="everyone",
            admin_set=True,
        ),
    )
}
