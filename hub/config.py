"""One frozen `Settings`, built once from defaults, `HUB_*` variables and flags.

Every limit of the hub lives here with a default and a one-line doc. Nothing else
in the package reads `os.environ`: the CLI builds a `Settings` and passes it in.
Each field `foo_bar` has the flag `--foo-bar` and the variable `HUB_FOO_BAR`;
flags win over variables, variables over defaults.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MiB = 1024 * 1024


def setting(default: Any, doc: str) -> Any:
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True, slots=True)
class Settings:
    # --- serving -------------------------------------------------------------
    host: str = setting("127.0.0.1", "address to listen on")
    port: int = setting(5000, "TCP port for WebSocket and HTTP (0 picks a free one)")
    data_dir: Path = setting(Path("./data"), "directory for the embedded PostgreSQL and projects")
    database_url: str = setting(
        "", "PostgreSQL URL; empty starts an embedded server under <data-dir>/postgres"
    )
    log_level: str = setting("info", "log level: debug, info, warning, error")
    log_format: str = setting("json", "log format: json or console")
    trusted_proxies: str = setting(
        "", "proxies (addresses or networks, comma-separated) whose X-Forwarded-For is believed"
    )
    web_console: bool = setting(True, "serve the web console at / and /web/")
    advertise_host: str = setting(
        "",
        "host this hub is reached at, listed in hub_servers (empty: --host, or the machine's"
        " name when --host is a wildcard)",
    )
    hub_heartbeat_s: float = setting(
        10.0, "how often this hub renews its hub_servers row; 3 missed beats and it is gone"
    )

    # --- WebSocket sessions ----------------------------------------------------
    max_message_bytes: int = setting(20 * MiB, "largest WebSocket frame accepted (close 1009)")
    inbound_queue: int = setting(300, "messages a session may have waiting for a handler slot")
    max_concurrent_handlers: int = setting(32, "handlers one session may run at the same time")
    outbound_queue: int = setting(
        1000, "replies waiting to be written before a non-reading client is closed (4008)"
    )
    ws_max_messages_per_s: float = setting(
        200.0, "messages one connection may send per second; beyond, the hub reads it slower"
    )
    ws_message_burst: int = setting(1000, "messages one connection may send at once in a burst")
    ws_heartbeat_s: float = setting(
        30.0, "ping a client quiet this long; no answer in half of it closes (4009)"
    )
    ws_compression: bool = setting(False, "offer permessage-deflate (raises memory per client)")
    shutdown_grace_s: float = setting(10.0, "on SIGTERM, how long running handlers may finish")
    version_recommended: int = setting(0, "clients older than this are told to upgrade")
    version_min: int = setting(0, "clients older than this are disconnected (4003)")

    client_log_max_chars: int = setting(
        10_000, "longest text kept from log_client_error, webapp_error and user_tracking"
    )

    # --- HTTP API ----------------------------------------------------------------
    api_max_body_bytes: int = setting(1 * MiB, "largest POST /api/v1 body (413)")
    api_rate_per_s: float = setting(50.0, "sustained API requests per second per key or address")
    api_rate_burst: int = setting(100, "API requests a key or address may send in a burst (429)")
    api_key_cache_s: float = setting(60.0, "how long a verified API key stays cached in memory")
    api_timeout_s: float = setting(60.0, "longest an API request may wait for its handler")
    api_body_timeout_s: float = setting(30.0, "longest a client may take to send a body (408)")
    allowed_origins: str = setting(
        "", "comma-separated Origins allowed to open the WebSocket (empty: any)"
    )

    # --- user queries ---------------------------------------------------------------
    query_running: int = setting(10, "queries one client may run at once")
    query_waiting: int = setting(150, "queries one client may have waiting to start")
    query_wait_timeout_s: float = setting(
        15.0, "a query that has not started after this long fails with 'timeout'"
    )

    feeds_per_client: int = setting(100, "changefeeds one connection may hold")
    change_log_retention_s: float = setting(600.0, "how long changes are kept for resuming")

    # --- projects ------------------------------------------------------------
    project_isolate_users: str = setting(
        "auto",
        "as root, run each project as its own Unix user: on, off, or auto (on when every"
        " user can run the daemon's interpreter and packages)",
    )
    project_python: str = setting("", "interpreter for project daemons (empty: the hub's own)")
    project_host: str = setting("127.0.0.1", "address project daemons listen on")
    project_start_timeout_s: float = setting(20.0, "longest wait for a project daemon to start")
    project_stop_grace_s: float = setting(5.0, "SIGTERM to SIGKILL delay when stopping a project")
    project_idle_timeout_s: float = setting(1800.0, "stop a project after this long unused")
    project_max_processes: int = setting(
        1024, "processes one project may run at once (pids cgroup, or per-user limit); 0: no cap"
    )
    project_reap_interval_s: float = setting(30.0, "how often idle projects are looked for")
    project_uid_range: str = setting(
        "", "uid range for project users, e.g. 200000-299999 (empty: useradd's system range)"
    )
    project_runner: str = setting(
        "local",
        "what runs projects: local (a daemon per project on this machine) or template"
        " (projects run elsewhere, e.g. pods, found by project_address_template)",
    )
    project_address_template: str = setting(
        "", "template runner: HOST:PORT of a project, e.g. project-{project_id}.projects:6000"
    )
    project_token_key_file: str = setting(
        "", "template runner: key file; a project's token is HMAC-SHA256(key, project_id) hex"
    )
    project_access_cache_s: float = setting(
        10.0, "how long a confirmed project membership is trusted without a query (0: never)"
    )
    project_connect_timeout_s: float = setting(
        20.0, "longest wait to open a link to a project (start included)"
    )
    project_heartbeat_s: float = setting(
        30.0, "heartbeat on project links; silence for 1.5x drops the link"
    )
    project_max_frame_bytes: int = setting(16 * MiB + 64, "largest frame on a project link")
    project_max_blob_bytes: int = setting(
        64 * MiB, "largest file archive a project may hand the hub (read_file_from_project)"
    )
    blob_ttl_s: float = setting(86400.0, "how long downloads and uploads are kept")
    blob_upload_max_bytes: int = setting(16 * MiB, "largest upload to POST /blobs (413)")
    copy_timeout_s: float = setting(3600.0, "longest a copy between projects may take")
    copy_poll_s: float = setting(1.0, "how often scheduled copies are looked for")
    cleanup_interval_s: float = setting(
        3600.0, "how often expired blobs, cookies and tokens are deleted"
    )

    # --- live code: output of every stream -------------------------------------
    stream_max_messages_per_s: float = setting(
        1000.0, "messages per second one stream (cell, command, terminal) may send a client"
    )
    stream_max_bytes_per_s: float = setting(
        1_000_000.0, "bytes per second one stream may send a client; beyond: a truncation notice"
    )

    # --- live code: worksheets ---------------------------------------------------
    worksheet_output_window: int = setting(
        32, "sagews_output parts a cell sends before it waits for a sagews_output_ack"
    )
    worksheet_timeout_s: float = setting(
        60.0, "longest wait for sagews_start, sagews_interrupt and sagews_quit"
    )
    worksheet_cells_per_client: int = setting(
        16, "cells one connection may have running or queued (keeps slots for interrupts)"
    )

    # --- live code: terminals ----------------------------------------------------
    terminals_per_client: int = setting(
        16, "terminals one connection may have attached at once (data channels, at most 255)"
    )
    terminal_max_input_bytes: int = setting(
        65536, "largest keystroke data in one binary frame (after the channel byte)"
    )
    terminal_start_timeout_s: float = setting(
        30.0, "longest wait for a project to start or reattach a terminal"
    )

    # --- live code: Jupyter ------------------------------------------------------
    jupyter_api_enabled: bool = setting(
        False, "serve jupyter_* without a project_id from the hub's shared pool project"
    )
    jupyter_pool_project_id: str = setting(
        "00000000-0000-4000-8000-00000000a001",
        "the project the shared pool's kernels run in (needs no database row)",
    )
    jupyter_timeout_s: float = setting(45.0, "jupyter_execute in a project: total time")
    jupyter_cell_timeout_s: float = setting(30.0, "jupyter_execute in a project: time per cell")
    jupyter_max_output_bytes: int = setting(5_000_000, "jupyter_execute in a project: output")
    jupyter_max_cell_output_bytes: int = setting(
        1_000_000, "jupyter_execute in a project: output of one cell"
    )
    jupyter_pool_timeout_s: float = setting(30.0, "jupyter_execute in the shared pool: total time")
    jupyter_pool_cell_timeout_s: float = setting(
        15.0, "jupyter_execute in the shared pool: time per cell"
    )
    jupyter_pool_max_output_bytes: int = setting(
        2_500_000, "jupyter_execute in the shared pool: output"
    )
    jupyter_pool_max_cell_output_bytes: int = setting(
        500_000, "jupyter_execute in the shared pool: output of one cell"
    )
    jupyter_cache_s: float = setting(
        86400.0, "how long a jupyter_execute result answers identical requests (0: no cache)"
    )
    jupyter_pooled_kernels: int = setting(
        4, "pre-started kernels (ready and starting) one project keeps at most"
    )
    jupyter_pooled_idle_s: float = setting(
        600.0, "a pre-started kernel nobody used for this long is shut down"
    )
    jupyter_max_running: int = setting(
        8, "kernels running jupyter_execute in one project at once; more are refused"
    )

    # --- AI assistants (docs/ai.md) ------------------------------------------------
    ai_base_url: str = setting(
        "", "OpenAI-compatible API, e.g. https://api.openai.com/v1 (empty: AI is off)"
    )
    # repr=False: a Settings printed in a log or a traceback never shows the key
    ai_api_key: str = field(
        default="", repr=False, metadata={"doc": "bearer key sent to ai_base_url (never logged)"}
    )
    ai_models: str = setting(
        "", "comma-separated chat models clients may ask for (empty: only the default)"
    )
    ai_default_model: str = setting("gpt-4o-mini", "chat model used when a request names none")
    ai_embedding_model: str = setting("text-embedding-3-small", "model for openai_embeddings_*")
    ai_requests_per_minute: int = setting(20, "AI requests one account may make per minute")
    ai_max_tokens: int = setting(
        4000, "largest chat request in tokens: prompt (characters/4) plus the reply"
    )
    ai_tokens_per_day: int = setting(200_000, "AI tokens one account may use in 24 hours")
    ai_timeout_s: float = setting(120.0, "longest wait for the AI endpoint (per request)")

    # --- print_to_pdf ----------------------------------------------------------
    print_to_pdf_timeout_s: float = setting(
        120.0, "longest a project may take to turn a file into PDF (at most 600)"
    )

    # --- billing -------------------------------------------------------------
    stripe_secret_key: str = field(  # repr=False: a logged or printed Settings hides it
        default="",
        repr=False,
        metadata={
            "doc": "Stripe secret key for the stripe_* events (empty: billing not configured)"
        },
    )
    stripe_publishable_key: str = setting(
        "", "Stripe publishable key sent to clients in stripe_customer (for the card form)"
    )
    stripe_api_base: str = setting(
        "", "base URL of Stripe's API (empty: https://api.stripe.com; tests use a stand-in)"
    )
    stripe_currency: str = setting("usd", "currency of invoice items an admin adds")
    stripe_timeout_s: float = setting(30.0, "longest one call to Stripe may take")

    # --- upgrades and licenses (docs/upgrades.md) -----------------------------------
    licenses_self_service: bool = setting(
        False,
        "purchase_license records a license for free (no billing here); otherwise admins only",
    )
    license_max_quantity: int = setting(1000, "largest quantity one license may have")
    license_max_days: float = setting(3650.0, "longest a license may run, in days")
    project_enforce_quotas: bool = setting(
        False, "run each project in memory/cpu cgroups sized by its quotas (when writable)"
    )
    user_search_limit: int = setting(50, "most results user_search gives a non-admin")
    user_search_admin_limit: int = setting(1000, "most results user_search gives an admin")
    user_search_max_terms: int = setting(20, "comma-separated terms one user_search may have")
    save_blob_project_ttl_s: float = setting(
        86400.0, "how long a blob a project saves is kept when it names no ttl"
    )
    save_blob_max_ttl_s: float = setting(
        30 * 86400.0, "longest ttl a project may ask for (clients may also keep blobs forever)"
    )

    # --- database ------------------------------------------------------------
    db_pool_min: int = setting(2, "connections the pool keeps open")
    db_pool_max: int = setting(20, "most connections the pool opens")
    db_statement_timeout_s: float = setting(30.0, "server-side timeout for every statement")
    db_connect_timeout_s: float = setting(3.0, "timeout to open or acquire a connection")
    db_health_interval_s: float = setting(2.0, "how often the hub checks the database is up")

    # --- accounts --------------------------------------------------------------
    allow_signup: bool = setting(True, "whether create_account is accepted at all")
    registration_token: str = setting("", "if set, create_account must carry this token")
    signups_per_ip: int = setting(150, "accounts one IP address may create per window")
    signup_window_s: float = setting(1800.0, "window for signups_per_ip")
    remember_me_ttl_s: float = setting(30 * 86400.0, "lifetime of a remember-me cookie")
    remember_me_recheck_s: float = setting(300.0, "how often a cookie session is re-validated")
    cookie_name: str = setting("remember_me", "name of the remember-me cookie")
    cookie_secure: bool = setting(False, "mark cookies Secure (turn on behind TLS)")
    auth_token_ttl_s: float = setting(12 * 3600.0, "lifetime of a user_auth impersonation token")
    sign_in_fail_per_email_min: int = setting(5, "failed sign-ins per email per minute")
    sign_in_fail_per_email_hour: int = setting(50, "failed sign-ins per email per hour")
    sign_in_fail_per_ip_min: int = setting(30, "failed sign-ins per IP address per minute")
    sign_in_fail_per_ip_hour: int = setting(200, "failed sign-ins per IP address per hour")
    user_auth_retry_s: float = setting(60.0, "wait after a wrong user_auth password")
    argon2_time_cost: int = setting(2, "argon2id passes")
    argon2_memory_kib: int = setting(19456, "argon2id memory in KiB")

    @classmethod
    def docs(cls) -> dict[str, str]:
        return {f.name: f.metadata["doc"] for f in dataclasses.fields(cls)}

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Add one `--flag` per setting; unset flags stay None so env and defaults apply."""
        group = parser.add_argument_group("settings (each also as HUB_<NAME>)")
        for f in dataclasses.fields(cls):
            flag = "--" + f.name.replace("_", "-")
            default = f.default
            if isinstance(default, bool):
                group.add_argument(
                    flag,
                    dest=f.name,
                    default=None,
                    action=argparse.BooleanOptionalAction,
                    help=f"{f.metadata['doc']} (default: {default})",
                )
            else:
                group.add_argument(
                    flag,
                    dest=f.name,
                    default=None,
                    metavar=f.name.upper(),
                    help=f"{f.metadata['doc']} (default: {default})",
                )

    @classmethod
    def load(
        cls,
        args: argparse.Namespace | None = None,
        environ: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw: Any = None
            var = "HUB_" + f.name.upper()
            if var in env:
                raw = env[var]
            if args is not None and getattr(args, f.name, None) is not None:
                raw = getattr(args, f.name)
            if f.name in overrides:
                raw = overrides[f.name]
            if raw is not None:
                values[f.name] = _coerce(f.name, f.default, raw)
        settings = cls(**values)
        if settings.trusted_proxies:
            from hub.transport.addresses import parse_networks

            parse_networks(settings.trusted_proxies)  # a bad entry stops the start, named
        return settings


def _coerce(name: str, default: Any, raw: Any) -> Any:
    if not isinstance(raw, str):
        return raw
    try:
        if isinstance(default, bool):
            lowered = raw.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, Path):
            return Path(raw)
    except ValueError:
        raise ValueError(
            f"setting {name}: cannot read {raw!r} as {type(default).__name__}"
        ) from None
    return raw
