"""Every event of the CoCalc message protocol as a msgspec `Struct`.

One class per event of `reference/message.js`, tagged by its event name, with the
reference's field names. The reference's three kinds of field map to:

* required (`required` in message.js)   → no default; decoding fails without it
* `undefined` default                    → `T | UnsetType = UNSET`; omitted when encoding
* concrete default (`false`, `10`, `[]`) → that default; always encoded

On the wire a JSON `null` at the top level means "absent" (CoCalc's rule). The
types below never accept `null` at the top level, so such a value fails the fast
decode and the codec retries without it (see `codec.py`). `JSONValue` is any JSON
value except `null` for the same reason; inside it, anything goes.

Dates are timezone-aware UTC `datetime`s: a naive one (from a client or a
handler) is taken to be UTC, so it always encodes as ISO 8601 with `Z`.

Additions beyond the reference are listed in `EXTENSIONS`; nothing else differs.
What each event is for is written in `docs.py` (`SUMMARIES`), not here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeAlias
from uuid import UUID

import msgspec
from msgspec import UNSET, UnsetType, field

JSONObject: TypeAlias = dict[str, Any]
# Any JSON value but null (a top-level null means "absent", see the module docstring).
JSONValue: TypeAlias = dict[str, Any] | list[Any] | str | int | float | bool
Number: TypeAlias = int | float


class Message(msgspec.Struct, tag_field="event", kw_only=True):
    """Base of every event; `event` on the wire is the subclass's tag."""


def _as_utc(value: datetime | UnsetType) -> datetime | UnsetType:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        if value.utcoffset():
            return value.astimezone(UTC)
    return value


# copy_path_between_projects_response.note's default, verbatim: it goes on the wire.
_COPY_PATH_NOTE = (
    "Query copy_path_status with the copy_path_id to learn if the copy operation was successful."
)


# ------------------------------------------------------------ events of message.js, in its order


class StartSession(Message, tag="start_session", kw_only=True):
    type: str
    project_id: UUID | UnsetType = UNSET
    session_uuid: str | UnsetType = UNSET
    params: JSONObject | UnsetType = UNSET
    id: str | UnsetType = UNSET
    limits: JSONObject | UnsetType = UNSET


class SessionStarted(Message, tag="session_started", kw_only=True):
    id: str | UnsetType = UNSET
    session_uuid: str | UnsetType = UNSET
    limits: JSONObject | UnsetType = UNSET
    data_channel: int | UnsetType = UNSET


class Output(Message, tag="output", kw_only=True):
    id: str | UnsetType = UNSET
    stdout: str | UnsetType = UNSET
    stderr: str | UnsetType = UNSET
    html: str | UnsetType = UNSET
    md: str | UnsetType = UNSET
    tex: JSONValue | UnsetType = UNSET
    d3: JSONValue | UnsetType = UNSET
    hide: JSONValue | UnsetType = UNSET
    show: JSONValue | UnsetType = UNSET
    auto: bool | UnsetType = UNSET
    javascript: JSONValue | UnsetType = UNSET
    interact: JSONValue | UnsetType = UNSET
    obj: JSONValue | UnsetType = UNSET
    file: JSONValue | UnsetType = UNSET
    raw_input: JSONValue | UnsetType = UNSET
    done: bool = False
    session_uuid: str | UnsetType = UNSET
    once: bool | UnsetType = UNSET
    clear: bool | UnsetType = UNSET
    events: JSONValue | UnsetType = UNSET


class ExecuteJavascript(Message, tag="execute_javascript", kw_only=True):
    session_uuid: str | UnsetType = UNSET
    code: str
    obj: JSONValue | UnsetType = UNSET
    coffeescript: bool = False
    cell_id: str | UnsetType = UNSET


class CreateAccount(Message, tag="create_account", kw_only=True):
    id: str | UnsetType = UNSET
    first_name: str | UnsetType = UNSET
    last_name: str | UnsetType = UNSET
    email_address: str | UnsetType = UNSET
    password: str | UnsetType = UNSET
    agreed_to_terms: bool | UnsetType = UNSET
    token: str | UnsetType = UNSET
    get_api_key: bool | str | UnsetType = UNSET
    usage_intent: str | UnsetType = UNSET


