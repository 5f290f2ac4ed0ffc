"""Which events the HTTP API accepts: those `reference/message.js` wraps in `API(...)`,
plus the few extension events in `API_EXTENSIONS`.

`POST /api/v1/<event>` serves an event only if it is in `API_EVENTS`; any other
event, known or not, is a 404 there. A conformance test checks this set against
the reference file, so it cannot drift.
"""

from __future__ import annotations

__all__ = ["API_EVENTS", "API_EXTENSIONS", "REFERENCE_API_EVENTS"]

REFERENCE_API_EVENTS: frozenset[str] = frozenset(
    {
        # accounts and auth
        "create_account",
        "user_auth",
        # projects and files
        "project_exec",
        "read_text_file_from_project",
        "write_text_file_to_project",
        "copy_path_between_projects",
        "copy_path_status",
        "copy_path_delete",
        "disconnect_from_project",
        # system
        "ping",
        "log_client_error",
        "query",
        "get_available_upgrades",
        # billing
        "stripe_get_customer",
        "stripe_customer",
        "stripe_create_source",
        "stripe_delete_source",
        "stripe_set_default_source",
        "stripe_update_source",
        "stripe_plans",
        "stripe_create_subscription",
        "stripe_cancel_subscription",
        "stripe_update_subscription",
        "stripe_get_subscriptions",
        "stripe_get_coupon",
        "stripe_get_charges",
        "stripe_get_invoices",
        "purchase_license",
        # language models
        "chatgpt",
        "openai_embeddings_search",
        "openai_embeddings_save",
        "openai_embeddings_remove",
        # jupyter
        "jupyter_execute",
        "jupyter_kernels",
        "jupyter_start_pool",
    }
)

# Events this hub adds to the HTTP API (CoCalc's hub served them; message.js lost
# them). Each is listed in messages.EXTENSIONS and docs/compatibility.md.
API_EXTENSIONS: frozenset[str] = frozenset(
    {"create_project", "invite_collaborator", "remove_collaborator", "user_search"}
)

API_EVENTS: frozenset[str] = REFERENCE_API_EVENTS | API_EXTENSIONS
