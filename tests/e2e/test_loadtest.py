"""`hub loadtest` against a real hub: every way in, every operation, a clean report."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

from hub.loadtest.run import LoadSettings, parse_mix, run
from hub.loadtest.stats import percentile, table


async def test_a_short_run_uses_every_way_in_and_reports_each_event(hub, ws_url) -> None:
    settings = LoadSettings(
        url=ws_url,
        users=3,
        ramp_up_s=0.3,
        duration_s=2.0,
        think_s=0.02,
        mix={"ping": 3, "exec": 1, "file": 1, "feed": 1, "cell": 1},
        auth=("password", "cookie", "key"),
        progress=False,
    )
    report = await run(settings)
    events = report["events"]
    assert report["errors"] == 0, table(report)
    assert events["signup"]["count"] == 3
    assert events["connect"]["count"] == 3  # one per user, each its own way in
    for name in ("ping", "exec", "write_file", "read_file", "feed", "cell"):
        assert events[name]["count"] > 0, name
        assert 0 < events[name]["p50_ms"] <= events[name]["p99_ms"]
    assert "password" not in report["settings"]
    assert table(report).splitlines()[0].split()[:3] == ["EVENT", "COUNT", "ERRORS"]


async def test_the_command_line(hub, ws_url, tmp_path) -> None:
    out = tmp_path / "report.json"
    argv = [sys.executable, "-m", "hub", "loadtest", "--url", ws_url, "--users", "2"]
    argv += ["--ramp-up-s", "0", "--duration-s", "1", "--think-s", "0.05", "--mix", "ping=1"]
    argv += ["--auth", "password", "--no-progress", "--report", str(out)]
    done = await asyncio.to_thread(subprocess.run, argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "ping" in done.stdout and "0 errors" in done.stdout
    report = json.loads(out.read_text())
    assert report["events"]["ping"]["count"] > 0 and report["errors"] == 0

    bad = [sys.executable, "-m", "hub", "loadtest", "--url", ws_url, "--mix", "dance=1"]
    refused = await asyncio.to_thread(subprocess.run, bad, capture_output=True, text=True)
    assert refused.returncode == 2 and "unknown operation 'dance'" in refused.stderr


def test_mix_and_percentiles() -> None:
    assert parse_mix("ping=5, exec=2,cell") == {"ping": 5, "exec": 2, "cell": 1}
    assert percentile([], 99) == 0.0
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 99), percentile(values, 100)) == (
        50.0,
        99.0,
        100.0,
    )