class AccountCreated(Message, tag="account_created", kw_only=True):
    id: str | UnsetType = UNSET
    account_id: UUID
    api_key: str | UnsetType = UNSET  # extension


class AccountCreationFailed(Message, tag="account_creation_failed", kw_only=True):
    id: str | UnsetType = UNSET
    reason: dict[str, str]


class DeleteAccount(Message, tag="delete_account", kw_only=True):
    id: str | UnsetType = UNSET
    account_id: UUID


class AccountDeleted(Message, tag="account_deleted", kw_only=True):
    id: str | UnsetType = UNSET
    error: str | UnsetType = UNSET


class SignIn(Message, tag="sign_in", kw_only=True):
    id: str | UnsetType = UNSET
    email_address: str
    password: str
    remember_me: bool = False
    get_api_key: bool | str | UnsetType = UNSET


class RememberMeFailed(Message, tag="remember_me_failed", kw_only=True):
    id: str | UnsetType = UNSET
    reason: str


class SignInFailed(Message, tag="sign_in_failed", kw_only=True):
    id: str | UnsetType = UNSET
    email_address: str
    reason: str


class SignedIn(Message, tag="signed_in", kw_only=True):
    id: str | UnsetType = UNSET
    remember_me: bool
    hub: str
    account_id: UUID
    email_address: str | UnsetType = UNSET
    lti_id: JSONValue | UnsetType = UNSET
    first_name: str | UnsetType = UNSET
    last_name: str | UnsetType = UNSET
    api_key: str | UnsetType = UNSET


class SignOut(Message, tag="sign_out", kw_only=True):
    everywhere: bool = False
    id: str | UnsetType = UNSET


class SignedOut(Message, tag="signed_out", kw_only=True):
    id: str | UnsetType = UNSET


class Error(Message, tag="error", kw_only=True):
    id: str | UnsetType = UNSET
    error: str | UnsetType = UNSET


class Success(Message, tag="success", kw_only=True):
    id: str | UnsetType = UNSET


class Reconnect(Message, tag="reconnect", kw_only=True):
    id: str | UnsetType = UNSET
    reason: str | UnsetType = UNSET


class Cookies(Message, tag="cookies", kw_only=True):
    id: str
    url: str = "/cookies"
    get: str | UnsetType = UNSET
    set: str | UnsetType = UNSET
    value: str | UnsetType = UNSET


class OpenProject(Message, tag="open_project", kw_only=True):
    id: str
    project_id: UUID
    quota: JSONObject
    idle_timeout: Number
    ssh_public_key: str


class ProjectOpened(Message, tag="project_opened", kw_only=True):
    id: str


class ProjectExec(Message, tag="project_exec", kw_only=True):
    id: str | UnsetType = UNSET
    project_id: UUID
    path: str = ""
    command: str
    args: list[str] = field(default_factory=list)
    timeout: Number = 10
    aggregate: JSONValue | UnsetType = UNSET
    max_output: int | UnsetType = UNSET
    bash: bool = False
    err_on_exit: bool = True


class ProjectExecOutput(Message, tag="project_exec_output", kw_only=True):
    id: str
    stdout: str
    stderr: str
    exit_code: int
    type: str | UnsetType = UNSET
    job_id: str | UnsetType = UNSET
    start: Number | UnsetType = UNSET
    status: str | UnsetType = UNSET
    elapsed_s: Number | UnsetType = UNSET
    pid: int | UnsetType = UNSET
    stats: JSONValue | UnsetType = UNSET


class NamedServerPort(Message, tag="named_server_port", kw_only=True):
    name: str
    port: int | UnsetType = UNSET
    id: str | UnsetType = UNSET


class ReadFileFromProject(Message, tag="read_file_from_project", kw_only=True):
    id: str | UnsetType = UNSET
    project_id: UUID
    path: str
    archive: str = "tar.bz2"
    ttlSeconds: Number | UnsetType = UNSET


