"""Accounts and authentication: sign-up, sign-in and out, deletion, API keys, user_auth.

Texts a client sees follow CoCalc's (`reference/cocalc-behaviour.md` §3) unless a
comment says otherwise. Passwords are checked with argon2 in a worker thread
(`hub.auth.passwords`); keys and tokens are stored only as hashes.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

import structlog
from msgspec import UNSET, UnsetType

from hub.auth import api_keys as keys
from hub.auth import auth_tokens, remember_me
from hub.auth.passwords import (
    hash_password_async,
    needs_rehash,
    verify_password_async,
)
from hub.auth.secrets import hash_secret, same_secret
from hub.db import accounts
from hub.db import api_keys as key_table
from hub.db.accounts import Account, EmailTaken
from hub.errors import (
    BadRequest,
    DatabaseDown,
    NotSignedIn,
    PermissionDenied,
    RateLimited,
)
from hub.handlers.context import Context, Identity
from hub.handlers.registry import Routes
from hub.projects.access import require as require_project_access
from hub.protocol.messages import (
    AccountCreated,
    AccountCreationFailed,
    AccountDeleted,
    ApiKey,
    ApiKeyInfo,
    ApiKeys,
    ApiKeysResponse,
    Cookies,
    CreateAccount,
    DeleteAccount,
    SignedIn,
    SignedOut,
    SignIn,
    SignInFailed,
    SignOut,
    Success,
    UserAuth,
    UserAuthToken,
)
from hub.sessions.lapse import ACCOUNT_GONE

routes = Routes()
log = structlog.get_logger(__name__)

PASSWORD_MIN = 6
PASSWORD_MAX = 64
EMAIL_MAX = 254
NAME_MAX = 254  # CoCalc's VARCHAR(254) for first_name and last_name
KEY_NAME_MAX = 128  # CoCalc's VARCHAR(128) for api_keys.name
USAGE_INTENT_MAX = 1000
_DROPPED_CATEGORIES = frozenset({"Cc", "Cs"})  # control characters, lone surrogates

# --- create_account reasons (CoCalc's words) ---------------------------------------
SIGNUP_DISABLED = "Signing up via email/password is disabled."
NO_TOKEN = "No registration token provided"
WRONG_TOKEN = "Registration token is wrong."
EMAIL_INVALID = "Email address does not appear to be valid."
PASSWORD_MISSING = "Password must be specified."
PASSWORD_LENGTH = (
    f"Password must be between {PASSWORD_MIN} and {PASSWORD_MAX} characters in length."
)
AGREE_TO_TERMS = "Agree to the Terms of Service."
EMAIL_TAKEN = "This e-mail address is already taken."

# --- sign_in reasons (CoCalc's words) ------------------------------------------------
EMPTY_EMAIL = "Empty email address."
EMPTY_PASSWORD = "Empty password."
NO_SUCH_ACCOUNT = "no such account"
ACCOUNT_BANNED = (
    "This account is BANNED.  Contact help@cocalc.com if you believe this is a mistake."
)

# --- api_key, api_keys, user_auth, delete_account ------------------------------------
PASSWORD_REQUIRED = "password must be provided"
INVALID_PASSWORD = "invalid password"
INCORRECT_PASSWORD = "incorrect password"
ONLY_OWN_ACCOUNT = "you may only delete your own account (or be an admin)"
NOT_FOR_PROJECT_KEYS = "a project-scoped API key cannot manage accounts or keys"


def too_many_signups(ip: str, limit: int, window_s: float) -> str:
    minutes = f"{window_s / 60:g}"
    return (
        f"Too many accounts are being created from the ip address {ip}; try again later.  "
        f"By default at most {limit} accounts can be created every {minutes} minutes from one "
        "IP; if you're using the API and need a higher limit, contact us."
    )


def no_password(email: str) -> str:
    # CoCalc named the account's single-sign-on providers here; this hub has none.
    return (
        f"The account {email} exists but doesn't have a password. Either set your password "
        "by clicking 'Forgot Password?' or ask an administrator to set one.  If that doesn't "
        "work, email help@cocalc.com and we will sort this out."
    )


def incorrect_password(email: str) -> str:
    return (
        f"Incorrect password for {email}.  You can reset your password by clicking the "
        "'Forgot Password?' link.   If that doesn't work, email help@cocalc.com and we will "
        "sort this out."
    )


def user_auth_banned(retry_s: float) -> str:
    return f"banned -- please wait at least {retry_s:g}s before trying again"


# --- input clean-up ------------------------------------------------------------------


def normalize_email(value: str | UnsetType) -> str:
    return value.strip().lower() if isinstance(value, str) else ""


def valid_email(email: str) -> bool:
    """A pragmatic check: one `@`, a dotted domain, no spaces or control characters.

    Unicode is allowed (RFC 6531 addresses); quoting tricks are not.
    """
    if not email or len(email) > EMAIL_MAX or not email.isprintable() or " " in email:
        return False
    local, at, domain = email.rpartition("@")
    if not at or not local or "@" in local or len(local) > 64:
        return False
    labels = domain.split(".")
    return len(labels) >= 2 and all(labels) and not domain.startswith("-")


def clean_text(value: str | UnsetType, limit: int) -> str | None:
    """Stripped, without control characters (PostgreSQL text cannot hold NUL), at most
    `limit` characters; None when not given. Joiners and other format characters stay,
    so emoji sequences and scripts that need them survive."""
    if not isinstance(value, str):
        return None
    kept = "".join(c for c in value if unicodedata.category(c) not in _DROPPED_CATEGORIES)
    return kept.strip()[:limit]


def wants_api_key(value: bool | str | UnsetType) -> bool:
    """`get_api_key` is "anything truth-ish": true or an app name; "false"/"0"/"" are not."""
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false", "0", "no", "off")
    return value is True


def _key_name(value: Any, default: str) -> str:
    if isinstance(value, str):
        name = clean_text(value, KEY_NAME_MAX)
        if name:
            return name
    return default


def _or_unset(value: str | None) -> str | UnsetType:
    return UNSET if value is None else value


def _require_identity(ctx: Context) -> Identity:
    identity = ctx.identity
    if identity is None:
        raise NotSignedIn()
    return identity


def _require_account_identity(ctx: Context) -> Identity:
    identity = _require_identity(ctx)
    if identity.project_id is not None:
        raise PermissionDenied(NOT_FOR_PROJECT_KEYS)
    return identity


async def _check_password(ctx: Context, account: Account, password: str) -> bool:
    """Verify a password outside sign-in, counted by the sign-in throttle so a signed-in
    session cannot be used to guess it faster than the sign-in form allows."""
    throttle = ctx.hub.sign_in_throttle
    email = account.email_address
    reason = throttle.check(email, ctx.session.ip)
    if reason is not None:
        raise RateLimited(reason)
    ok = await verify_password_async(password, account.password_hash, ctx.hub.settings)
    if not ok:
        throttle.record_failure(email, ctx.session.ip)
    return ok


# --- create_account ------------------------------------------------------------------


@routes.handler(CreateAccount, signed_in=False)
async def create_account(
    msg: CreateAccount, ctx: Context
) -> SignedIn | AccountCreated | AccountCreationFailed:
    hub = ctx.hub
    settings = hub.settings

    def failed(reason: dict[str, str]) -> AccountCreationFailed:
        return AccountCreationFailed(id=msg.id, reason=reason)

    if not settings.allow_signup:
        return failed({"other": SIGNUP_DISABLED})
    if settings.registration_token:
        token = msg.token if isinstance(msg.token, str) else ""
        if not token:
            return failed({"token": NO_TOKEN})
        if not same_secret(token, settings.registration_token):
            return failed({"token": WRONG_TOKEN})

    email = normalize_email(msg.email_address)
    issues: dict[str, str] = {}
    if not valid_email(email):
        issues["email_address"] = EMAIL_INVALID
    password = msg.password
    if not isinstance(password, str) or not password:
        issues["password"] = PASSWORD_MISSING
    elif not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        issues["password"] = PASSWORD_LENGTH
    if msg.agreed_to_terms is not True:
        issues["agreed_to_terms"] = AGREE_TO_TERMS
    if issues:
        return failed(issues)
    assert isinstance(password, str)

    ip = ctx.session.ip
    recent = await accounts.count_created_from(hub.db, ip, settings.signup_window_s)
    if recent >= settings.signups_per_ip:
        return failed(
            {"other": too_many_signups(ip, settings.signups_per_ip, settings.signup_window_s)}
        )
    # Cheap early answer; the unique index decides when two sign-ups race.
    if await accounts.by_email(hub.db, email) is not None:
        return failed({"email_address": EMAIL_TAKEN})

    first_name = clean_text(msg.first_name, NAME_MAX)
    last_name = clean_text(msg.last_name, NAME_MAX)
    password_hash = await hash_password_async(password, settings)
    api_key: str | UnsetType = UNSET
    try:
        async with hub.db.transaction() as conn:
            account_id = await accounts.create(
                conn,
                email=email,
                password_hash=password_hash,
                first_name=first_name,
                last_name=last_name,
                created_by=ip,
                usage_intent=clean_text(msg.usage_intent, USAGE_INTENT_MAX),
            )
            if wants_api_key(msg.get_api_key):
                api_key, _ = await keys.make_key(
                    conn, account_id, name=_key_name(msg.get_api_key, "api")
                )
            await accounts.central_log(
                conn,
                "create_account",
                {"account_id": str(account_id), "email_address": email, "ip": ip},
            )
    except EmailTaken:
        return failed({"email_address": EMAIL_TAKEN})
    log.info("account created", account_id=str(account_id), via=ctx.session.kind)

    if ctx.session.kind == "websocket":
        ctx.session.sign_in(Identity(account_id=account_id, via="signup", email_address=email))
        return SignedIn(
            id=msg.id,
            account_id=account_id,
            email_address=email,
            first_name=_or_unset(first_name),
            last_name=_or_unset(last_name),
            remember_me=False,
            hub=hub.address,
            api_key=api_key,
        )
    return AccountCreated(id=msg.id, account_id=account_id, api_key=api_key)


# --- sign_in -------------------------------------------------------------------------


@routes.handler(SignIn, signed_in=False)
async def sign_in(msg: SignIn, ctx: Context) -> SignedIn | SignInFailed:
    """Always answers: `signed_in`, or `sign_in_failed` with the reason."""
    email = normalize_email(msg.email_address)

    def failed(reason: str) -> SignInFailed:
        return SignInFailed(id=msg.id, email_address=email, reason=reason)

    if not email:
        return failed(EMPTY_EMAIL)
    if not msg.password:
        return failed(EMPTY_PASSWORD)
    try:
        return await _sign_in(msg, ctx, email, failed)
    except DatabaseDown as exc:
        return failed(exc.text)


async def _sign_in(
    msg: SignIn, ctx: Context, email: str, failed: Callable[[str], SignInFailed]
) -> SignedIn | SignInFailed:
    hub = ctx.hub
    settings = hub.settings
    throttle = hub.sign_in_throttle
    ip = ctx.session.ip
    reason = throttle.check(email, ip)
    if reason is not None:
        return failed(f"sign_in_check failure: {reason}")

    # Any stored address may sign in (imported ones too), but NUL cannot be in a query.
    lookupable = "\x00" not in email and len(email) <= 4 * EMAIL_MAX
    account = await accounts.by_email(hub.db, email) if lookupable else None
    if account is None:
        throttle.record_failure(email, ip)
        return failed(NO_SUCH_ACCOUNT)
    if account.banned:
        throttle.record_failure(email, ip)
        return failed(ACCOUNT_BANNED)
    stored = account.password_hash
    if not stored:
        throttle.record_failure(email, ip)
        return failed(no_password(email))
    if not await verify_password_async(msg.password, stored, settings):
        throttle.record_failure(email, ip)
        return failed(incorrect_password(email))

    account_id = account.account_id
    if needs_rehash(stored, settings):
        fresh = await hash_password_async(msg.password, settings)
        await accounts.replace_password_hash(hub.db, account_id, stored, fresh)
    await accounts.touch(hub.db, account_id)
    remember_me_token: str | None = None
    remember_me_hash: bytes | None = None
    if msg.remember_me and ctx.session.kind == "websocket":
        remember_me_token = await remember_me.create_remember_me(
            hub, account_id, settings.remember_me_ttl_s
        )
        remember_me_hash = hash_secret(remember_me_token)
    api_key: str | UnsetType = UNSET
    if wants_api_key(msg.get_api_key):
        api_key, _ = await keys.make_key(hub.db, account_id, name=_key_name(msg.get_api_key, "api"))
    await accounts.central_log(
        hub.db,
        "successful_sign_in",
        {
            "account_id": str(account_id),
            "email_address": email,
            "remember_me": msg.remember_me,
            "ip": ip,
        },
    )

    if remember_me_token is not None:
        ctx.session.push(
            Cookies(
                id=ctx.session.session_id,
                url="/cookies",
                set=settings.cookie_name,
                value=remember_me_token,
            )
        )
    ctx.session.sign_in(
        Identity(
            account_id=account_id,
            groups=account.groups,
            remember_me_hash=remember_me_hash,
            via="password",
            email_address=account.email_address,
        )
    )
    return SignedIn(
        id=msg.id,
        account_id=account_id,
        email_address=_or_unset(account.email_address),
        first_name=_or_unset(account.first_name),
        last_name=_or_unset(account.last_name),
        remember_me=msg.remember_me,
        hub=hub.address,
        api_key=api_key,
    )


# --- sign_out ------------------------------------------------------------------------


@routes.handler(SignOut)
async def sign_out(msg: SignOut, ctx: Context) -> SignedOut:
    identity = _require_identity(ctx)
    if msg.everywhere:
        await remember_me.drop_all(ctx.hub, identity.account_id)
    elif identity.remember_me_hash is not None:
        await remember_me.drop(ctx.hub, identity.remember_me_hash)
    ctx.session.sign_out()
    return SignedOut(id=msg.id)


# --- delete_account ------------------------------------------------------------------


@routes.handler(DeleteAccount)
async def delete_account(msg: DeleteAccount, ctx: Context) -> AccountDeleted:
    """Only the account itself or an admin; unknown or deleted accounts answer the same."""
    identity = _require_account_identity(ctx)
    target = msg.account_id
    own = target == identity.account_id
    if not own and not identity.is_admin:
        raise PermissionDenied(ONLY_OWN_ACCOUNT)
    hub = ctx.hub
    async with hub.db.transaction() as conn:
        deleted = await accounts.mark_deleted(conn, target)
        if deleted:
            await accounts.central_log(
                conn,
                "delete_account",
                {"account_id": str(target), "by": str(identity.account_id)},
            )
    hub.api_key_cache.invalidate_account(target)
    if own:
        ctx.session.sign_out()
    # other connections of the account on this hub end now; on other hubs at their re-check
    hub.sessions.sign_out_account(target, ACCOUNT_GONE)
    return AccountDeleted(id=msg.id)


# --- api_key (the one legacy key per account) -------------------------------------


@routes.handler(ApiKey)
async def api_key(msg: ApiKey, ctx: Context) -> ApiKeyInfo | Success:
    identity = _require_account_identity(ctx)
    hub = ctx.hub
    account = await accounts.by_id(hub.db, identity.account_id)
    if account is None or account.deleted:
        raise NotSignedIn()
    if account.password_hash:
        if not isinstance(msg.password, str) or not msg.password:
            raise BadRequest(PASSWORD_REQUIRED)
        if not await _check_password(ctx, account, msg.password):
            raise PermissionDenied(INVALID_PASSWORD)
    account_id = account.account_id
    if msg.action == "get":
        existing = await key_table.legacy(hub.db, account_id)
        if existing is None:
            return Success(id=msg.id)
        return ApiKeyInfo(id=msg.id, api_key=existing.trunc)
    if msg.action == "regenerate":
        secret = await keys.regenerate_legacy(hub, account_id)
        return ApiKeyInfo(id=msg.id, api_key=secret)
    if msg.action == "delete":
        await keys.delete_legacy(hub, account_id)
        return Success(id=msg.id)
    raise BadRequest(f'unknown action="{msg.action}"')


# --- api_keys (named keys) -----------------------------------------------------------


@routes.handler(ApiKeys)
async def api_keys(msg: ApiKeys, ctx: Context) -> ApiKeysResponse:
    identity = _require_account_identity(ctx)
    hub = ctx.hub
    account_id = identity.account_id
    project_id = msg.project_id if isinstance(msg.project_id, UUID) else None
    if project_id is not None:
        # a project's keys are managed by whoever may change the project
        await require_project_access(ctx, project_id, "write")
    key_id = msg.key_id if isinstance(msg.key_id, int) else None
    if key_id is not None and not 0 < key_id < 2**63:
        raise BadRequest(f"no api key with id {key_id}")
    expire: datetime | None = msg.expire if isinstance(msg.expire, datetime) else None
    name = clean_text(msg.name, KEY_NAME_MAX)

    if msg.action == "get":
        rows = await key_table.list_named(hub.db, account_id, key_id, project_id)
        return ApiKeysResponse(id=msg.id, response=[row.public() for row in rows])
    if msg.action == "create":
        secret, row = await keys.make_key(
            hub.db, account_id, name=name or "", expire=expire, project_id=project_id
        )
        return ApiKeysResponse(id=msg.id, response=[{**row.public(), "secret": secret}])
    if msg.action not in ("delete", "edit"):
        raise BadRequest(f'unknown action="{msg.action}"')
    if key_id is None:
        raise BadRequest(f"key_id must be given to {msg.action} an api key")
    if msg.action == "delete":
        found = await keys.delete_named(hub, account_id, key_id, project_id)
    else:
        edited = await keys.edit_named(
            hub, account_id, key_id, name=name, expire=expire, project_id=project_id
        )
        found = edited is not None
    if not found:
        raise BadRequest(f"no api key with id {key_id}")
    return ApiKeysResponse(id=msg.id)


# --- user_auth -----------------------------------------------------------------------


@routes.handler(UserAuth)
async def user_auth(msg: UserAuth, ctx: Context) -> UserAuthToken:
    """A 24-character token that signs a browser in as `account_id` (for 12 hours).

    The caller must know the target's password (an admin may pass an empty one).
    After a wrong password the caller waits `user_auth_retry_s` before trying the
    same target again.
    """
    identity = _require_account_identity(ctx)
    hub = ctx.hub
    settings = hub.settings
    caller = identity.account_id
    target = msg.account_id
    bans = hub.sign_in_throttle.user_auth
    ban_key = (caller, target)
    if bans.banned(ban_key):
        raise RateLimited(user_auth_banned(settings.user_auth_retry_s))
    account = await accounts.by_id(hub.db, target)
    live = account is not None and not account.deleted and not account.banned
    if identity.is_admin and msg.password == "":
        if not live:
            raise BadRequest(NO_SUCH_ACCOUNT)
    else:
        ok = False
        if live and account is not None and account.password_hash:
            ok = await _check_user_auth_password(ctx, account, msg.password)
        if not ok:
            bans.ban(ban_key)
            raise PermissionDenied(INCORRECT_PASSWORD)
    token = await auth_tokens.create(hub, target)
    await accounts.central_log(
        hub.db, "get_user_auth_token", {"account_id": str(target), "by": str(caller)}
    )
    return UserAuthToken(id=msg.id, auth_token=token)


async def _check_user_auth_password(ctx: Context, account: Account, password: str) -> bool:
    # Counted per caller address only: the target's own sign-ins are not blocked by it.
    throttle = ctx.hub.sign_in_throttle
    reason = throttle.check(None, ctx.session.ip)
    if reason is not None:
        raise RateLimited(reason)
    if not password:
        ok = False
    else:
        ok = await verify_password_async(password, account.password_hash, ctx.hub.settings)
    if not ok:
        throttle.record_failure(None, ctx.session.ip)
    return ok
