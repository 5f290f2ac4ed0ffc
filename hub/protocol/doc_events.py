"""The API reference's prose about events: the introduction, a one-line summary of
every event, and a longer description with a `curl` example for each HTTP API event.
Written for this hub, in its own words."""

from __future__ import annotations

from typing import Final

HOST: Final = "http://127.0.0.1:5000"

INTRO: Final = f"""\
Every event marked as part of the HTTP API can be sent without a WebSocket, as
`POST /api/v1/<event>` (for example `{HOST}/api/v1/ping`).

**Body.** The parameters are the event's fields, sent either as a JSON object
(`Content-Type: application/json`) or as form fields
(`application/x-www-form-urlencoded`). Form values are text, so the hub converts
them to each field's type: `true`/`false` for flags, digits for numbers, a JSON
text for a field that holds an object or a list, and `name[]=a&name[]=b` (or one
`name=a`) for a list of strings. Leave out `event`; it is in the path. A
parameter the event does not have is an error, and a `null` value counts as
not given.

**Authentication.** Send an API key (`sk_...`) as the user name of HTTP basic
authentication with an empty password (`curl -u sk_yourkey: ...`), or as
`Authorization: Bearer sk_yourkey`. `ping` and `create_account` (sign-up) work without a key.

**Results.** Once the hub has run the event, its reply comes back with status
`200` as the reply message in JSON, always with an `id`: yours if you sent one,
otherwise a fresh one. Failures the handler reports, such as a wrong password or
a missing project, are also `200`, as `{{"event": "error", "id": ..., "error": ...}}`.

**Statuses.** Problems found before the event runs return a JSON body
`{{"error": "..."}}` with: `400` bad parameters (unknown, missing or of the wrong
type); `401` no API key, or one the hub does not know; `404` no such event, or
one that is not part of the HTTP API; `413` body too large; `429` too many
requests, wait and retry.
"""

# --------------------------------------------------------------------------- one-line summaries