class FileReadFromProject(Message, tag="file_read_from_project", kw_only=True):
    id: str
    data_uuid: str
    archive: str | UnsetType = UNSET


class ReadTextFileFromProject(Message, tag="read_text_file_from_project", kw_only=True):
    id: str | UnsetType = UNSET
    project_id: UUID | list[UUID]
    path: str | list[str]


class TextFileReadFromProject(Message, tag="text_file_read_from_project", kw_only=True):
    id: str
    content: str | list[JSONObject]


class WriteFileToProject(Message, tag="write_file_to_project", kw_only=True):
    id: str
    project_id: UUID
    path: str
    data_uuid: str


class WriteTextFileToProject(Message, tag="write_text_file_to_project", kw_only=True):
    id: str | UnsetType = UNSET
    project_id: UUID
    path: str
    content: str


class FileWrittenToProject(Message, tag="file_written_to_project", kw_only=True):
    id: str


class UserSearchResults(Message, tag="user_search_results", kw_only=True):
    id: str | UnsetType = UNSET
    results: list[JSONObject]


class ProjectUsers(Message, tag="project_users", kw_only=True):
    id: str | UnsetType = UNSET
    users: JSONObject


class Version(Message, tag="version", kw_only=True):
    version: int | UnsetType = UNSET
    min_version: int | UnsetType = UNSET


class SaveBlob(Message, tag="save_blob", kw_only=True):
    id: str | UnsetType = UNSET
    sha1: str
    ttl: Number | UnsetType = UNSET
    error: str | UnsetType = UNSET


class ProjectsRunningOnServer(Message, tag="projects_running_on_server", kw_only=True):
    id: str | UnsetType = UNSET
    projects: list[Any] | UnsetType = UNSET


class LocalHub(Message, tag="local_hub", kw_only=True):
    project_id: UUID
    timeout: Number | UnsetType = UNSET
    id: str | UnsetType = UNSET
    multi_response: bool = False
    message: JSONObject


class CopyPathBetweenProjects(Message, tag="copy_path_between_projects", kw_only=True):
    id: str | UnsetType = UNSET
    src_project_id: UUID
    src_path: str
    target_project_id: UUID
    target_path: str | UnsetType = UNSET
    overwrite_newer: bool = False
    delete_missing: bool = False
    backup: bool = False
    timeout: Number | UnsetType = UNSET
    wait_until_done: bool = False
    scheduled: datetime | UnsetType = UNSET
    exclude: list[str] | UnsetType = UNSET

    def __post_init__(self) -> None:
        self.scheduled = _as_utc(self.scheduled)


class CopyPathBetweenProjectsResponse(
    Message, tag="copy_path_between_projects_response", kw_only=True
):
    id: str
    copy_path_id: UUID | UnsetType = UNSET
    note: str = _COPY_PATH_NOTE


class CopyPathStatus(Message, tag="copy_path_status", kw_only=True):
    id: str | UnsetType = UNSET  # extension
    copy_path_id: UUID | UnsetType = UNSET
    src_project_id: UUID | UnsetType = UNSET
    target_project_id: UUID | UnsetType = UNSET
    src_path: str | UnsetType = UNSET
    limit: int = 1000
    offset: int | UnsetType = UNSET
    pending: bool = True
    failed: bool = False


class CopyPathStatusResponse(Message, tag="copy_path_status_response", kw_only=True):
    id: str
    data: JSONValue


class CopyPathDelete(Message, tag="copy_path_delete", kw_only=True):
    id: str | UnsetType = UNSET  # extension
    copy_path_id: UUID | UnsetType = UNSET


class PrintToPdf(Message, tag="print_to_pdf", kw_only=True):
    id: str | UnsetType = UNSET
    path: str
    options: JSONObject | UnsetType = UNSET
    project_id: UUID | UnsetType = UNSET


class PrintedToPdf(Message, tag="printed_to_pdf", kw_only=True):
    id: str | UnsetType = UNSET
    path: str


