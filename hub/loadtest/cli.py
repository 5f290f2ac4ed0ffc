"""`hub loadtest` arguments → `LoadSettings`, the run, the table and the JSON report."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from hub.loadtest.run import DEFAULT_MIX, LoadSettings, parse_mix, run
from hub.loadtest.stats import table

AUTH_MODES = ("password", "cookie", "key")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", default="ws://127.0.0.1:5000/hub", help="the hub's WebSocket URL")
    p.add_argument("--users", type=int, default=10, help="simulated users")
    p.add_argument("--ramp-up-s", type=float, default=5.0, help="time to start all users")
    p.add_argument("--duration-s", type=float, default=30.0, help="run time after the ramp-up")
    p.add_argument("--think-s", type=float, default=1.0, help="mean pause between operations")
    default_mix = ",".join(f"{k}={v}" for k, v in DEFAULT_MIX.items())
    p.add_argument("--mix", default=default_mix, help=f"operation weights (default {default_mix})")
    p.add_argument(
        "--auth",
        default=",".join(AUTH_MODES),
        help="ways in, given to users in turn: password, cookie (remember-me), key (HTTP API)",
    )
    p.add_argument("--report", type=Path, default=None, help="write the JSON report here")
    p.add_argument("--seed", type=int, default=1, help="random seed of the users' choices")
    p.add_argument("--no-progress", action="store_true", help="no live progress line")


def main(args: argparse.Namespace) -> int:
    try:
        mix = parse_mix(args.mix)
        auth = tuple(a.strip() for a in args.auth.split(",") if a.strip())
        unknown = [a for a in auth if a not in AUTH_MODES]
        if unknown or not auth:
            raise ValueError(f"--auth takes {', '.join(AUTH_MODES)}; got {args.auth!r}")
        if args.users < 1 or args.duration_s < 0 or args.ramp_up_s < 0 or args.think_s < 0:
            raise ValueError("--users must be at least 1 and times must not be negative")
    except ValueError as exc:
        print(f"hub loadtest: {exc}", file=sys.stderr)
        return 2
    settings = LoadSettings(
        url=args.url,
        users=args.users,
        ramp_up_s=args.ramp_up_s,
        duration_s=args.duration_s,
        think_s=args.think_s,
        mix=mix,
        auth=auth,
        seed=args.seed,
        progress=not args.no_progress,
    )
    try:
        report = asyncio.run(run(settings))
    except (OSError, TimeoutError) as exc:
        print(f"hub loadtest: cannot reach {args.url}: {exc}", file=sys.stderr)
        return 1
    print(table(report))
    if args.report is not None:
        args.report.write_text(json.dumps(report, indent=2) + "\n")
    return 0
