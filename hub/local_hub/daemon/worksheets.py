"""Worksheets (`sagews_*`): one worker process per worksheet path.

The worker (`hub.local_hub.worksheet_worker`) runs with the project's command
environment, in the worksheet's directory, in its own session. It is SageMath
(`sage -python … --sage`) when `sage` is on the project's PATH, plain Python
otherwise. Cells of one worksheet queue on its worker (in the order they
arrived); different worksheets run in parallel, up to `max_worksheets` workers.

Requests (from hubs):
- `sagews_start {path}` → `success` once the worker is ready.
- `sagews_execute_code {path, code, preparse, window}` → `sagews_output` parts,
  then the last `sagews_output` with `output.done`.
- `sagews_output_ack {call_id, count?}` (no reply): `count` parts of that call
  are acknowledged (without `count`: every part sent so far); `call_id` is the id
  of the execute request on this link.
- `sagews_forget {call_id}` (no reply): the hub gave up on the call; its output
  is dropped and never waits for acks.
- `sagews_interrupt {path}` and `sagews_quit {path}` → `success`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.local_hub.daemon import messages as m
from hub.local_hub.daemon.config import DaemonConfig
from hub.local_hub.daemon.errors import ProjectError
from hub.local_hub.daemon.paths import ProjectPaths
from hub.local_hub.worksheet import supervisor
from hub.local_hub.worksheet.supervisor import Execution, WorkerProcess

if TYPE_CHECKING:
    from hub.local_hub.daemon.connection import HubConnection
    from hub.local_hub.daemon.handlers import Handler

DEFAULT_WINDOW = 32
MAX_WINDOW = 10_000

Broadcast = Callable[[dict[str, Any]], Awaitable[None]]


class SagewsStart(m.Request, tag="sagews_start"):
    path: str


class SagewsExecuteCode(m.Request, tag="sagews_execute_code"):
    path: str
    code: str
    cell_id: str | None = None
    preparse: bool | None = None
    window: int | None = None


class SagewsOutputAck(m.Request, tag="sagews_output_ack"):
    call_id: str
    count: int | None = None


class SagewsForget(m.Request, tag="sagews_forget"):
    call_id: str


class SagewsInterrupt(m.Request, tag="sagews_interrupt"):
    path: str


class SagewsQuit(m.Request, tag="sagews_quit"):
    path: str


def worker_argv(env: dict[str, str] | Any) -> list[str]:
    sage = shutil.which("sage", path=env.get("PATH"))
    if sage:
        return [sage, "-python", "-P", os.path.abspath(_worker_file()), "--sage"]
    return [sys.executable, "-P", "-m", "hub.local_hub.worksheet_worker"]


def _worker_file() -> str:
    return str(Path(supervisor.__file__).parent.parent / "worksheet_worker.py")


class Worksheets:
    def __init__(
        self, config: DaemonConfig, paths: ProjectPaths, broadcast: Broadcast | None = None
    ) -> None:
        self.config = config
        self.paths = paths
        self._broadcast = broadcast
        self._workers: dict[Path, WorkerProcess] = {}
        self._executions: dict[tuple[HubConnection, str], Execution] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------------ workers

    def _where(self, path: str) -> Path:
        if not path:
            raise ProjectError("path is required")
        real = self.paths.resolve(path)
        if real == self.paths.home:
            raise ProjectError(f"path '{path}' is a directory, not a worksheet")
        if not real.parent.is_dir():
            raise ProjectError(f"directory of '{path}' does not exist")
        return real

    async def worker(self, path: str) -> WorkerProcess:
        """The running worker of the worksheet at `path`, started if needed."""
        real = self._where(path)
        worker = self._workers.get(real)
        if worker is None or not worker.alive:
            if len(self._workers) >= self.config.max_worksheets:
                raise ProjectError(
                    f"too many worksheets running in this project (at most"
                    f" {self.config.max_worksheets}); quit one first"
                )
            worker = self._spawn(real)
        await worker.wait_ready(self.config.worksheet_start_timeout_s)
        return worker

    def _spawn(self, real: Path) -> WorkerProcess:
        tmp = tempfile.mkdtemp(prefix="sagews-")
        env = dict(self.config.env)
        try:
            worker = WorkerProcess.spawn(
                worker_argv(env),
                cwd=real.parent,
                env=env,
                tmp_dir=tmp,
                paths=self.paths,
                max_file_bytes=self.config.max_file_bytes,
                broadcast=self._send_javascript,
                on_end=lambda w: self._ended(real, w),
            )
        except (OSError, ValueError) as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise ProjectError(f"cannot start the worksheet worker: {exc}") from None
        self._workers[real] = worker
        return worker

    def _ended(self, real: Path, worker: WorkerProcess) -> None:
        if self._workers.get(real) is worker:
            del self._workers[real]

    async def _send_javascript(self, message: dict[str, Any]) -> None:
        if self._broadcast is not None:
            await self._broadcast(message)

    # ------------------------------------------------------------------------ requests

    async def start(self, msg: SagewsStart) -> dict[str, Any]:
        await self.worker(msg.path)
        return {"event": "success"}

    async def execute(self, msg: SagewsExecuteCode, conn: HubConnection) -> dict[str, Any]:
        worker = await self.worker(msg.path)
        call_id = str(msg.id)
        window = msg.window if msg.window is not None else DEFAULT_WINDOW
        path = msg.path

        async def reply(output: dict[str, Any]) -> None:
            part = {"event": "sagews_output", "path": path, "output": output}
            await conn.reply(msg.id, {**part, "multi_response": True})

        ex = Execution(
            reply=reply,
            send_blob=conn.send_blob,
            window=min(max(1, window), MAX_WINDOW),
            max_output_bytes=self.config.worksheet_max_output_bytes,
        )
        key = (conn, call_id)
        self._executions[key] = ex
        # the cell belongs to the worker: a cancelled request must not free the worker
        # while its cell still runs (the next cell would get this one's `done`)
        run = asyncio.ensure_future(worker.run(ex, msg.code, msg.preparse is not False))
        self._tasks.add(run)
        run.add_done_callback(self._tasks.discard)
        try:
            outcome = await asyncio.shield(run)
        except asyncio.CancelledError:
            ex.detach()
            raise
        finally:
            if self._executions.get(key) is ex:
                del self._executions[key]
        return {"event": "sagews_output", "path": path, "output": outcome}

    def ack(self, conn: HubConnection, call_id: str, count: int | None) -> None:
        ex = self._executions.get((conn, call_id))
        if ex is not None:
            ex.ack(count)

    def forget(self, conn: HubConnection, call_id: str) -> None:
        ex = self._executions.get((conn, call_id))
        if ex is not None:
            ex.detach()

    async def interrupt(self, msg: SagewsInterrupt) -> dict[str, Any]:
        worker = self._workers.get(self._where(msg.path))
        if worker is not None:
            worker.interrupt()
        return {"event": "success"}

    async def quit(self, msg: SagewsQuit) -> dict[str, Any]:
        worker = self._workers.get(self._where(msg.path))
        if worker is not None:
            await worker.stop("sagews_quit")
        return {"event": "success"}

    def forget_link(self, conn: HubConnection) -> None:
        """A hub's link ended: stop sending it output."""
        for (c, _), ex in list(self._executions.items()):
            if c is conn:
                ex.detach()

    async def close(self) -> None:
        """The daemon stops: end every worker."""
        await asyncio.gather(
            *(w.stop("the project stopped") for w in list(self._workers.values())),
            return_exceptions=True,
        )
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def sagews_start(msg: SagewsStart, conn: HubConnection) -> dict[str, Any]:
    return await conn.project.worksheets.start(msg)


async def sagews_execute_code(msg: SagewsExecuteCode, conn: HubConnection) -> dict[str, Any]:
    if not isinstance(msg.id, str):
        raise ProjectError("sagews_execute_code needs a string id")
    return await conn.project.worksheets.execute(msg, conn)


async def sagews_output_ack(msg: SagewsOutputAck, conn: HubConnection) -> None:
    conn.project.worksheets.ack(conn, msg.call_id, msg.count)


async def sagews_forget(msg: SagewsForget, conn: HubConnection) -> None:
    conn.project.worksheets.forget(conn, msg.call_id)


async def sagews_interrupt(msg: SagewsInterrupt, conn: HubConnection) -> dict[str, Any]:
    return await conn.project.worksheets.interrupt(msg)


async def sagews_quit(msg: SagewsQuit, conn: HubConnection) -> dict[str, Any]:
    return await conn.project.worksheets.quit(msg)


HANDLERS: dict[type[m.Request], Handler] = {
    SagewsStart: sagews_start,
    SagewsExecuteCode: sagews_execute_code,
    SagewsOutputAck: sagews_output_ack,
    SagewsForget: sagews_forget,
    SagewsInterrupt: sagews_interrupt,
    SagewsQuit: sagews_quit,
}