class Heartbeat(Message, tag="heartbeat", kw_only=True):
    pass


class Ping(Message, tag="ping", kw_only=True):
    id: str | UnsetType = UNSET


class Pong(Message, tag="pong", kw_only=True):
    id: str | UnsetType = UNSET
    now: datetime | UnsetType = UNSET

    def __post_init__(self) -> None:
        self.now = _as_utc(self.now)


class LogClientError(Message, tag="log_client_error", kw_only=True):
    id: str | UnsetType = UNSET
    error: str


class WebappError(Message, tag="webapp_error", kw_only=True):
    id: str | UnsetType = UNSET
    name: str
    message: str
    comment: str | UnsetType = UNSET
    stacktrace: str | UnsetType = UNSET
    file: str | UnsetType = UNSET
    path: str | UnsetType = UNSET
    lineNumber: int | UnsetType = UNSET
    columnNumber: int | UnsetType = UNSET
    severity: str | UnsetType = UNSET
    browser: str | UnsetType = UNSET
    mobile: bool | UnsetType = UNSET
    responsive: bool | UnsetType = UNSET
    user_agent: str | UnsetType = UNSET
    smc_version: JSONValue | UnsetType = UNSET
    build_date: JSONValue | UnsetType = UNSET
    smc_git_rev: str | UnsetType = UNSET
    uptime: JSONValue | UnsetType = UNSET
    start_time: JSONValue | UnsetType = UNSET


class StripeGetCustomer(Message, tag="stripe_get_customer", kw_only=True):
    id: str | UnsetType = UNSET


class StripeCustomer(Message, tag="stripe_customer", kw_only=True):
    id: str | UnsetType = UNSET
    customer: JSONObject | UnsetType = UNSET
    stripe_publishable_key: str | UnsetType = UNSET


class StripeCreateSource(Message, tag="stripe_create_source", kw_only=True):
    id: str | UnsetType = UNSET
    token: str


class StripeDeleteSource(Message, tag="stripe_delete_source", kw_only=True):
    card_id: str
    id: str | UnsetType = UNSET


class StripeSetDefaultSource(Message, tag="stripe_set_default_source", kw_only=True):
    card_id: str
    id: str | UnsetType = UNSET


class StripeUpdateSource(Message, tag="stripe_update_source", kw_only=True):
    card_id: str
    info: JSONObject
    id: str | UnsetType = UNSET


class StripePlans(Message, tag="stripe_plans", kw_only=True):
    id: str | UnsetType = UNSET
    plans: JSONValue


class StripeCreateSubscription(Message, tag="stripe_create_subscription", kw_only=True):
    id: str | UnsetType = UNSET
    plan: str
    quantity: int = 1
    coupon_id: str | UnsetType = UNSET


class StripeCancelSubscription(Message, tag="stripe_cancel_subscription", kw_only=True):
    id: str | UnsetType = UNSET
    subscription_id: str
    at_period_end: bool = True


class StripeUpdateSubscription(Message, tag="stripe_update_subscription", kw_only=True):
    id: str | UnsetType = UNSET
    subscription_id: str
    quantity: int | UnsetType = UNSET
    projects: list[Any] | UnsetType = UNSET
    plan: str | UnsetType = UNSET
    coupon_id: str | UnsetType = UNSET


class StripeGetSubscriptions(Message, tag="stripe_get_subscriptions", kw_only=True):
    id: str | UnsetType = UNSET
    limit: int | UnsetType = UNSET
    ending_before: str | UnsetType = UNSET
    starting_after: str | UnsetType = UNSET


class StripeSubscriptions(Message, tag="stripe_subscriptions", kw_only=True):
    id: str | UnsetType = UNSET
    subscriptions: JSONValue | UnsetType = UNSET


class StripeGetCoupon(Message, tag="stripe_get_coupon", kw_only=True):
    id: str | UnsetType = UNSET
    coupon_id: str


class StripeCoupon(Message, tag="stripe_coupon", kw_only=True):
    id: str | UnsetType = UNSET
    coupon: JSONValue | UnsetType = UNSET


