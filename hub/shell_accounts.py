"""`hub account create`: make an account (and optionally an admin, and a key) from the shell."""

from __future__ import annotations

from typing import Any

from hub.auth.api_keys import make_key
from hub.auth.passwords import hash_password_async
from hub.config import Settings
from hub.db import accounts
from hub.db.database import Database
from hub.db.migrate import migrate
from hub.handlers.accounts import (
    EMAIL_INVALID,
    EMAIL_TAKEN,
    NAME_MAX,
    PASSWORD_LENGTH,
    PASSWORD_MAX,
    PASSWORD_MIN,
    clean_text,
    normalize_email,
    valid_email,
)


async def create_account_from_shell(
    dsn: str,
    settings: Settings,
    *,
    email: str,
    password: str,
    first_name: str,
    last_name: str,
    admin: bool,
    api_key: bool,
) -> dict[str, Any]:
    """Create the account; raise ValueError with the reason a person can act on."""
    address = normalize_email(email)
    if not valid_email(address):
        raise ValueError(EMAIL_INVALID)
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise ValueError(PASSWORD_LENGTH)
    await migrate(dsn)
    db = await Database.open(dsn, settings)
    try:
        if await accounts.by_email(db, address) is not None:
            raise ValueError(EMAIL_TAKEN)
        try:
            account_id = await accounts.create(
                db,
                email=address,
                password_hash=await hash_password_async(password, settings),
                first_name=clean_text(first_name, NAME_MAX),
                last_name=clean_text(last_name, NAME_MAX),
                groups=("admin",) if admin else (),
            )
        except accounts.EmailTaken:
            raise ValueError(EMAIL_TAKEN) from None
        result: dict[str, Any] = {"account_id": str(account_id), "email_address": address}
        if admin:
            result["groups"] = ["admin"]
        if api_key:
            secret, _row = await make_key(db, account_id, name="shell", legacy=True)
            result["api_key"] = secret
        return result
    finally:
        await db.close()
