"""The API reference's one line about each field of each HTTP API event."""

from __future__ import annotations

from typing import Final

COMMON_FIELDS: Final[dict[str, str]] = {
    "id": "Your name for this request, echoed in the reply; one is made up when absent.",
    "project_id": "The project to act on (a UUID).",
    "path": "A path in the project; relative paths start in the project's home directory.",
    "card_id": "The payment method's id, as listed in the customer record.",
    "subscription_id": "The subscription's id, as listed by stripe_get_subscriptions.",
    "coupon_id": "A coupon code to apply.",
    "limit": "How many entries to return at most.",
    "ending_before": "Return entries older than the one with this id (for paging back).",
    "starting_after": "Return entries newer than the one with this id (for paging on).",
    "kernels": "Names of Jupyter kernels, such as `python3`.",
}

FIELD_DESCRIPTIONS: Final[dict[str, dict[str, str]]] = {
    "create_account": {
        "first_name": "The user's first name; must not contain a URL.",
        "last_name": "The user's last name; must not contain a URL.",
        "email_address": "The e-mail address to sign in with; must be unused.",
        "password": "The password, 6 to 64 characters.",
        "agreed_to_terms": "Whether the user accepted the terms of service.",
        "token": "A registration token, when the hub requires one to sign up.",
        "get_api_key": "When true, the reply also carries an API key for the new account.",
        "usage_intent": "What the user says they will use the account for (free text).",
    },
    "project_exec": {
        "path": "Working directory, relative to the project's home directory.",
        "command": "The program or shell built-in to run.",
        "args": "Arguments for the command, a list of strings (ignored with `bash`).",
        "timeout": "Seconds the command may run before it is killed and an error returned.",
        "aggregate": (
            "Merge identical commands sent close together into one run; a larger value "
            "(a time or sequence number) starts a new group. Meant for compile-on-save."
        ),
        "max_output": "Cut standard output and error to this many characters each.",
        "bash": "Run `command` as a bash script instead of a program with `args`.",
        "err_on_exit": "Reply with an error, not the output, when the exit code is not 0.",
    },
    "read_text_file_from_project": {
        "project_id": "The project holding the file, or a list of projects.",
        "path": "The file to read, or a list of files matching the list of projects.",
    },
    "write_text_file_to_project": {
        "project_id": "The project to write the file in.",
        "path": "Where to put the file, relative to the project's home directory.",
        "content": "The text to write.",
    },
    "copy_path_between_projects": {
        "src_project_id": "The project to copy from.",
        "src_path": "The file or directory to copy, in the source project.",
        "target_project_id": "The project to copy to (may be the source project).",
        "target_path": "Where to put the copy; the same path as the source when absent.",
        "overwrite_newer": "Replace files at the target even when they are newer.",
        "delete_missing": "Delete files at the target that the source does not have.",
        "backup": "Keep replaced files at the target under a name ending in `~`.",
        "timeout": "Give up after this many seconds without progress.",
        "wait_until_done": "Wait for the copy to finish before replying.",
        "scheduled": "Run the copy at or after this time (ISO 8601); implies not waiting.",
        "exclude": "rsync patterns of files to leave out, a list of strings.",
    },
    "copy_path_status": {
        "copy_path_id": "The id that copy_path_between_projects returned.",
        "src_project_id": "List copies from this project.",
        "target_project_id": "List copies to this project.",
        "src_path": "List only copies of this path.",
        "limit": "How many entries to list at most (up to 1000).",
        "offset": "Skip this many entries, for paging.",
        "pending": "Include copies that have not finished yet.",
        "failed": "List only copies that finished with an error.",
    },
    "copy_path_delete": {
        "copy_path_id": "The scheduled copy to cancel.",
    },
    "log_client_error": {
        "error": "The error message to store.",
    },
    "stripe_customer": {
        "customer": "The customer record.",
        "stripe_publishable_key": "The public key for the payment provider's form.",
    },
    "stripe_create_source": {
        "token": "The token from the payment provider's form that stands for the card.",
    },
    "stripe_update_source": {
        "info": "An object of the payment method's fields to change.",
    },
    "stripe_plans": {
        "plans": "The plans on offer.",
    },
    "stripe_create_subscription": {
        "plan": "The plan to subscribe to.",
        "quantity": "How many of the plan to subscribe to.",
    },
    "stripe_cancel_subscription": {
        "at_period_end": "Keep it until the paid period ends, rather than stopping now.",
    },
    "stripe_update_subscription": {
        "quantity": "The new quantity.",
        "projects": "Projects the subscription applies to.",
        "plan": "The new plan.",
        "coupon_id": "A coupon code to apply from now on.",
    },
    "stripe_get_coupon": {
        "coupon_id": "The coupon code to look up.",
    },
    "query": {
        "query": (
            "The query: `{table: pattern}` or `{table: [pattern]}`; `null` fields are "
            "read, a pattern without `null` fields is written."
        ),
        "changes": "WebSocket only: an id under which to keep sending changes to the result.",
        "multi_response": "WebSocket only: set by the hub on replies of a changefeed.",
        "options": 'Query options, a list of objects such as `[{"limit": 10}]`.',
    },
    "user_auth": {
        "account_id": "The account to get a sign-in token for.",
        "password": "That account's password (an admin may send an empty one).",
    },
    "disconnect_from_project": {
        "project_id": "The project whose link to drop.",
    },
    "create_project": {
        "title": "The project's title (empty when left out).",
        "description": "A longer description (empty when left out).",
        "start": "Start the project's local hub right away.",
    },
    "invite_collaborator": {
        "project_id": "The project to add someone to.",
        "account_id": "The account to add as a collaborator.",
    },
    "remove_collaborator": {
        "project_id": "The project to take someone off.",
        "account_id": "The collaborator to remove.",
    },
    "purchase_license": {
        "info": "The license: {quota, quantity, start, end or days}; see above.",
    },
    "user_search": {
        "query": "Comma-separated terms: name prefixes (any order) or exact e-mail addresses.",
        "limit": "How many accounts to return at most (capped for non-admins).",
    },
    "chatgpt": {
        "text": "The question or instruction.",
        "system": "A system prompt that sets the model's role.",
        "history": "Earlier turns of the conversation, oldest first.",
        "project_id": "The project the question is about, for accounting and context.",
        "path": "The file the question is about.",
        "model": "Which model to ask; the hub's default when absent.",
        "tag": "A label for usage statistics.",
        "stream": "WebSocket only: send the answer in parts as it is produced.",
    },
    "openai_embeddings_search": {
        "scope": "Where to search: a path prefix such as `projects/<id>/`, or a list.",
        "text": "The text to find similar fragments to.",
        "filter": "Conditions on stored fields that matches must satisfy.",
        "limit": "How many matches to return at most.",
        "selector": "Which stored fields to include with each match.",
        "offset": "Skip this many matches, for paging.",
    },
    "openai_embeddings_save": {
        "project_id": "The project the file belongs to.",
        "path": "The file the fragments come from.",
        "data": "The fragments: a list of objects with an `id` and the `text`.",
    },
    "openai_embeddings_remove": {
        "project_id": "The project the file belongs to.",
        "path": "The file the fragments came from.",
        "data": "The fragments to remove: a list of objects with their `id`.",
    },
    "jupyter_execute": {
        "hash": "The hash of an earlier run, to get its cached result.",
        "kernel": "The kernel to run the code in, such as `python3`.",
        "input": "The code to run.",
        "history": "Code to run first, without returning its output (a list of strings).",
        "project_id": "Run in this project instead of the shared sandbox.",
        "path": "The notebook or file the code belongs to (sets the working directory).",
        "tag": "A label for usage statistics.",
        "pool": "Kernel pool settings, such as how many kernels to keep ready.",
        "limits": "Limits for this run, such as time and output size.",
    },
    "jupyter_kernels": {
        "project_id": "List the kernels of this project; the shared ones when absent.",
        "kernels": "Filled in by the hub in the reply: the kernels found.",
    },
    "jupyter_start_pool": {
        "project_id": "Start the kernels in this project; in the shared sandbox when absent.",
        "kernels": 'The kernels to start, such as `["python3"]`.',
    },
}