class StripeGetCharges(Message, tag="stripe_get_charges", kw_only=True):
    id: str | UnsetType = UNSET
    limit: int | UnsetType = UNSET
    ending_before: str | UnsetType = UNSET
    starting_after: str | UnsetType = UNSET


class StripeCharges(Message, tag="stripe_charges", kw_only=True):
    id: str | UnsetType = UNSET
    charges: JSONValue | UnsetType = UNSET


class StripeGetInvoices(Message, tag="stripe_get_invoices", kw_only=True):
    id: str | UnsetType = UNSET
    limit: int | UnsetType = UNSET
    ending_before: str | UnsetType = UNSET
    starting_after: str | UnsetType = UNSET


class StripeInvoices(Message, tag="stripe_invoices", kw_only=True):
    id: str | UnsetType = UNSET
    invoices: JSONValue | UnsetType = UNSET


class StripeAdminCreateInvoiceItem(Message, tag="stripe_admin_create_invoice_item", kw_only=True):
    id: str | UnsetType = UNSET
    email_address: str | UnsetType = UNSET
    account_id: UUID | UnsetType = UNSET
    amount: Number | UnsetType = UNSET
    description: str | UnsetType = UNSET


class Query(Message, tag="query", kw_only=True):
    id: str | UnsetType = UNSET
    query: JSONObject | list[Any]
    changes: str | bool | UnsetType = UNSET
    multi_response: bool = False
    options: list[Any] | JSONObject | UnsetType = UNSET


class QueryCancel(Message, tag="query_cancel", kw_only=True):
    id: str | UnsetType = UNSET


class ApiKey(Message, tag="api_key", kw_only=True):
    id: str | UnsetType = UNSET
    action: str
    password: str | UnsetType = UNSET


class ApiKeyInfo(Message, tag="api_key_info", kw_only=True):
    id: str | UnsetType = UNSET
    api_key: str


class ApiKeys(Message, tag="api_keys", kw_only=True):
    id: str | UnsetType = UNSET
    action: str
    project_id: UUID | UnsetType = UNSET
    key_id: int | UnsetType = UNSET
    expire: datetime | UnsetType = UNSET
    name: str | UnsetType = UNSET

    def __post_init__(self) -> None:
        self.expire = _as_utc(self.expire)


class ApiKeysResponse(Message, tag="api_keys_response", kw_only=True):
    id: str | UnsetType = UNSET
    response: JSONValue | UnsetType = UNSET


class UserAuth(Message, tag="user_auth", kw_only=True):
    id: str | UnsetType = UNSET
    account_id: UUID
    password: str


class GetAvailableUpgrades(Message, tag="get_available_upgrades", kw_only=True):
    id: str | UnsetType = UNSET


class DisconnectFromProject(Message, tag="disconnect_from_project", kw_only=True):
    id: str | UnsetType = UNSET
    project_id: UUID


class AvailableUpgrades(Message, tag="available_upgrades", kw_only=True):
    id: str | UnsetType = UNSET
    total: JSONObject
    excess: JSONObject
    available: JSONObject


class RemoveAllUpgrades(Message, tag="remove_all_upgrades", kw_only=True):
    projects: list[UUID] | UnsetType = UNSET
    id: str | UnsetType = UNSET


class SagewsExecuteCode(Message, tag="sagews_execute_code", kw_only=True):
    id: str | UnsetType = UNSET
    project_id: UUID | UnsetType = UNSET
    path: str
    code: str
    data: JSONValue | UnsetType = UNSET
    cell_id: str | UnsetType = UNSET
    preparse: bool = True


class SagewsOutput(Message, tag="sagews_output", kw_only=True):
    id: str
    path: str
    output: JSONValue


class SagewsOutputAck(Message, tag="sagews_output_ack", kw_only=True):
    id: str
    project_id: UUID | UnsetType = UNSET


class SagewsInterrupt(Message, tag="sagews_interrupt", kw_only=True):
    id: str | UnsetType = UNSET
    project_id: UUID | UnsetType = UNSET
    path: str


