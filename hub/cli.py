"""The `hub` command: serve, migrate, account, api-docs."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec

from hub import logs
from hub.config import Settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hub", description="A hub that speaks the CoCalc message protocol."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="serve WebSocket and HTTP API on one port")
    Settings.add_arguments(serve)

    migrate = commands.add_parser("migrate", help="apply database migrations and exit")
    Settings.add_arguments(migrate)

    account = commands.add_parser("account", help="manage accounts from the shell")
    account_commands = account.add_subparsers(dest="account_command", required=True)
    create = account_commands.add_parser("create", help="create an account; prints JSON")
    create.add_argument("--email", required=True)
    create.add_argument("--password", required=True)
    create.add_argument("--first-name", default="")
    create.add_argument("--last-name", default="")
    create.add_argument("--admin", action="store_true", help="put the account in group admin")
    create.add_argument("--api-key", action="store_true", help="also make and print an API key")
    Settings.add_arguments(create)

    from hub.shell_licenses import add_parser as license_parser

    license_parser(commands)

    loadtest = commands.add_parser("loadtest", help="simulated users against a running hub")
    from hub.loadtest.cli import add_arguments as loadtest_arguments

    loadtest_arguments(loadtest)

    status = commands.add_parser("status", help="list the hub processes serving this database")
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    Settings.add_arguments(status)

    api_docs = commands.add_parser("api-docs", help="print the HTTP API reference (Markdown)")
    api_docs.add_argument("--json", action="store_true", help="print JSON instead")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "api-docs":
        from hub.protocol.docs import api_reference, api_reference_markdown

        if args.json:
            sys.stdout.write(msgspec.json.encode(api_reference()).decode() + "\n")
        else:
            sys.stdout.write(api_reference_markdown())
        return 0
    if args.command == "loadtest":
        from hub.loadtest.cli import main as loadtest_main

        return loadtest_main(args)
    try:
        settings = Settings.load(args)
    except ValueError as exc:
        print(f"hub: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level, settings.log_format)
    if args.command == "serve":
        return _run(_serve(settings))
    if args.command == "migrate":
        return _run(_migrate(settings))
    if args.command == "account":
        return _run(_account_create(settings, args))
    if args.command == "license":
        from hub.shell_licenses import license_work

        return _run(_print_result(settings, license_work(settings, args)))
    if args.command == "status":
        return _run(_status(settings, as_json=args.json))
    return 2


def _run(main: Awaitable[int]) -> int:
    import uvloop

    async def runner() -> int:
        return await main

    result: int = uvloop.run(runner())
    return result


async def _serve(settings: Settings) -> int:
    from hub.app import Hub

    await Hub(settings).serve_until_signalled()
    return 0


async def _with_database(settings: Settings, work: Callable[[str], Awaitable[Any]]) -> Any:
    """Run `work(dsn)` against the configured database, starting the embedded one if needed."""
    from hub.db.embedded import EmbeddedPostgres

    if settings.database_url:
        return await work(settings.database_url)
    embedded = EmbeddedPostgres()
    dsn = await asyncio.to_thread(embedded.start, settings.data_dir)
    try:
        return await work(dsn)
    finally:
        await asyncio.to_thread(embedded.stop)


async def _migrate(settings: Settings) -> int:
    from hub.db.migrate import migrate

    applied = await _with_database(settings, migrate)
    print(msgspec.json.encode({"applied": applied}).decode())
    return 0


async def _account_create(settings: Settings, args: argparse.Namespace) -> int:
    from hub.shell_accounts import create_account_from_shell

    async def work(dsn: str) -> dict[str, Any]:
        return await create_account_from_shell(
            dsn,
            settings,
            email=args.email,
            password=args.password,
            first_name=args.first_name,
            last_name=args.last_name,
            admin=args.admin,
            api_key=args.api_key,
        )

    return await _print_result(settings, work)


async def _print_result(settings: Settings, work: Callable[[str], Awaitable[Any]]) -> int:
    """Run a shell command's `work(dsn)` and print its result, or its error, as JSON."""
    try:
        result = await _with_database(settings, work)
    except ValueError as exc:
        print(msgspec.json.encode({"error": str(exc)}).decode())
        return 1
    print(msgspec.json.encode(result).decode())
    return 0


async def _status(settings: Settings, *, as_json: bool) -> int:
    import asyncpg

    from hub.db import hub_servers
    from hub.db.migrate import migrate

    async def work(dsn: str) -> list[hub_servers.HubServer]:
        await migrate(dsn)  # a database no hub has used yet simply has no hubs
        conn = await asyncpg.connect(dsn)
        try:
            return await hub_servers.alive(conn)
        finally:
            await conn.close()

    hubs = await _with_database(settings, work)
    if as_json:
        print(msgspec.json.encode({"hubs": [h.as_json() for h in hubs]}).decode())
        return 0
    print(f"{len(hubs)} hub(s) serving, {sum(h.clients for h in hubs)} client(s)")
    if hubs:
        print(f"{'HUB':<40} {'ADDRESS':<28} {'PID':>7} {'CLIENTS':>8}  LAST HEARTBEAT")
        for h in hubs:
            address = f"{h.host}:{h.port}"
            beat = h.heartbeat.strftime("%Y-%m-%d %H:%M:%S UTC")
            print(f"{h.hub_id:<40} {address:<28} {h.pid:>7} {h.clients:>8}  {beat}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
