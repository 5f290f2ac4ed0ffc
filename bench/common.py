"""Helpers shared by the benchmark scripts: ports, server subprocesses, RSS, stats.

Every server started here is a child process that is stopped in a ``finally``
block (SIGTERM, then SIGKILL after a deadline), so an interrupted run leaves
nothing behind. Everything binds and connects to 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import os
import platform
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parent.parent
VENV_BIN = REPO / ".venv" / "bin"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def raise_nofile_limit() -> int:
    """Raise the soft open-files limit to the hard limit; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return soft


def rss_kib(pid: int) -> int:
    """Resident set size of ``pid`` in KiB, from /proc/<pid>/status (VmRSS)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by ``pid`` (from /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def machine_busy_seconds() -> float:
    """CPU seconds spent busy (not idle, not waiting for I/O) by all CPUs since boot."""
    with open("/proc/stat", encoding="ascii") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    # guest time is already counted in user time
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def wait_quiet(max_wait: float, threshold: float = 0.25, sample: float = 0.5) -> float:
    """Wait until the machine's busy CPU (in cores) over ``sample`` s is below ``threshold``.

    Gives up after ``max_wait`` seconds; returns the last load seen. Between
    runs nothing of ours is busy, so this is what everything else is using.
    """
    deadline = time.monotonic() + max_wait
    while True:
        b0 = machine_busy_seconds()
        time.sleep(sample)
        load = (machine_busy_seconds() - b0) / sample
        if load < threshold or time.monotonic() >= deadline:
            return load


def pin_process(pid: int, cpus: set[int]) -> None:
    """Pin every thread of ``pid`` to ``cpus``; threads it starts later inherit it."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(int(tid), cpus)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of already sorted values, nearest rank."""
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return float(sorted_values[k])


def machine_info() -> dict[str, str]:
    """What the numbers were measured on."""
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model or platform.processor() or "unknown",
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def http_get_status(port: int, path: str, timeout: float = 1.0) -> tuple[int, bytes]:
    """One blocking GET to 127.0.0.1:port; returns (status, body)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@dataclass
class Server:
    """A running server subprocess."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.port}/hub"

    @property
    def http_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def log_tail(self, n: int = 40) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> int | None:
    """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL. Returns the exit code."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(5)
    return proc.returncode


@contextlib.contextmanager
def run_server(
    name: str,
    argv: Sequence[str],
    port: int,
    log_path: Path,
    ready_timeout: float = 60.0,
    health_path: str = "/healthz",
    cpu: int | None = None,
    env: Mapping[str, str] | None = None,
) -> Iterator[Server]:
    """Start ``argv`` and wait until ``GET health_path`` answers 200; stop it on exit.

    ``cpu``, when given, pins the server to that CPU (Linux affinity), so a
    load client pinned elsewhere cannot steal its core.
    """
    log = open(log_path, "wb")  # noqa: SIM115 - closed in finally
    preexec = None
    if cpu is not None:
        cpus = {cpu}

        def preexec() -> None:
            os.sched_setaffinity(0, cpus)

    proc = subprocess.Popen(
        list(argv),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=REPO,
        preexec_fn=preexec,
        env={**os.environ, **env} if env else None,
    )
    server = Server(name, proc, port, log_path)
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {proc.returncode} before it was ready:\n"
                    + server.log_tail()
                )
            with contextlib.suppress(OSError, http.client.HTTPException):
                status, _ = http_get_status(port, health_path)
                if status == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} not ready after {ready_timeout}s:\n{server.log_tail()}")
            time.sleep(0.1)
        yield server
    finally:
        stop_process(proc)
        log.close()


def run_alternating(
    runs: int,
    modes: dict[str, Callable[[], list[float]]],
    summary: Callable[[str, list[float]], str],
) -> dict[str, list[float]]:
    """`runs` rounds of every mode, the order flipped each round (so neither mode always
    runs on a warmer machine); prints each run's summary; returns all times by mode."""
    results: dict[str, list[float]] = {mode: [] for mode in modes}
    names = list(modes)
    for i in range(runs):
        for mode in names if i % 2 == 0 else reversed(names):
            times = modes[mode]()
            results[mode] += times
            print(f"run {i + 1} {summary(mode, times)}", flush=True)
    return results


RESULTS = REPO / "bench" / "RESULTS.md"


def append_results(text: str) -> None:
    """Append one dated section to bench/RESULTS.md (made with a title if missing)."""
    if not RESULTS.exists():
        RESULTS.write_text("# Benchmark results\n\nAppended by the scripts under `bench/`.\n\n")
    with RESULTS.open("a", encoding="utf-8") as f:
        f.write("\n" + text)
    print(f"appended to {RESULTS.relative_to(REPO)}", flush=True)


def python_cmd(module: str, *args: str) -> list[str]:
    """argv for ``python -m module args`` with the interpreter running us."""
    return [sys.executable, "-m", module, *args]


def git_state() -> str:
    """The commit the hub is at, noting uncommitted changes under hub/."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "hub"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return "unknown"
    return f"{head}{' (hub/ has uncommitted changes)' if dirty else ''}"


def results_header(title: str, quick: bool, command: str, elapsed: float) -> list[str]:
    """The first lines of a dated RESULTS.md section: when, what ran, on what machine."""
    m = machine_info()
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return [
        f"## {when} {title}{' (quick smoke run)' if quick else ''}",
        "",
        f"Command: `{command}` (took {elapsed:.0f} s). Hub at commit {git_state()}, "
        "default settings.",
        f"Machine: {m['nproc']} CPUs ({m['cpu']}), Linux {m['kernel']}, Python {m['python']}.",
        "",
    ]