class SagewsQuit(Message, tag="sagews_quit", kw_only=True):
    id: str | UnsetType = UNSET
    project_id: UUID | UnsetType = UNSET
    path: str


class SagewsStart(Message, tag="sagews_start", kw_only=True):
    id: str | UnsetType = UNSET
    project_id: UUID | UnsetType = UNSET
    path: str


class UserTracking(Message, tag="user_tracking", kw_only=True):
    id: str | UnsetType = UNSET
    evt: str
    value: JSONValue


class PurchaseLicense(Message, tag="purchase_license", kw_only=True):
    id: str | UnsetType = UNSET
    info: JSONObject


class PurchaseLicenseResp(Message, tag="purchase_license_resp", kw_only=True):
    id: str | UnsetType = UNSET
    resp: JSONValue


class Chatgpt(Message, tag="chatgpt", kw_only=True):
    id: str | UnsetType = UNSET
    text: str
    system: str | UnsetType = UNSET
    history: list[Any] | UnsetType = UNSET
    project_id: UUID | UnsetType = UNSET
    path: str | UnsetType = UNSET
    model: str | UnsetType = UNSET
    tag: str | UnsetType = UNSET
    stream: bool | UnsetType = UNSET


class ChatgptResponse(Message, tag="chatgpt_response", kw_only=True):
    id: str | UnsetType = UNSET
    text: str | UnsetType = UNSET
    multi_response: bool | UnsetType = UNSET


class OpenaiEmbeddingsSearch(Message, tag="openai_embeddings_search", kw_only=True):
    scope: str | list[str]
    id: str | UnsetType = UNSET
    text: str | UnsetType = UNSET
    filter: JSONValue | UnsetType = UNSET
    limit: int
    selector: JSONValue | UnsetType = UNSET
    offset: int | UnsetType = UNSET


class OpenaiEmbeddingsSearchResponse(
    Message, tag="openai_embeddings_search_response", kw_only=True
):
    id: str | UnsetType = UNSET
    matches: list[Any]


class OpenaiEmbeddingsSave(Message, tag="openai_embeddings_save", kw_only=True):
    project_id: UUID
    path: str
    data: list[Any]
    id: str | UnsetType = UNSET


class OpenaiEmbeddingsSaveResponse(Message, tag="openai_embeddings_save_response", kw_only=True):
    id: str | UnsetType = UNSET
    ids: list[Any]


class OpenaiEmbeddingsRemove(Message, tag="openai_embeddings_remove", kw_only=True):
    id: str | UnsetType = UNSET
    project_id: UUID
    path: str
    data: list[Any]


class OpenaiEmbeddingsRemoveResponse(
    Message, tag="openai_embeddings_remove_response", kw_only=True
):
    id: str | UnsetType = UNSET
    ids: list[Any]


class JupyterExecute(Message, tag="jupyter_execute", kw_only=True):
    id: str | UnsetType = UNSET
    hash: str | UnsetType = UNSET
    kernel: str | UnsetType = UNSET
    input: str | UnsetType = UNSET
    history: list[str] | UnsetType = UNSET
    project_id: UUID | UnsetType = UNSET
    path: str | UnsetType = UNSET
    tag: str | UnsetType = UNSET
    pool: JSONObject | UnsetType = UNSET
    limits: JSONObject | UnsetType = UNSET


class JupyterExecuteResponse(Message, tag="jupyter_execute_response", kw_only=True):
    id: str | UnsetType = UNSET
    output: JSONValue
    total_time_s: Number | UnsetType = UNSET
    time: JSONValue | UnsetType = UNSET


class JupyterKernels(Message, tag="jupyter_kernels", kw_only=True):
    id: str | UnsetType = UNSET
    project_id: UUID | UnsetType = UNSET
    kernels: JSONValue | UnsetType = UNSET


class JupyterStartPool(Message, tag="jupyter_start_pool", kw_only=True):
    id: str | UnsetType = UNSET
    project_id: UUID | UnsetType = UNSET
    kernels: JSONValue | UnsetType = UNSET