SUMMARIES: Final[dict[str, str]] = {
    "start_session": "Ask a project to start a session (such as a terminal) of the given type.",
    "session_started": "A project session is running; names its session and binary data channel.",
    "output": "One piece of output from a worksheet cell: text, HTML, Markdown, files and more.",
    "execute_javascript": "Asks the browser to run a piece of JavaScript on a worksheet's behalf.",
    "create_account": "Create a new account.",
    "account_created": "Reply to create_account: the new account's id, and its API key if asked.",
    "account_creation_failed": "Reply to create_account when it fails: field name → problem.",
    "delete_account": "Mark an account as deleted (allowed for the account itself or an admin).",
    "account_deleted": "Reply to delete_account.",
    "sign_in": "Sign this connection in with an e-mail address and password.",
    "remember_me_failed": "Pushed when the remember-me cookie could not sign the connection in.",
    "sign_in_failed": "Reply to sign_in when the hub refuses the credentials, with the reason.",
    "signed_in": "This connection is now signed in to the given account.",
    "sign_out": "Sign this connection out, or every session of the account.",
    "signed_out": "Reply to sign_out.",
    "error": "A request failed; `error` says why and `id` names the request.",
    "success": "A request succeeded and has nothing more to report.",
    "reconnect": "The hub asks the client to connect again (for example before it stops).",
    "cookies": "Asks the browser to load /cookies so that the hub can set or read a cookie.",
    "open_project": "Hub to project: open a project with its quota and idle timeout.",
    "project_opened": "Reply to open_project.",
    "project_exec": "Run a command in a project.",
    "project_exec_output": "Reply to project_exec: standard output, standard error, exit code.",
    "named_server_port": "Ask a project on which port a named server (such as Jupyter) listens.",
    "read_file_from_project": "Fetch a file or directory from a project as a blob to download.",
    "file_read_from_project": "Reply to read_file_from_project: the blob holding the data.",
    "read_text_file_from_project": "Read a text file from a project.",
    "text_file_read_from_project": "Reply to read_text_file_from_project: the file's text.",
    "write_file_to_project": "Store an uploaded blob as a file in a project.",
    "write_text_file_to_project": "Write a text file in a project.",
    "file_written_to_project": "Reply to a file write: the file is in place.",
    "user_search": "Find accounts by name prefixes or exact email addresses (comma-separated).",
    "user_search_results": "Accounts found by a user search.",
    "get_project_users": "Ask for the users of a project and their groups.",
    "project_users": "The users of a project.",
    "version": "Client to hub: its version. Hub to client: recommended and minimum versions.",
    "save_blob": "Keep a blob (named by its sha1) for longer, or forever; also its reply.",
    "projects_running_on_server": "The projects running on a project server.",
    "local_hub": "Pass a message to a project's local hub and relay what it answers.",
    "copy_path_between_projects": "Copy a file or directory from one project to another.",
    "copy_path_between_projects_response": "Reply to a queued copy: the id to check it with.",
    "copy_path_status": "Look up one copy operation, or list copies between projects.",
    "copy_path_status_response": "Reply to copy_path_status.",
    "copy_path_delete": "Cancel a scheduled copy that has not started.",
    "print_to_pdf": "Turn a document in a project into a PDF.",
    "printed_to_pdf": "Reply to print_to_pdf: where the PDF is.",
    "heartbeat": "Keep-alive; gets no reply.",
    "ping": "Check that the hub answers; it replies with pong.",
    "pong": "Reply to ping, with the hub's current time.",
    "log_client_error": "Record an error a client ran into.",
    "webapp_error": "Record a detailed error report from the web application.",
    "stripe_get_customer": "Get the billing customer record of the account.",
    "stripe_customer": "The billing customer record and the publishable payment key.",
    "stripe_create_source": "Add a payment method (a card token) to the account.",
    "stripe_delete_source": "Remove a payment method from the account.",
    "stripe_set_default_source": "Choose which payment method is charged by default.",
    "stripe_update_source": "Change the details of a payment method.",
    "stripe_plans": "The plans that can be subscribed to.",
    "stripe_create_subscription": "Subscribe the account to a plan.",
    "stripe_cancel_subscription": "Cancel a subscription.",
    "stripe_update_subscription": "Change a subscription's plan, quantity or coupon.",
    "stripe_get_subscriptions": "List the account's subscriptions.",
    "stripe_subscriptions": "Reply to stripe_get_subscriptions.",
    "stripe_get_coupon": "Look up a coupon.",
    "stripe_coupon": "Reply to stripe_get_coupon.",
    "stripe_get_charges": "List the account's charges.",
    "stripe_charges": "Reply to stripe_get_charges.",
    "stripe_get_invoices": "List the account's invoices.",
    "stripe_invoices": "Reply to stripe_get_invoices.",
    "stripe_admin_create_invoice_item": "Admin only: add an item to a customer's next invoice.",
    "query": "Read or change database tables through the user-query interface.",
    "query_cancel": "Stop the changefeed that a query with `changes` started.",
    "api_key": "Show, delete or replace the account's API key.",
    "api_key_info": "Reply to api_key: the key.",
    "api_keys": "List, create, edit or delete the API keys of the account or of a project.",
    "api_keys_response": "Reply to api_keys.",
    "user_auth": "Get a temporary sign-in token for an account.",
    "create_project": "Create a project owned by the caller.",
    "project_created": "Reply to create_project with the new project's id.",
    "invite_collaborator": "Add an existing account to a project as a collaborator.",
    "remove_collaborator": "Take a collaborator off a project.",
    "get_available_upgrades": "How much of the account's upgrades exist and how much is unused.",
    "disconnect_from_project": "Drop this hub's link to a project (for debugging).",
    "available_upgrades": "Reply to get_available_upgrades.",
    "remove_all_upgrades": "Take the account's upgrades off the given projects, or off all.",
    "sagews_execute_code": "Run code in a Sage worksheet.",
    "sagews_output": "Output from a Sage worksheet.",
    "sagews_output_ack": "Acknowledges a sagews_output.",
    "sagews_interrupt": "Interrupt the code running in a Sage worksheet.",
    "sagews_quit": "Stop a Sage worksheet's process.",
    "sagews_start": "Start a Sage worksheet's process.",
    "terminal_resize": "Resize a terminal this connection is attached to (rows and columns).",
    "terminal_detach": "Stop receiving a terminal's output and free its data channel.",
    "terminal_exited": "A terminal's process ended (exit code given); its data channel is free.",
    "terminal_detached": "The hub lost the terminal's project; start_session again to reattach.",
    "user_tracking": "Record a usage event for the signed-in account.",
    "purchase_license": "Buy a license.",
    "purchase_license_resp": "Reply to purchase_license.",
    "chatgpt": "Ask a language model a question.",
    "chatgpt_response": "Reply to chatgpt; arrives in several parts when streaming.",
    "openai_embeddings_search": "Find stored text fragments similar to a text.",
    "openai_embeddings_search_response": "Reply to openai_embeddings_search.",
    "openai_embeddings_save": "Store text fragments of a project file for similarity search.",
    "openai_embeddings_save_response": "Reply to openai_embeddings_save: the stored ids.",
    "openai_embeddings_remove": "Delete stored text fragments of a project file.",
    "openai_embeddings_remove_response": "Reply to openai_embeddings_remove: the removed ids.",
    "jupyter_execute": "Run code in a Jupyter kernel and return what it printed or displayed.",
    "jupyter_execute_response": "Reply to jupyter_execute: the kernel's output.",
    "jupyter_kernels": "List the Jupyter kernels that can run code.",
    "jupyter_start_pool": "Start Jupyter kernels ahead of time so later runs start fast.",
    "user_auth_token": "Reply to user_auth: the token.",
}

