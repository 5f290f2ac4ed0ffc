"""One Jupyter kernel process, used for one `jupyter_execute` and then killed.

`KernelProcess.start()` launches a kernelspec through jupyter_client's
`AsyncKernelManager` (in its own process group, so killing it takes what it
spawned too) and waits until it answers. `run(code, budget)` executes one cell
and collects its iopub messages as nbformat outputs. The `Budget` holds the
request's limits (time per cell, time in total, output per cell, output in
total); exceeding one raises `LimitExceeded` naming it, and the caller kills the
kernel: a kernel that was interrupted is never reused.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import structlog
from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager

log = structlog.get_logger("hub.local_hub.daemon")

# how often a silent kernel is checked for being alive while a cell runs
_ALIVE_CHECK_S = 1.0
_OUTPUT_TYPES = frozenset({"stream", "execute_result", "display_data", "error"})


class LimitExceeded(Exception):
    """A limit of the request was reached; the text is the client's error."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class KernelDied(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Limits:
    """What one execution may use; the hub sends its settings, clients may only lower them."""

    timeout_ms: int = 45_000
    timeout_ms_per_cell: int = 30_000
    max_output: int = 5_000_000
    max_output_per_cell: int = 1_000_000


@dataclass(slots=True)
class Budget:
    limits: Limits
    started: float = field(default_factory=time.monotonic)
    output_bytes: int = 0

    def remaining_s(self) -> float:
        return self.limits.timeout_ms / 1000 - (time.monotonic() - self.started)

    def cell_timeout_s(self) -> tuple[float, str]:
        """How long the next cell may run, and the error if it runs longer."""
        per_cell = self.limits.timeout_ms_per_cell / 1000
        total = self.remaining_s()
        if total < per_cell:
            return max(0.0, total), (
                f"jupyter_execute: took longer than {_seconds(self.limits.timeout_ms)} in total"
            )
        return per_cell, (
            f"jupyter_execute: cell took longer than {_seconds(self.limits.timeout_ms_per_cell)}"
        )


def _seconds(ms: int) -> str:
    s = ms / 1000
    return f"{s:g} second" if s == 1 else f"{s:g} seconds"


def _size(content: Mapping[str, Any]) -> int:
    return len(msgspec.json.encode(content))