# ---------------------------------------------------------------- extensions (see EXTENSIONS)


class UserAuthToken(Message, tag="user_auth_token", kw_only=True):
    id: str | UnsetType = UNSET
    auth_token: str


class CreateProject(Message, tag="create_project", kw_only=True):
    id: str | UnsetType = UNSET
    title: str | UnsetType = UNSET
    description: str | UnsetType = UNSET
    start: bool = False


class ProjectCreated(Message, tag="project_created", kw_only=True):
    id: str | UnsetType = UNSET
    project_id: UUID


class InviteCollaborator(Message, tag="invite_collaborator", kw_only=True):
    id: str | UnsetType = UNSET
    project_id: UUID
    account_id: UUID


class RemoveCollaborator(Message, tag="remove_collaborator", kw_only=True):
    id: str | UnsetType = UNSET
    project_id: UUID
    account_id: UUID


class TerminalResize(Message, tag="terminal_resize", kw_only=True):
    id: str | UnsetType = UNSET
    session_uuid: str
    rows: int
    cols: int


class TerminalDetach(Message, tag="terminal_detach", kw_only=True):
    id: str | UnsetType = UNSET
    session_uuid: str


class TerminalExited(Message, tag="terminal_exited", kw_only=True):
    session_uuid: str
    data_channel: int
    exit_code: int | UnsetType = UNSET


class TerminalDetached(Message, tag="terminal_detached", kw_only=True):
    session_uuid: str
    data_channel: int
    reason: str


class UserSearch(Message, tag="user_search", kw_only=True):
    id: str | UnsetType = UNSET
    query: str
    limit: int | UnsetType = UNSET


class GetProjectUsers(Message, tag="get_project_users", kw_only=True):
    id: str | UnsetType = UNSET
    project_id: UUID


EXTENSIONS: dict[str, str] = {
    "print_to_pdf": (
        "gains optional `project_id`: in CoCalc the browser sent it to the project inside a"
        " `local_hub` wrapper; sent to the hub directly it names the project"
    ),
    "account_created": (
        "gains optional `api_key`: create_account with get_api_key returns the new key here"
        " (as CoCalc did in 2024, though its message.js never declared the field)"
    ),
    "user_auth_token": (
        "new event {id, auth_token}: the reply to user_auth; CoCalc sent it but message.js"
        " does not define it"
    ),
    "copy_path_status": (
        "gains optional `id`: without it a WebSocket reply could not be matched to its"
        " request, and the HTTP API could not echo the id it generates"
    ),
    "copy_path_delete": "gains optional `id`, for the same reason as copy_path_status",
    "create_project": (
        "new event {id, title, description, start}: CoCalc's hub had it (and its API tests"
        " use it) but message.js no longer defines it; replies project_created"
    ),
    "project_created": "new event {id, project_id}: the reply to create_project",
    "invite_collaborator": (
        "new event {id, project_id, account_id}: adds an existing account as collaborator"
    ),
    "remove_collaborator": "new event {id, project_id, account_id}: removes a collaborator",
    "sagews_execute_code": (
        "gains optional `project_id`: in CoCalc these reached the project inside a"
        " `local_hub` wrapper; a browser sends them to the hub directly with the project named"
    ),
    "sagews_output_ack": "gains optional `project_id`, as sagews_execute_code",
    "sagews_interrupt": "gains optional `project_id`, as sagews_execute_code",
    "sagews_quit": "gains optional `project_id`, as sagews_execute_code",
    "sagews_start": "gains optional `project_id`, as sagews_execute_code",
    "terminal_resize": (
        "new event {id, session_uuid, rows, cols}: resizes a terminal this connection is"
        " attached to; replies success (CoCalc sent a resize inside its own channel protocol)"
    ),
    "terminal_detach": (
        "new event {id, session_uuid}: this connection stops receiving the terminal and frees"
        " its data_channel; the terminal keeps running; replies success"
    ),
    "terminal_exited": (
        "new push {session_uuid, data_channel, exit_code}: the terminal's process ended;"
        " its data_channel is free again"
    ),
    "terminal_detached": (
        "new push {session_uuid, data_channel, reason}: the hub lost its link to the project;"
        " the terminal may still run, and start_session with the same session_uuid reattaches"
    ),
    "user_search": (
        "new event {id, query, limit}: accounts by name prefixes or exact email address;"
        " replies user_search_results (CoCalc's hub had it; message.js keeps only the reply)"
    ),
    "get_project_users": (
        "new event {id, project_id}: the users of a project with their groups; replies"
        " project_users (CoCalc's older request name; message.js keeps only the reply)"
    ),
}

