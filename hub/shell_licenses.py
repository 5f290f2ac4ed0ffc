"""`hub license grant`: give an account a license from the shell (the hub may be running).

    hub license grant --email ada@example.com --quota '{"memory": 1000, "mintime": 3600}' \\
        --quantity 2 --days 30
    # {"license_id": "…", "account_id": "…", "quota": {...}, "quantity": 2, ...}

The same rules as purchase_license (hub/handlers/upgrades.py `license_terms`):
known upgrade keys, per-project maxima, `license_max_quantity`, `license_max_days`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from hub.config import Settings
from hub.db import accounts
from hub.db import licenses as license_table
from hub.db.database import Database
from hub.db.migrate import migrate
from hub.errors import HubError
from hub.handlers.accounts import normalize_email
from hub.handlers.upgrades import license_terms


def add_parser(commands: Any) -> None:
    """The `license` command and its `grant` subcommand (called by hub/cli.py)."""
    command = commands.add_parser("license", help="manage licenses from the shell")
    sub = command.add_subparsers(dest="license_command", required=True)
    grant = sub.add_parser("grant", help="grant a license to an account; prints JSON")
    who = grant.add_mutually_exclusive_group(required=True)
    who.add_argument("--account-id", help="the account to grant it to")
    who.add_argument("--email", help="the account to grant it to, by e-mail address")
    grant.add_argument(
        "--quota", required=True, help='upgrades per unit, JSON: \'{"memory": 1000, "cores": 1}\''
    )
    grant.add_argument("--quantity", type=int, default=1, help="how many units (default 1)")
    grant.add_argument(
        "--days", type=float, default=None, help="how long it runs (default: license_max_days)"
    )
    Settings.add_arguments(grant)


async def grant_license_from_shell(
    dsn: str,
    settings: Settings,
    *,
    account_id: str | None,
    email: str | None,
    quota: str,
    quantity: int,
    days: float | None,
) -> dict[str, Any]:
    """Record the license; raise ValueError with the reason a person can act on."""
    try:
        parsed = json.loads(quota)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--quota is not JSON: {exc}") from None
    info: dict[str, Any] = {"quota": parsed, "quantity": quantity}
    if days is not None:
        info["days"] = days
    try:
        terms = license_terms(
            info, max_quantity=settings.license_max_quantity, max_days=settings.license_max_days
        )
    except HubError as exc:
        raise ValueError(exc.text) from None
    await migrate(dsn)
    db = await Database.open(dsn, settings)
    try:
        if account_id is not None:
            try:
                account = await accounts.by_id(db, UUID(account_id))
            except ValueError:
                raise ValueError(f"--account-id {account_id!r} is not a uuid") from None
        else:
            account = await accounts.by_email(db, normalize_email(email or ""))
        if account is None or account.deleted:
            raise ValueError(f"no such account: {account_id or email}")
        lic = await license_table.create(
            db, account.account_id, *terms, source={"via": "shell", "info": info}
        )
        return {"license_id": lic.id, **lic.as_json()}
    finally:
        await db.close()


def license_work(
    settings: Settings, args: argparse.Namespace
) -> Callable[[str], Awaitable[dict[str, Any]]]:
    """What `hub license grant` does with the database (the CLI runs and prints it)."""

    async def work(dsn: str) -> dict[str, Any]:
        return await grant_license_from_shell(
            dsn,
            settings,
            account_id=args.account_id,
            email=args.email,
            quota=args.quota,
            quantity=args.quantity,
            days=args.days,
        )

    return work
