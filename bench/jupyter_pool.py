"""Latency of jupyter_execute: a pooled kernel against a cold start.

``python -m bench.jupyter_pool [--rounds N]`` (about 30 s with the default 10 rounds).

One hub (``hub serve``, embedded PostgreSQL, result cache off so every request
runs a kernel) gets an account and two projects. Project *cold* never has a
pool: each ``jupyter_execute`` starts a kernel. Project *pooled* gets
``jupyter_start_pool {kernels: 1}`` before each request, which returns once a
kernel is ready, so the request takes a ready kernel (the reply says
``pooled: true``) and the replacement starts only after the measurement.

The time is from sending ``jupyter_execute {input: "1+1"}`` over the WebSocket
to its reply (the reply carries the first and only output). Rounds alternate
cold and pooled. Printed: median, p90 and min per kind.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from bench.common import HOST, VENV_BIN, free_port, percentile, run_server
from bench.hubsetup import TIMEOUT, setup_account
from bench.project_relay import _kill_marked


async def call(ws: ClientConnection, event: str, **fields: Any) -> dict[str, Any]:
    rid = str(uuid.uuid4())
    await ws.send(json.dumps({"event": event, "id": rid, **fields}))
    async with asyncio.timeout(TIMEOUT * 2):
        while True:
            raw = await ws.recv()
            if isinstance(raw, str):
                msg: dict[str, Any] = json.loads(raw)
                if msg.get("id") == rid:
                    if msg.get("event") == "error":
                        raise RuntimeError(f"{event}: {msg['error']}")
                    return msg


async def measure(ws_url: str, rounds: int) -> dict[str, list[float]]:
    creds = await setup_account(ws_url)
    headers = {"Cookie": creds.cookie_header}
    times: dict[str, list[float]] = {"cold": [], "pooled": []}
    async with ws_connect(
        ws_url, compression=None, open_timeout=TIMEOUT, additional_headers=headers
    ) as ws:
        projects = {}
        for kind in ("cold", "pooled"):
            created = await call(ws, "create_project", title=kind)
            projects[kind] = created["project_id"]
            await call(ws, "jupyter_kernels", project_id=projects[kind])  # starts the project
        await call(ws, "jupyter_execute", project_id=projects["cold"], kernel="python3", input="0")
        for i in range(rounds):
            order = ("cold", "pooled") if i % 2 == 0 else ("pooled", "cold")
            for kind in order:
                pid = projects[kind]
                if kind == "pooled":
                    await call(ws, "jupyter_start_pool", project_id=pid, kernels=1)
                started = time.perf_counter()
                reply = await call(
                    ws, "jupyter_execute", project_id=pid, kernel="python3", input=f"1+1 # {i}"
                )
                times[kind].append(time.perf_counter() - started)
                if reply.get("pooled") is not (kind == "pooled"):
                    raise RuntimeError(f"{kind} run {i}: pooled={reply.get('pooled')}")
    return times


def report(times: dict[str, list[float]]) -> None:
    for kind, values in times.items():
        if not values:
            continue
        s = sorted(values)
        print(
            f"{kind:>18}: median {statistics.median(s) * 1000:7.1f} ms"
            f"  p90 {percentile(s, 0.9) * 1000:7.1f} ms  min {s[0] * 1000:7.1f} ms  (n={len(s)})"
        )
    cold, pooled = statistics.median(times["cold"]), statistics.median(times["pooled"])
    print(f"pooled saves {(cold - pooled) * 1000:.0f} ms per request ({cold / pooled:.1f}x faster)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-jupyter-") as tmp:
        workdir = Path(tmp)
        data = workdir / "data"
        port = free_port()
        argv_ = [str(VENV_BIN / "hub"), "serve", "--host", HOST, "--port", str(port)]
        argv_ += ["--data-dir", str(data), "--jupyter-cache-s", "0"]
        try:
            with run_server("hub", argv_, port, workdir / "hub.log", ready_timeout=180) as hub:
                times = asyncio.run(measure(hub.ws_url, args.rounds))
        finally:
            _kill_marked(str(data))  # project daemons outlive the hub by design
    report(times)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