ALL_MESSAGES: tuple[type[Message], ...] = (
    CreateProject,
    ProjectCreated,
    InviteCollaborator,
    RemoveCollaborator,
    StartSession,
    SessionStarted,
    Output,
    ExecuteJavascript,
    CreateAccount,
    AccountCreated,
    AccountCreationFailed,
    DeleteAccount,
    AccountDeleted,
    SignIn,
    RememberMeFailed,
    SignInFailed,
    SignedIn,
    SignOut,
    SignedOut,
    Error,
    Success,
    Reconnect,
    Cookies,
    OpenProject,
    ProjectOpened,
    ProjectExec,
    ProjectExecOutput,
    NamedServerPort,
    ReadFileFromProject,
    FileReadFromProject,
    ReadTextFileFromProject,
    TextFileReadFromProject,
    WriteFileToProject,
    WriteTextFileToProject,
    FileWrittenToProject,
    UserSearchResults,
    ProjectUsers,
    Version,
    SaveBlob,
    ProjectsRunningOnServer,
    LocalHub,
    CopyPathBetweenProjects,
    CopyPathBetweenProjectsResponse,
    CopyPathStatus,
    CopyPathStatusResponse,
    CopyPathDelete,
    PrintToPdf,
    PrintedToPdf,
    Heartbeat,
    Ping,
    Pong,
    LogClientError,
    WebappError,
    StripeGetCustomer,
    StripeCustomer,
    StripeCreateSource,
    StripeDeleteSource,
    StripeSetDefaultSource,
    StripeUpdateSource,
    StripePlans,
    StripeCreateSubscription,
    StripeCancelSubscription,
    StripeUpdateSubscription,
    StripeGetSubscriptions,
    StripeSubscriptions,
    StripeGetCoupon,
    StripeCoupon,
    StripeGetCharges,
    StripeCharges,
    StripeGetInvoices,
    StripeInvoices,
    StripeAdminCreateInvoiceItem,
    Query,
    QueryCancel,
    ApiKey,
    ApiKeyInfo,
    ApiKeys,
    ApiKeysResponse,
    UserAuth,
    GetAvailableUpgrades,
    DisconnectFromProject,
    AvailableUpgrades,
    RemoveAllUpgrades,
    SagewsExecuteCode,
    SagewsOutput,
    SagewsOutputAck,
    SagewsInterrupt,
    SagewsQuit,
    SagewsStart,
    UserTracking,
    PurchaseLicense,
    PurchaseLicenseResp,
    Chatgpt,
    ChatgptResponse,
    OpenaiEmbeddingsSearch,
    OpenaiEmbeddingsSearchResponse,
    OpenaiEmbeddingsSave,
    OpenaiEmbeddingsSaveResponse,
    OpenaiEmbeddingsRemove,
    OpenaiEmbeddingsRemoveResponse,
    JupyterExecute,
    JupyterExecuteResponse,
    JupyterKernels,
    JupyterStartPool,
    UserAuthToken,
    TerminalResize,
    TerminalDetach,
    TerminalExited,
    TerminalDetached,
    UserSearch,
    GetProjectUsers,
)
BY_EVENT: dict[str, type[Message]] = {str(cls.__struct_config__.tag): cls for cls in ALL_MESSAGES}


def message_id(msg: Message) -> str | None:
    """The request id a reply to `msg` must carry, or None when it has none."""
    value = getattr(msg, "id", None)
    return value if isinstance(value, str) else None