# --------------------------------------------------------------------------- API events in depth


def _curl(event: str, *args: str, key: bool = True, json: str | None = None) -> str:
    """A `curl` command for `event` as a Markdown code block: form fields, or a JSON body."""
    first = "curl" + (" -u sk_yourkey:" if key else "")
    lines: list[str] = []
    if json is not None:
        lines += ["-H 'Content-Type: application/json'", f"-d '{json}'"]
    lines += [f"-d {a}" for a in args]
    if not lines:
        first += " -X POST"
    lines.append(f"{HOST}/api/v1/{event}")
    return "```\n" + " \\\n     ".join([first, *lines]) + "\n```"


_PID = "e4b1e8a4-44cc-4a43-a7b1-6a1d0a5b8f31"
_PID2 = "0c9d4f7e-61e5-4a1a-9c9f-2f0cbb6b1d77"
_AID = "5c3c6d0b-1f58-4a1e-8d63-7b1a4bb0f2d9"
_CPID = "a7f2d3c1-9b8e-4d6a-8f0e-1c2b3d4e5f60"

API_DESCRIPTIONS: Final[dict[str, str]] = {
    "create_account": (
        "Makes a new account. Every field is optional, but without an e-mail address "
        "the hub may refuse (anonymous sign-up can be switched off). On success the reply "
        "is `account_created` with the new `account_id`; ask for `get_api_key` and it "
        "also holds the account's API key. Otherwise the reply is "
        "`account_creation_failed`, whose `reason` maps each bad field to what is "
        "wrong, such as an e-mail address that is already in use.\n\n"
        + _curl(
            "create_account",
            "first_name=Ada",
            "last_name=Lovelace",
            "email_address=ada@example.com",
            "password=a-long-secret",
            "agreed_to_terms=true",
        )
    ),
    "project_exec": (
        "Runs a command inside a project, starting the project first if it is not "
        "running (which may take long enough for the call to time out; try again "
        "then). The command runs in the project's home directory, or in `path` "
        "below it. The reply is `project_exec_output` with `stdout`, `stderr` and "
        "`exit_code`. When the command exits non-zero and `err_on_exit` is true, or "
        "it runs past `timeout`, the reply is an `error` instead. Output longer than "
        "`max_output` characters is cut, and the text says where. Send `args` as a "
        "JSON list or as repeated `args[]=` form fields.\n\n"
        + _curl(
            "project_exec",
            key=True,
            json=f'{{"project_id":"{_PID}","command":"echo","args":["hello","world"]}}',
        )
    ),
    "read_text_file_from_project": (
        "Returns the text of a file in a project you can read, as "
        "`text_file_read_from_project` with the text in `content`. A relative "
        "`path` starts in the project's home directory. To read several files in "
        "one call, give `project_id` and `path` as lists of the same length; "
        "`content` is then a list of `{project_id, path, content}` objects, with "
        "`error` in place of `content` for a file that could not be read.\n\n"
        + _curl("read_text_file_from_project", f"project_id={_PID}", "path=notes/todo.txt")
    ),
    "write_text_file_to_project": (
        "Writes `content` to a file in a project, replacing any file already at "
        "`path` and creating missing directories on the way. The reply is "
        "`file_written_to_project`. You need write access to the project.\n\n"
        + _curl(
            "write_text_file_to_project",
            f"project_id={_PID}",
            "path=notes/todo.txt",
            "'content=buy milk'",
        )
    ),
    "copy_path_between_projects": (
        "Copies a file or a directory from a source project to a target project "
        "(they may be the same), using rsync. You need access to both. By default "
        "the call does not wait: it replies with "
        "`copy_path_between_projects_response`, whose `copy_path_id` you pass to "
        "`copy_path_status` later. With `wait_until_done` it waits and replies "
        "`success` or `error`. `scheduled` postpones the copy until the given "
        "time (and implies not waiting).\n\n"
        + _curl(
            "copy_path_between_projects",
            f"src_project_id={_PID}",
            "src_path=notes",
            f"target_project_id={_PID2}",
        )
    ),
    "copy_path_status": (
        "Tells how copy operations went. Give `copy_path_id` to get that one "
        "operation, or `src_project_id` and/or `target_project_id` (optionally "
        "narrowed by `src_path`) to get a list, paged with `limit` "
        "and `offset`. The reply is `copy_path_status_response`; each entry's "
        "`finished` time is set once the copy ended, and `error` if it failed. "
        "You need access to the projects involved.\n\n"
        + _curl("copy_path_status", f"copy_path_id={_CPID}")
    ),
    "copy_path_delete": (
        "Cancels a copy that was scheduled for later and has not started. "
        "Copies that already ran are not touched. The reply is `success`.\n\n"
        + _curl("copy_path_delete", f"copy_path_id={_CPID}")
    ),
    "ping": (
        "Checks that the hub is up and answering. The reply is `pong`, with the "
        "hub's clock in `now` as an ISO 8601 UTC time. It works without an API "
        "key.\n\n" + _curl("ping", "id=ping-1", key=False)
    ),
    "log_client_error": (
        "Stores an error message from a client program so that the operators can "
        "look at it later; it is not readable through the API. The reply is "
        "`success`.\n\n" + _curl("log_client_error", "'error=could not parse the reply'")
    ),
    "stripe_get_customer": (
        "Returns the billing customer record of the account as `stripe_customer`. "
        "Billing events go to the hub's billing provider; a hub without one "
        "answers them with an `error`.\n\n" + _curl("stripe_get_customer")
    ),
    "stripe_customer": (
        "This is the reply to `stripe_get_customer`, holding the customer record "
        "and the publishable key for the payment form. The reference lists it as "
        "an API event, so the endpoint exists, but it is not a request and does "
        "nothing useful when posted.\n\n" + _curl("stripe_customer")
    ),
    "stripe_create_source": (
        "Adds a payment method, given as a token that the payment provider's form "
        "produced, to the account. The reply is `success`.\n\n"
        + _curl("stripe_create_source", "token=tok_visa")
    ),
    "stripe_delete_source": (
        "Removes a payment method (a card) from the account. The reply is "
        "`success`.\n\n" + _curl("stripe_delete_source", "card_id=card_123")
    ),
    "stripe_set_default_source": (
        "Makes one of the account's payment methods the one charged by default. "
        "The reply is `success`.\n\n" + _curl("stripe_set_default_source", "card_id=card_123")
    ),
    "stripe_update_source": (
        "Changes details of a payment method, such as the billing address. `info` "
        "is an object of the fields to change. The reply is `success`.\n\n"
        + _curl(
            "stripe_update_source",
            json='{"card_id":"card_123","info":{"address_zip":"10115"}}',
        )
    ),
    "stripe_plans": (
        "This is the message that lists subscription plans. The reference lists it "
        "as an API event, but it carries plans rather than asking for them.\n\n"
        + _curl("stripe_plans", json='{"plans":[]}')
    ),
    "stripe_create_subscription": (
        "Subscribes the account to a plan, `quantity` times, optionally with a "
        "coupon. The default payment method is charged. The reply is "
        "`success`.\n\n" + _curl("stripe_create_subscription", "plan=standard", "quantity=2")
    ),
    "stripe_cancel_subscription": (
        "Cancels a subscription, by default at the end of the period already "
        "paid for. The reply is `success`.\n\n"
        + _curl("stripe_cancel_subscription", "subscription_id=sub_123")
    ),
    "stripe_update_subscription": (
        "Changes an existing subscription: another plan, quantity or coupon. "
        "Fields left out stay as they are. The reply is `success`.\n\n"
        + _curl("stripe_update_subscription", "subscription_id=sub_123", "quantity=3")
    ),
    "stripe_get_subscriptions": (
        "Lists the account's subscriptions as `stripe_subscriptions`, one page at "
        "a time: `limit` entries, before or after a given subscription id.\n\n"
        + _curl("stripe_get_subscriptions", "limit=10")
    ),
    "stripe_get_coupon": (
        "Looks up a coupon code and returns it as `stripe_coupon`, or an `error` "
        "when there is no such coupon.\n\n" + _curl("stripe_get_coupon", "coupon_id=WELCOME")
    ),
    "stripe_get_charges": (
        "Lists the payments taken from the account as `stripe_charges`, paged like "
        "`stripe_get_subscriptions`.\n\n" + _curl("stripe_get_charges", "limit=10")
    ),
    "stripe_get_invoices": (
        "Lists the account's invoices as `stripe_invoices`, paged like "
        "`stripe_get_subscriptions`.\n\n" + _curl("stripe_get_invoices", "limit=10")
    ),
    "query": (
        "Reads or writes rows of the tables that users may see, such as "
        "`accounts` and `projects`, always limited to what the key's account may "
        "access. A query names one table and gives a pattern: fields set to `null` "
        "are to be read, and a query with no `null` fields is a write that merges "
        "the given values into the row. Wrap the pattern in a list to read many "
        "rows. The reply is a `query` message whose `query` holds the result (an "
        "empty object after a write). Over HTTP a query cannot follow changes, so "
        "`changes` and `multi_response` are WebSocket-only. Send `query` as JSON.\n\n"
        + _curl(
            "query",
            json=f'{{"query":{{"projects":{{"project_id":"{_PID}","title":null}}}}}}',
        )
    ),
    "user_auth": (
        "Gives a token that signs someone in as the given account for 12 hours, "
        "for example to let a support person see what a user sees. The caller "
        "must know the account's password (an admin may leave it empty). The "
        "reply is `user_auth_token`; open "
        f"`{HOST}/auth/impersonate?auth_token=<token>` in a browser to use it. "
        "After a wrong password the caller must wait a minute before trying that "
        "account again.\n\n"
        + _curl("user_auth", f"account_id={_AID}", "password=the-account-password")
    ),
    "create_project": (
        "Creates a project owned by the caller (an extension: CoCalc's hub had this "
        "event, its catalogue no longer does). With `start` the project's local hub "
        "is started at once; otherwise it starts on first use. The reply is "
        "`project_created` with the new `project_id`.\n\n"
        + _curl("create_project", "title=Homework", "description=Week 1")
    ),
    "invite_collaborator": (
        "Adds an existing account to a project as a collaborator; the caller needs "
        "write access. Adding someone who is already on the project changes nothing. "
        "The reply is `success`.\n\n"
        + _curl("invite_collaborator", f"project_id={_PID}", f"account_id={_AID}")
    ),
    "user_search": (
        "Finds accounts (an extension: CoCalc's hub had this event, its catalogue keeps "
        "only the reply). `query` holds comma-separated terms: an e-mail address finds "
        "the account with exactly that address (and shows it); other terms find accounts "
        "whose first or last names start with each word, in any order (`jo sm` finds "
        "John Smith). The reply is `user_search_results` with `results`, a list of "
        "`{account_id, first_name, last_name, last_active, created}`; at most `limit` "
        "(50 for non-admins by default).\n\n" + _curl("user_search", "query=lov,ada@example.com")
    ),
    "remove_collaborator": (
        "Takes a collaborator off a project; the caller needs write access. The owner "
        "cannot be removed. The reply is `success`.\n\n"
        + _curl("remove_collaborator", f"project_id={_PID}", f"account_id={_AID}")
    ),
    "get_available_upgrades": (
        "Tells how much of each project upgrade (memory, cores, disk, network and "
        "so on) the account has in total, how much is still free to apply, and "
        "how much it has applied beyond what it owns. The reply is "
        "`available_upgrades`.\n\n" + _curl("get_available_upgrades")
    ),
    "disconnect_from_project": (
        "Closes this hub's connection to a project's local hub; the next request "
        "for that project opens a new one. Meant for debugging. The reply is "
        "`success`.\n\n" + _curl("disconnect_from_project", f"project_id={_PID}")
    ),
    "purchase_license": (
        "Records a license for the caller: `info.quota` (upgrades per unit, in the "
        'units of get_available_upgrades, e.g. `{"memory": 1000}`), `info.quantity` '
        "units, from `info.start` (default now) until `info.end` or for `info.days`. "
        "No billing is behind it: the hub grants it only when its "
        "`licenses_self_service` setting is on, or to an admin (who may name another "
        "account in `info.account_id`); otherwise the reply is an error. The reply is "
        "`purchase_license_resp` whose `resp` is the new license's id. Apply what it "
        "grants to a project with `query` (`projects.users[<you>].upgrades`).\n\n"
        + _curl(
            "purchase_license",
            json='{"info":{"quota":{"memory":1000,"mintime":3600},"quantity":2,"days":30}}',
        )
    ),
    "chatgpt": (
        "Sends `text` to the language model that the hub is configured with, "
        "optionally with a `system` prompt and earlier turns in `history`, and "
        "replies with `chatgpt_response` holding the answer in `text`. Over a "
        "WebSocket, `stream` delivers the answer in parts; over HTTP only the "
        "complete answer is returned. A hub without a model answers with an "
        "`error`.\n\n" + _curl("chatgpt", "'text=What is a hub?'")
    ),
    "openai_embeddings_search": (
        "Searches stored text fragments for those closest in meaning to `text` "
        "(or matching `filter`), within the projects or paths named by `scope`. "
        "The reply is `openai_embeddings_search_response` with the `matches`, "
        "best first.\n\n"
        + _curl(
            "openai_embeddings_search",
            json=f'{{"scope":"projects/{_PID}/","text":"how to plot","limit":5}}',
        )
    ),
    "openai_embeddings_save": (
        "Stores text fragments of a file in a project so that "
        "`openai_embeddings_search` can find them. `data` is a list of fragments, "
        "each an object with an `id` within the file and its `text`. The reply is "
        "`openai_embeddings_save_response` with the ids stored.\n\n"
        + _curl(
            "openai_embeddings_save",
            json=(
                f'{{"project_id":"{_PID}","path":"notes.md",'
                '"data":[{"id":"intro","text":"Plots are made with..."}]}'
            ),
        )
    ),
    "openai_embeddings_remove": (
        "Deletes stored text fragments of a file in a project, named by their ids "
        "in `data` (the same shape as for `openai_embeddings_save`). The reply is "
        "`openai_embeddings_remove_response` with the ids removed.\n\n"
        + _curl(
            "openai_embeddings_remove",
            json=f'{{"project_id":"{_PID}","path":"notes.md","data":[{{"id":"intro"}}]}}',
        )
    ),
    "jupyter_execute": (
        "Runs `input` in a Jupyter kernel and replies with "
        "`jupyter_execute_response`, holding the output the kernel produced. "
        "With a `project_id` the code runs in that project (so it can read its "
        "files); without one it may run in a shared sandbox, and identical runs "
        "may be answered from a cache (`hash` names a cached result).\n\n"
        + _curl("jupyter_execute", json='{"kernel":"python3","input":"print(2 + 2)"}')
    ),
    "jupyter_kernels": (
        "Lists the Jupyter kernels available, those of a project when "
        "`project_id` is given. The reply is a `jupyter_kernels` message with the "
        "list in `kernels`.\n\n" + _curl("jupyter_kernels", f"project_id={_PID}")
    ),
    "jupyter_start_pool": (
        "Starts kernels ahead of time, in a project or in the shared sandbox, so "
        "that the next `jupyter_execute` with those kernels starts quickly. "
        "`kernels` names them. The reply is a `jupyter_start_pool` message.\n\n"
        + _curl("jupyter_start_pool", json='{"kernels":["python3"]}')
    ),
}

# Field lines shared by many events; an event's own entry below wins.
