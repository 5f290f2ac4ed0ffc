"""First-output latency of a worksheet cell, through the hub and straight to the local hub.

``python -m bench.worksheet_latency [--cells 300] [--runs 3]`` (about 20 s).

One hub (``hub serve`` with an embedded PostgreSQL, as in ``bench.project_relay``,
output rate limits off) gets an account and a project. The worksheet's worker
is started and warmed up first; then each cell is ``print(i)``, and one sample
is the time from sending ``sagews_execute_code`` to the first ``sagews_output``
part (the printed text), then the stream is read to its ``done`` before the next
cell (one cell in flight, as a person runs cells).

- **relay**: a WebSocket to the hub (``hub.client.HubClient``, cookie sign-in);
- **direct**: a link to the daemon (``hub.local_hub.link.Link``), as the hub
  itself talks to it.

Also measured once: **cold**, the first output of the first cell of a worksheet
whose worker is not running (worker start-up included), through the hub.
Prints p50, p99 and mean in milliseconds per mode and run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import msgspec
import uvloop

from bench.common import HOST, percentile, run_alternating
from bench.project_relay import Target, hub_with_project
from hub.client import HubClient
from hub.local_hub.framing import JsonFrame
from hub.local_hub.link import Link

TIMEOUT_S = 30.0
WARMUP = 20
PATH = "bench.sagews"


async def relay_cell(c: HubClient, pid: str, path: str, code: str) -> float:
    t0 = time.perf_counter()
    first = 0.0
    async for part in c.stream(
        "sagews_execute_code", wait_s=TIMEOUT_S, project_id=pid, path=path, code=code
    ):
        if not first:
            first = time.perf_counter() - t0
        if part.get("event") == "error":
            raise RuntimeError(part)
    return first


async def relay_run(t: Target, cells: int) -> list[float]:
    name, _, value = t.cookie.partition("=")
    url = f"ws://{HOST}:{t.hub_port}/hub"
    async with HubClient.connect(url, cookie=value, cookie_name=name, timeout=TIMEOUT_S) as c:
        await c.call("sagews_start", project_id=t.project_id, path=PATH)
        times = []
        for i in range(WARMUP + cells):
            took = await relay_cell(c, t.project_id, PATH, f"print({i})")
            if i >= WARMUP:
                times.append(took)
        return times


async def cold_run(t: Target) -> float:
    name, _, value = t.cookie.partition("=")
    url = f"ws://{HOST}:{t.hub_port}/hub"
    async with HubClient.connect(url, cookie=value, cookie_name=name, timeout=TIMEOUT_S) as c:
        path = f"cold-{uuid.uuid4().hex[:8]}.sagews"
        took = await relay_cell(c, t.project_id, path, "print(1)")
        await c.call("sagews_quit", project_id=t.project_id, path=path)
        return took


async def direct_run(t: Target, cells: int) -> list[float]:
    link = await Link.connect(HOST, t.daemon_port, t.daemon_token, timeout=TIMEOUT_S)
    try:
        times = []
        for i in range(WARMUP + cells):
            call_id = str(uuid.uuid4())
            t0 = time.perf_counter()
            await link.send(
                {"event": "sagews_execute_code", "id": call_id, "path": PATH, "code": f"print({i})"}
            )
            first = 0.0
            async with asyncio.timeout(TIMEOUT_S):
                while True:
                    frame = await link.receive()
                    if not isinstance(frame, JsonFrame):
                        continue
                    msg: dict[str, Any] = msgspec.json.decode(frame.payload)
                    if msg.get("id") != call_id:
                        continue
                    if not first:
                        first = time.perf_counter() - t0
                    if not msg.get("multi_response"):
                        break
            if i >= WARMUP:
                times.append(first)
        return times
    finally:
        link.close()


def summary(mode: str, times: list[float]) -> str:
    ordered = sorted(times)
    ms = 1e3
    return (
        f"{mode:6s} first output p50 {percentile(ordered, 0.5) * ms:6.2f} ms  p99 "
        f"{percentile(ordered, 0.99) * ms:6.2f} ms  mean {statistics.fmean(times) * ms:6.2f} ms"
        f"  ({len(times)} cells)"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cells", type=int, default=300, help="timed cells per run")
    p.add_argument("--runs", type=int, default=3, help="runs of each mode")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ws-") as tmp, hub_with_project(Path(tmp)) as t:
        results = run_alternating(
            args.runs,
            {
                "direct": lambda: uvloop.run(direct_run(t, args.cells)),
                "relay": lambda: uvloop.run(relay_run(t, args.cells)),
            },
            summary,
        )
        colds = [uvloop.run(cold_run(t)) for _ in range(3)]
        print("all:")
        for mode, times in results.items():
            print(f"      {summary(mode, times)}")
        print(
            "      cold   first output (worker start-up included): "
            + ", ".join(f"{c * 1e3:.0f} ms" for c in colds)
        )


if __name__ == "__main__":
    main()
