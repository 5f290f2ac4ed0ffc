"""The load test itself: accounts first, then users ramped up, the mix for the duration.

settings = LoadSettings(url="ws://127.0.0.1:5000/hub", users=50, duration_s=30)
report = await run(settings)          # also printed as a table; JSON with --report
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from tqdm import tqdm

from hub.loadtest.stats import Stats
from hub.loadtest.users import OPS, Account, User, make_account

DEFAULT_MIX = {"ping": 5, "exec": 2, "file": 2, "feed": 1, "cell": 1}


def parse_mix(text: str) -> dict[str, int]:
    """`ping=5,exec=2` → {"ping": 5, "exec": 2}; unknown operations are an error."""
    mix: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, weight = part.partition("=")
        if name not in OPS:
            raise ValueError(f"unknown operation {name!r} in --mix (known: {', '.join(OPS)})")
        mix[name] = int(weight or 1)
        if mix[name] < 0:
            raise ValueError("--mix weights must not be negative")
    if not any(mix.values()):
        raise ValueError("--mix needs at least one operation with a positive weight")
    return mix


def http_base(ws_url: str) -> str:
    parts = urlsplit(ws_url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, "", "", ""))


@dataclass(slots=True)
class LoadSettings:
    url: str
    users: int = 10
    ramp_up_s: float = 5.0
    duration_s: float = 30.0
    think_s: float = 1.0
    mix: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_MIX))
    auth: tuple[str, ...] = ("password", "cookie", "key")
    password: str = "loadtest-password-1"
    signup_concurrency: int = 20
    seed: int = 1
    progress: bool = True


async def run(settings: LoadSettings) -> dict[str, Any]:
    stats = Stats()
    run_id = uuid.uuid4().hex[:8]
    accounts = await _sign_up(settings, run_id, stats)
    names = [n for n, w in settings.mix.items() if w > 0]
    weights = [settings.mix[n] for n in names]
    started = time.monotonic()
    deadline = started + settings.ramp_up_s + settings.duration_s
    active = [0]

    async def one_user(index: int, account: Account) -> None:
        await asyncio.sleep(settings.ramp_up_s * index / max(1, settings.users))
        rng = random.Random(settings.seed * 100_003 + index)
        auth = settings.auth[index % len(settings.auth)]
        user = User(account, stats, settings.think_s, f"loadtest-{index}.sagews")
        try:
            async with user.session(settings.url, http_base(settings.url), auth):
                active[0] += 1
                try:
                    while time.monotonic() < deadline:
                        await user.run_op(rng.choices(names, weights)[0])
                        # think time with jitter, so users do not march in step
                        await asyncio.sleep(settings.think_s * rng.uniform(0.5, 1.5))
                finally:
                    active[0] -= 1
        except Exception as exc:
            stats.op("connect").failed(f"{auth}: {type(exc).__name__}: {exc}")

    users = [asyncio.ensure_future(one_user(i, a)) for i, a in enumerate(accounts)]
    progress = asyncio.ensure_future(_progress(settings, stats, active, started, deadline))
    try:
        await asyncio.gather(*users)
    finally:
        progress.cancel()
        await asyncio.gather(progress, return_exceptions=True)
    elapsed = time.monotonic() - started
    shown = asdict(settings)
    shown.pop("password")
    return stats.report(elapsed, shown)


async def _sign_up(settings: LoadSettings, run_id: str, stats: Stats) -> list[Account]:
    gate = asyncio.Semaphore(settings.signup_concurrency)

    async def one(index: int) -> Account:
        async with gate:
            began = time.perf_counter()
            account = await make_account(settings.url, run_id, index, settings.password)
            stats.op("signup").ok(time.perf_counter() - began)
            return account

    return list(await asyncio.gather(*(one(i) for i in range(settings.users))))


async def _progress(
    settings: LoadSettings, stats: Stats, active: list[int], started: float, deadline: float
) -> None:
    total = round(deadline - started)
    with tqdm(
        total=total, unit="s", disable=not settings.progress, leave=False, dynamic_ncols=True
    ) as bar:
        while True:
            await asyncio.sleep(0.5)
            now = time.monotonic()
            bar.n = min(total, round(now - started))
            ops = stats.total
            bar.set_postfix(
                users=f"{active[0]}/{settings.users}",
                ops=ops,
                rate=f"{ops / max(now - started, 1e-9):.0f}/s",
                errors=stats.errors,
                refresh=False,
            )
            bar.refresh()
