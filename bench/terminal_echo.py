"""Terminal echo round trip through the hub, against a direct link to the same local hub.

``python -m bench.terminal_echo [--rounds 2000] [--runs 3]`` (about 30 s).

One hub (``hub serve`` with an embedded PostgreSQL, as in ``bench.project_relay``,
output rate limits off) gets an account and a project. A terminal runs
``stty raw -echo; exec cat`` in the project, so every byte typed is read by a
program and written back (the path of a keystroke into a shell with readline).
One round trip: send one byte, wait until it comes back; the next byte is sent
only then (one keystroke in flight, as a person types).

- **relay**: a WebSocket to the hub (``hub.client.HubClient``, signed in by the
  remember-me cookie): ``start_session``, then binary frames on its data channel;
- **direct**: a link to the daemon (``hub.local_hub.link.Link``): ``start_session``,
  then blob frames named by the session_uuid, as the hub itself does.

Runs alternate (direct, relay, relay, direct, …). Prints p50, p99 and mean in
microseconds, and round trips per second, for each run. Everything on 127.0.0.1;
the hub and the project's daemon are stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import uvloop

from bench.common import HOST, percentile, run_alternating
from bench.project_relay import Target, hub_with_project
from hub.client import HubClient
from hub.local_hub.framing import BlobFrame, JsonFrame
from hub.local_hub.link import Link

COMMAND = ["-c", "stty raw -echo; exec cat"]
WARMUP = 200
TIMEOUT_S = 30.0
KEYS = b"abcdefghijklmnopqrstuvwxyz"


async def relay_run(t: Target, rounds: int) -> list[float]:
    name, _, value = t.cookie.partition("=")
    url = f"ws://{HOST}:{t.hub_port}/hub"
    async with HubClient.connect(url, cookie=value, cookie_name=name, timeout=TIMEOUT_S) as c:
        started = await c.call(
            "start_session", type="console", project_id=t.project_id, params={"args": COMMAND}
        )
        channel = started["data_channel"]
        await asyncio.sleep(0.3)  # stty runs before cat; its output (none) is not timed
        while not c.binary.empty():
            c.binary.get_nowait()
        times: list[float] = []
        for i in range(WARMUP + rounds):
            key = KEYS[i % len(KEYS) : i % len(KEYS) + 1]
            t0 = time.perf_counter()
            await c.send_binary(channel, key)
            while True:
                got, data = await c.next_binary(TIMEOUT_S)
                if got == channel and data.endswith(key):
                    break
            if i >= WARMUP:
                times.append(time.perf_counter() - t0)
        await c.send_binary(channel, b"\x04")
        return times


async def direct_run(t: Target, rounds: int) -> list[float]:
    link = await Link.connect(HOST, t.daemon_port, t.daemon_token, timeout=TIMEOUT_S)
    try:
        tid, call_id = str(uuid.uuid4()), str(uuid.uuid4())
        await link.send(
            {
                "event": "start_session",
                "id": call_id,
                "type": "console",
                "session_uuid": tid,
                "params": {"args": COMMAND},
            }
        )
        async with asyncio.timeout(TIMEOUT_S):
            while True:
                frame = await link.receive()
                if isinstance(frame, JsonFrame) and call_id.encode() in frame.payload:
                    break
        await asyncio.sleep(0.3)
        times: list[float] = []
        for i in range(WARMUP + rounds):
            key = KEYS[i % len(KEYS) : i % len(KEYS) + 1]
            t0 = time.perf_counter()
            await link.send_blob(tid, key)
            async with asyncio.timeout(TIMEOUT_S):
                while True:
                    frame = await link.receive()
                    if (
                        isinstance(frame, BlobFrame)
                        and frame.uuid == tid
                        and bytes(frame.data).endswith(key)
                    ):
                        break
            if i >= WARMUP:
                times.append(time.perf_counter() - t0)
        await link.send_blob(tid, b"\x04")
        return times
    finally:
        link.close()


def summary(mode: str, times: list[float]) -> str:
    ordered = sorted(times)
    us = 1e6
    return (
        f"{mode:6s} p50 {percentile(ordered, 0.5) * us:7.0f} us  p99 "
        f"{percentile(ordered, 0.99) * us:7.0f} us  mean {statistics.fmean(times) * us:7.0f} us"
        f"  {len(times) / sum(times):7.0f} round trips/s"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=2000, help="timed round trips per run")
    p.add_argument("--runs", type=int, default=3, help="runs of each mode")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-term-") as tmp, hub_with_project(Path(tmp)) as t:
        results = run_alternating(
            args.runs,
            {
                "direct": lambda: uvloop.run(direct_run(t, args.rounds)),
                "relay": lambda: uvloop.run(relay_run(t, args.rounds)),
            },
            summary,
        )
        print("all:")
        for mode, times in results.items():
            print(f"      {summary(mode, times)}")


if __name__ == "__main__":
    main()