class KernelProcess:
    """A started kernel and its client; `kill()` is idempotent and never raises."""

    def __init__(
        self,
        name: str,
        specs: KernelSpecManager,
        runtime_dir: Path,
        env: Mapping[str, str],
    ) -> None:
        self.name = name
        self.language = ""
        self._specs = specs
        self._runtime_dir = runtime_dir
        self._env = dict(env)
        self._km: AsyncKernelManager | None = None
        self._kc: AsyncKernelClient | None = None
        self.started_at = 0.0
        self.ready_at = 0.0

    async def start(self, cwd: str, timeout_s: float) -> None:
        self.started_at = time.monotonic()
        spec = self._specs.get_kernel_spec(self.name)
        self.language = str(spec.language or "")
        self._runtime_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        km = AsyncKernelManager(
            kernel_name=self.name,
            kernel_spec_manager=self._specs,
            # the connection file holds the kernel's HMAC key: keep it in the private dir
            connection_file=str(self._runtime_dir / f"kernel-{uuid.uuid4()}.json"),
        )
        self._km = km
        try:
            await km.start_kernel(cwd=cwd, env=self._env)
            kc = km.client()
            self._kc = kc
            kc.start_channels()
            await kc.wait_for_ready(timeout=timeout_s)
        except BaseException:
            await self.kill()
            raise
        self.ready_at = time.monotonic()

    @property
    def pid(self) -> int | None:
        provisioner = self._km.provisioner if self._km is not None else None
        process = getattr(provisioner, "process", None)
        pid = getattr(process, "pid", None)
        return pid if isinstance(pid, int) else None

    async def is_alive(self) -> bool:
        return self._km is not None and bool(await self._km.is_alive())

    async def chdir(self, directory: str, timeout_s: float) -> None:
        """Move a pooled Python kernel to the request's directory (it started in HOME)."""
        code = f"import os as __hub_os; __hub_os.chdir({directory!r}); del __hub_os"
        outputs = await self.run(
            code, Budget(Limits(timeout_ms=int(timeout_s * 1000))), silent=True
        )
        errors = [o for o in outputs if o.get("output_type") == "error"]
        if errors:
            raise KernelDied(f"could not change to directory: {errors[0].get('evalue')}")

    async def run(self, code: str, budget: Budget, *, silent: bool = False) -> list[dict[str, Any]]:
        """Execute one cell; its outputs in nbformat shape (streams merged)."""
        kc = self._kc
        if kc is None:
            raise KernelDied("the kernel is not running")
        timeout_s, timeout_text = budget.cell_timeout_s()
        if timeout_s <= 0:
            raise LimitExceeded(timeout_text)
        msg_id = kc.execute(code, silent=silent, store_history=not silent, allow_stdin=False)
        outputs: list[dict[str, Any]] = []
        cell_bytes = 0
        clear_pending = False
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    try:
                        msg = await kc.get_iopub_msg(timeout=_ALIVE_CHECK_S)
                    except queue.Empty:  # nothing for a while: is the kernel still there?
                        if not await self.is_alive():
                            raise KernelDied("jupyter_execute: the kernel died") from None
                        continue
                    if msg.get("parent_header", {}).get("msg_id") != msg_id:
                        continue
                    kind = msg["msg_type"]
                    content = msg["content"]
                    if kind == "status" and content.get("execution_state") == "idle":
                        return outputs
                    if kind == "clear_output":
                        if content.get("wait"):
                            clear_pending = True
                        else:
                            outputs.clear()
                        continue
                    if kind not in _OUTPUT_TYPES:
                        continue
                    if clear_pending:
                        outputs.clear()
                        clear_pending = False
                    output = _nbformat(kind, content)
                    size = _size(output)
                    cell_bytes += size
                    budget.output_bytes += size
                    if budget.output_bytes > budget.limits.max_output:
                        raise LimitExceeded(
                            f"jupyter_execute: output exceeded {budget.limits.max_output} bytes"
                        )
                    if cell_bytes > budget.limits.max_output_per_cell:
                        raise LimitExceeded(
                            "jupyter_execute: a cell's output exceeded"
                            f" {budget.limits.max_output_per_cell} bytes"
                        )
                    _append(outputs, output)
        except TimeoutError:
            raise LimitExceeded(timeout_text) from None

    async def kill(self) -> None:
        """Kill the kernel's process group and drop its client; safe to call twice."""
        kc, self._kc = self._kc, None
        km, self._km = self._km, None
        if kc is not None:
            with contextlib.suppress(Exception):
                kc.stop_channels()
        if km is not None:
            try:
                await km.shutdown_kernel(now=True)
            except Exception:
                log.warning("kernel shutdown failed", kernel=self.name, exc_info=True)
            with contextlib.suppress(OSError):
                os.unlink(km.connection_file)


def _nbformat(kind: str, content: Mapping[str, Any]) -> dict[str, Any]:
    if kind == "stream":
        return {"output_type": "stream", "name": content.get("name"), "text": content.get("text")}
    if kind == "error":
        return {
            "output_type": "error",
            "ename": content.get("ename"),
            "evalue": content.get("evalue"),
            "traceback": content.get("traceback", []),
        }
    out: dict[str, Any] = {
        "output_type": kind,
        "data": content.get("data", {}),
        "metadata": content.get("metadata", {}),
    }
    if kind == "execute_result":
        out["execution_count"] = content.get("execution_count")
    return out


def _append(outputs: list[dict[str, Any]], output: dict[str, Any]) -> None:
    """Consecutive text on the same stream becomes one output, as nbformat stores it."""
    if output["output_type"] == "stream" and outputs:
        last = outputs[-1]
        if last["output_type"] == "stream" and last.get("name") == output.get("name"):
            last["text"] = str(last.get("text", "")) + str(output.get("text", ""))
            return
    outputs.append(output)
