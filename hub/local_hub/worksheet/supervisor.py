"""One worksheet worker process as the daemon sees it, and the cell it is running.

    worker = WorkerProcess.spawn(argv, cwd=…, env=…, tmp_dir=…, …)
    await worker.wait_ready(timeout)
    outcome = await worker.run(execution)     # cells queue on the worker's lock
    worker.interrupt()                        # SIGINT to the running cell
    await worker.stop("…")                    # SIGKILL to its process group

Two readers per worker: the protocol pipe (the worker's JSON lines, see
`hub.local_hub.worksheet_worker`) and the raw pipe (what the cell's
subprocesses write to fds 1 and 2, passed on as stdout). Outputs go to the
running `Execution`, which sends them to its hub as `sagews_output` parts.

Flow control is here, not in the worker: when an execution has `window` parts
unacknowledged, `emit` waits, so the reader stops reading, the pipe fills, and
the worker blocks in its next write. An ack names how many parts it
acknowledges (the hub counts what its client got, and acknowledges parts it
dropped itself); without a count it acknowledges every part sent so far. An
interrupt lifts the window for the rest of the cell (so its traceback and
`done` get through), and a detached execution (its hub or client went away)
drops its output without waiting. Past `max_output_bytes` (attached or not) a
cell is held: its output is no longer read, so it blocks at its next write
until an interrupt, a quit, or its process's end releases it.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import json
import os
import shutil
import signal
import subprocess
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hub.local_hub.daemon.errors import ProjectError
from hub.local_hub.daemon.paths import ProjectPaths
from hub.local_hub.daemon.process import Child
from hub.local_hub.link import LinkError

READ_BYTES = 64 * 1024
MAX_LINE_BYTES = 1024 * 1024  # the worker writes lines of ≤ 16 Ki characters
MERGE_CHARS = 64 * 1024  # consecutive stdout (or stderr) lines read at once become one part
RAW_TAIL_CHARS = 2000
COALESCE_S = 0.002  # small writes arriving within this become one part
COALESCE_BELOW = 4096

Reply = Callable[[dict[str, Any]], Awaitable[None]]
SendBlob = Callable[[str, bytes], Awaitable[None]]
Broadcast = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(eq=False)
class Execution:
    """One `sagews_execute_code` call: where its parts go and how far ahead it may be."""

    reply: Reply
    send_blob: SendBlob
    window: int
    max_output_bytes: int
    unacked: int = 0
    sent_bytes: int = 0
    cut: bool = False
    unlimited: bool = False
    detached: bool = False
    resumed: asyncio.Event = field(default_factory=asyncio.Event)
    finished: asyncio.Future[dict[str, Any]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    """Set when the cell ends: the last part's output (`done`, maybe a traceback)."""

    def ack(self, count: int | None = None) -> None:
        self.unacked = 0 if count is None else max(0, self.unacked - count)
        self.resumed.set()

    def release(self) -> None:
        """No more waiting for acks: the cell was interrupted and should end quickly."""
        self.unlimited = True
        self.resumed.set()

    def detach(self) -> None:
        self.detached = True
        self.resumed.set()

    def finish(self, outcome: dict[str, Any]) -> None:
        if not self.finished.done():
            self.finished.set_result(outcome)

    async def emit(self, output: dict[str, Any], blob: tuple[str, bytes] | None = None) -> None:
        size = sum(len(v) for v in output.values() if isinstance(v, str))
        size += len(blob[1]) if blob is not None else 0
        if not self.cut and self.sent_bytes + size > self.max_output_bytes:
            self.cut = True
            if not self.detached:
                notice = (
                    f"\n[output of this cell stopped at {self.max_output_bytes} bytes: the cell"
                    " waits at its next output until it is interrupted]\n"
                )
                await self._send({"stderr": notice}, None)
        if self.cut:
            # held, not drained: the reader stops, the pipe fills, the cell blocks in its
            # next write, so a cell printing forever costs neither memory nor CPU
            while not self.unlimited:
                self.resumed.clear()
                await self.resumed.wait()
            return
        # a detached cell's output is read and dropped, up to the cap
        self.sent_bytes += size
        while not (self.unlimited or self.detached) and self.unacked >= self.window:
            self.resumed.clear()
            await self.resumed.wait()
        if not self.detached:
            self.unacked += 1
            await self._send(output, blob)

    async def _send(self, output: dict[str, Any], blob: tuple[str, bytes] | None) -> None:
        try:
            if blob is not None:
                await self.send_blob(*blob)
            await self.reply(output)
        except LinkError:
            self.detached = True


class WorkerProcess:
    def __init__(
        self,
        popen: subprocess.Popen[bytes],
        *,
        tmp_dir: str,
        paths: ProjectPaths,
        max_file_bytes: int,
        broadcast: Broadcast,
        on_end: Callable[[WorkerProcess], None],
    ) -> None:
        self.child = Child(popen)
        self._popen = popen
        assert popen.stdin is not None
        self._stdin = popen.stdin
        os.set_blocking(self._stdin.fileno(), False)
        self.tmp_dir = tmp_dir
        self._paths = paths
        self._max_file_bytes = max_file_bytes
        self._broadcast = broadcast
        self._on_end = on_end
        self.lock = asyncio.Lock()
        self.current: Execution | None = None
        self.alive = True
        self.end_text = ""
        self._stop_text: str | None = None
        self._raw_tail = ""
        loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[dict[str, Any]] = loop.create_future()
        self.ended = asyncio.Event()
        self._exited = asyncio.Event()
        self._exit_code = 0
        self._raw = loop.create_task(self._read_raw())
        self._proto = loop.create_task(self._read_protocol())
        self._watcher = loop.create_task(self._watch())

    @classmethod
    def spawn(
        cls,
        argv: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        tmp_dir: str,
        paths: ProjectPaths,
        max_file_bytes: int,
        broadcast: Broadcast,
        on_end: Callable[[WorkerProcess], None],
    ) -> WorkerProcess:
        popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env={**env, "SAGEWS_TMP": tmp_dir, "MPLBACKEND": "Agg"},
            start_new_session=True,
            close_fds=True,
        )
        return cls(
            popen,
            tmp_dir=tmp_dir,
            paths=paths,
            max_file_bytes=max_file_bytes,
            broadcast=broadcast,
            on_end=on_end,
        )

    @property
    def pid(self) -> int:
        return self.child.pid

    async def wait_ready(self, timeout: float) -> None:
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(self.ready)
        except TimeoutError:
            await self.stop("did not start in time")
            raise ProjectError(
                f"the worksheet worker did not start within {timeout:g} seconds"
            ) from None

    # ------------------------------------------------------------------------ cells

    async def run(self, ex: Execution, code: str, preparse: bool) -> dict[str, Any]:
        """Run one cell when its turn comes; the output of its last part.

        Raises ProjectError when the worker ended before the cell started.
        """
        async with self.lock:
            if not self.alive:
                raise ProjectError(
                    f"the worksheet's worker ended before this cell ran: {self.end_text}"
                )
            if ex.detached:
                return {"done": True}
            self.current = ex
            try:
                line = json.dumps({"code": code, "preparse": preparse}).encode() + b"\n"
                # a worker that is gone: its protocol reader ends the cell
                with contextlib.suppress(OSError):
                    await self._write(line)
                return await ex.finished
            finally:
                self.current = None

    async def _write(self, data: bytes) -> None:
        fd = self._stdin.fileno()
        view = memoryview(data)
        loop = asyncio.get_running_loop()
        while view:
            try:
                n = os.write(fd, view)
                view = view[n:]
            except BlockingIOError:
                waiter: asyncio.Future[None] = loop.create_future()
                loop.add_writer(fd, _wake, waiter)
                try:
                    await waiter
                finally:
                    loop.remove_writer(fd)

    def interrupt(self) -> bool:
        """SIGINT to the worker's group, if a cell runs; False when there was none."""
        ex = self.current
        if ex is None or not self.alive:
            return False
        ex.release()
        self.child.kill_group(signal.SIGINT)
        return True

    async def stop(self, why: str) -> None:
        if self.alive and self._stop_text is None:
            self._stop_text = why
        if self.current is not None:
            self.current.release()  # a reader waiting for acks must see the end of the pipe
        self.child.kill_group(signal.SIGKILL)
        await self.ended.wait()

    # ------------------------------------------------------------------------ readers

    def _available(self, stream: str) -> bytes:
        """What the pipe holds now, without waiting (b"" when empty or closed)."""
        pipe = self._popen.stdout if stream == "stdout" else self._popen.stderr
        if pipe is None:
            return b""
        try:
            return os.read(pipe.fileno(), READ_BYTES)
        except (BlockingIOError, OSError, ValueError):
            return b""

    async def _more(self, timeout: float) -> bytes:
        """What the protocol pipe holds within `timeout` (b"" if nothing comes)."""
        data = self._available("stdout")
        if data or self._popen.stdout is None:
            return data
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        fd = self._popen.stdout.fileno()
        loop.add_reader(fd, _wake, waiter)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter, timeout)
        finally:
            loop.remove_reader(fd)
        return self._available("stdout")

    async def _read_protocol(self) -> None:
        buf = bytearray()
        try:
            while chunk := await self.child.read("stdout", READ_BYTES):
                buf += chunk
                if len(chunk) < COALESCE_BELOW and _unfinished_text(buf):
                    # a print is two writes (text, newline): wait a moment for the newline
                    buf += await self._more(COALESCE_S)
                if b"\n" not in chunk:
                    if len(buf) > MAX_LINE_BYTES:
                        self._stop_text = "it wrote an invalid message"
                        self.child.kill_group(signal.SIGKILL)
                        break
                    continue
                *lines, rest = buf.split(b"\n")
                buf = bytearray(rest)
                await self._handle(lines)
        except Exception as exc:
            self._stop_text = self._stop_text or f"internal error: {type(exc).__name__}"
            self.child.kill_group(signal.SIGKILL)
        finally:
            await self._end()

    async def _handle(self, lines: list[bytearray]) -> None:
        batch: list[dict[str, Any]] = []
        for line in lines:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if not isinstance(msg, dict):
                continue
            for key in ("stdout", "stderr"):
                text = msg.get(key)
                if isinstance(text, str) and len(msg) == 1:
                    last = batch[-1] if batch else None
                    if last is not None and list(last) == [key] and len(last[key]) < MERGE_CHARS:
                        last[key] += text
                    else:
                        batch.append({key: text})
                    break
            else:
                await self._flush(batch)
                batch = []
                await self._special(msg)
        await self._flush(batch)

    async def _flush(self, batch: list[dict[str, Any]]) -> None:
        ex = self.current
        for output in batch:
            if ex is not None:
                await ex.emit(output)

    async def _special(self, msg: dict[str, Any]) -> None:
        ex = self.current
        if msg.get("ready") is True:
            if not self.ready.done():
                self.ready.set_result(msg)
        elif msg.get("done") is True:
            if ex is not None:
                last: dict[str, Any] = {"done": True}
                if isinstance(msg.get("stderr"), str):
                    last["stderr"] = msg["stderr"]
                ex.finish(last)
        elif isinstance(msg.get("execute_javascript"), dict):
            js = msg["execute_javascript"]
            if isinstance(js.get("code"), str):
                out = {"event": "execute_javascript", "code": js["code"]}
                if js.get("obj") is not None:
                    out["obj"] = js["obj"]
                await self._broadcast(out)
        elif isinstance(msg.get("file"), dict):
            if ex is not None:
                await self._send_file(ex, msg["file"])
        elif ex is not None:
            output = {k: v for k, v in msg.items() if k in ("html", "md", "tex", "javascript")}
            if output:
                await ex.emit(output)

    async def _send_file(self, ex: Execution, info: dict[str, Any]) -> None:
        path = info.get("path")
        if not isinstance(path, str):
            return
        real = Path(os.path.realpath(path))  # noqa: ASYNC240 — a few lstat calls
        temp = real.parent == Path(self.tmp_dir)
        try:
            if not temp:
                real = self._paths.resolve(path)
            size = real.stat().st_size
            if size > self._max_file_bytes:
                raise ProjectError(f"file '{path}' is larger than {self._max_file_bytes} bytes")
            data = await asyncio.to_thread(real.read_bytes)
        except (OSError, ProjectError) as exc:
            text = exc.text if isinstance(exc, ProjectError) else f"cannot read '{path}': {exc}"
            await ex.emit({"stderr": f"{text}\n"})
            return
        finally:
            if temp:
                with contextlib.suppress(OSError):
                    os.unlink(path)
        blob_id = str(uuid.uuid4())
        name = info.get("filename") if isinstance(info.get("filename"), str) else real.name
        file = {"filename": name, "uuid": blob_id, "show": info.get("show") is not False}
        await ex.emit({"file": file}, blob=(blob_id, data))

    async def _read_raw(self) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        with contextlib.suppress(Exception):
            while chunk := await self.child.read("stderr", READ_BYTES):
                text = decoder.decode(chunk)
                self._raw_tail = (self._raw_tail + text)[-RAW_TAIL_CHARS:]
                ex = self.current
                if ex is not None and text:
                    await ex.emit({"stdout": text})

    async def _watch(self) -> None:
        """The process ended: a reader held by a cell (acks, the cap) must reach the end."""
        self._exit_code = await self.child.wait()
        self._exited.set()
        if self.current is not None:
            self.current.release()

    async def _end(self) -> None:
        self.alive = False
        self.child.kill_group(signal.SIGKILL)
        await self._exited.wait()
        code = self._exit_code
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._raw), 1.0)
        self._raw.cancel()
        await asyncio.gather(self._raw, return_exceptions=True)
        if self._stop_text is not None:
            self.end_text = f"the worksheet's worker was stopped ({self._stop_text})"
        else:
            how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
            self.end_text = (
                f"the worksheet's worker process ended unexpectedly ({how}); its variables are"
                " lost, and the next cell starts a new worker"
            )
            tail = self._raw_tail.strip()
            if tail:
                self.end_text += f"; its last output: {tail[-500:]}"
        if not self.ready.done():
            self.ready.set_exception(
                ProjectError(f"the worksheet worker did not start: {self.end_text}")
            )
            self.ready.exception()  # marked seen: nobody may be waiting for it
        if self.current is not None:
            self.current.finish({"stderr": f"{self.end_text}\n", "done": True})
        with contextlib.suppress(OSError):
            self._stdin.close()
        self.child.close()
        shutil.rmtree(self.tmp_dir, ignore_errors=True)
        self._on_end(self)
        self.ended.set()


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _unfinished_text(buf: bytearray) -> bool:
    """The last line is stdout/stderr text that does not end a line (more is coming)."""
    start = buf.rfind(b"\n", 0, len(buf) - 1) + 1
    line = buf[start:].rstrip(b"\n")
    return line.startswith((b'{"stdout": ', b'{"stderr": ')) and not line.endswith(b'\\n"}')
