"""`project_exec`, as CoCalc's `execute-code` does it.

Each command runs in its own session and process group (`process.Child`),
stdin from /dev/null, HOME = the project. At `timeout` the whole group gets
SIGKILL (so a process that ignores SIGTERM, and its children, die too); a call
cancelled because its hub went away kills the group the same way. Output is read
in ≤ 64 KiB pieces: kept (bounded by `max_output` and by the daemon-wide
`OutputBudget`) for the one reply, or sent on as it arrives when streaming.
"""

from __future__ import annotations

import asyncio
import codecs
import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from hub.local_hub.daemon.errors import ProjectError
from hub.local_hub.daemon.messages import ProjectExec
from hub.local_hub.daemon.paths import ProjectPaths
from hub.local_hub.daemon.process import Child

CHUNK_BYTES = 64 * 1024
DEFAULT_TIMEOUT_S = 10.0
STDERR_IN_ERROR_CHARS = 1024

Which = Literal["stdout", "stderr"]
SendChunk = Callable[[Which, str], Awaitable[None]]


def _js_string(value: str | int | float | bool) -> str:
    """An argument as JavaScript's `String()` writes it (CoCalc's args were JS values)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True, slots=True)
class ExecOptions:
    command: str
    args: tuple[str, ...]
    path: str
    timeout: float
    max_output: int | None
    bash: bool
    err_on_exit: bool

    @classmethod
    def from_request(cls, msg: ProjectExec) -> ExecOptions:
        timeout = msg.timeout if msg.timeout is not None and msg.timeout > 0 else DEFAULT_TIMEOUT_S
        return cls(
            command=msg.command,
            args=tuple(_js_string(a) for a in msg.args or ()),
            path=msg.path or "",
            timeout=timeout,
            max_output=None if msg.max_output is None else max(0, msg.max_output),
            bash=bool(msg.bash),
            err_on_exit=msg.err_on_exit is not False,
        )

    @property
    def bash_mode(self) -> bool:
        return self.bash or (not self.args and any(c.isspace() for c in self.command))

    def argv(self) -> list[str]:
        if not self.bash_mode:
            return [self.command, *self.args]
        line = shlex.join([self.command, *self.args]) if self.args else self.command
        return ["bash", "-c", line]

    def command_line(self) -> str:
        return " ".join([self.command, *self.args])

    def error(self, cause: str) -> ProjectError:
        return ProjectError(
            f"Error executing command '{self.command}' with args '{','.join(self.args)}' -- {cause}"
        )

    def nonzero_exit(self, code: int, stderr: str) -> ProjectError:
        return self.error(
            f"command '{self.command}' (args={' '.join(self.args)}) exited with nonzero code "
            f"{code} -- stderr='{stderr[:STDERR_IN_ERROR_CHARS]}'"
        )


@dataclass(frozen=True, slots=True)
class ExecResult:
    stdout: str
    stderr: str
    exit_code: int


class OutputBudget:
    """Bytes of command output held in memory, all running commands together."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, n: int) -> int:
        granted = max(0, min(n, self.limit - self.used))
        self.used += granted
        return granted

    def give_back(self, n: int) -> None:
        self.used -= n


def truncated(n: int) -> str:
    return f" (truncated at {n} characters)"


class _Kept:
    """One stream's output for a blocking reply, within `max_output` and the budget."""

    def __init__(self, budget: OutputBudget, max_chars: int | None) -> None:
        self._budget = budget
        self._max_chars = max_chars
        self._byte_cap = None if max_chars is None else 4 * max_chars + 4
        self._parts: list[bytes] = []
        self._held = 0
        self._budget_cut = False

    def add(self, data: bytes) -> None:
        n = len(data) if self._byte_cap is None else min(len(data), self._byte_cap - self._held)
        if n <= 0:
            return
        granted = self._budget.take(n)
        if granted < n:
            self._budget_cut = True
        if granted:
            self._parts.append(data[:granted])
            self._held += granted

    def text(self) -> str:
        raw = b"".join(self._parts)
        if self._max_chars is not None:
            text = raw.decode("utf-8", "replace")
            if len(text) >= self._max_chars:
                return text[: self._max_chars] + truncated(self._max_chars)
        if self._budget_cut:
            # An incremental decode drops a character cut in half at the end.
            text = codecs.getincrementaldecoder("utf-8")("replace").decode(raw)
            return text + truncated(len(text))
        return raw.decode("utf-8", "replace")

    def release(self) -> None:
        self._budget.give_back(self._held)
        self._held = 0


class _Streamed:
    """One stream's output sent on as it comes, cut at `max_output` characters."""

    def __init__(self, which: Which, send: SendChunk, max_chars: int | None) -> None:
        self.which = which
        self._send = send
        self._max_chars = max_chars
        self._sent = 0
        self._cut = False
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self.head = ""
        """The first characters (for the error text of a nonzero exit)."""

    async def add(self, data: bytes, *, final: bool = False) -> None:
        text = self._decoder.decode(data, final)
        if len(self.head) < STDERR_IN_ERROR_CHARS:
            self.head += text[: STDERR_IN_ERROR_CHARS - len(self.head)]
        if self._cut or not text:
            return
        if self._max_chars is not None and self._sent + len(text) >= self._max_chars:
            text = text[: self._max_chars - self._sent] + truncated(self._max_chars)
            self._cut = True
        self._sent += len(text)
        await self._send(self.which, text)


class Executor:
    def __init__(self, paths: ProjectPaths, env: dict[str, str], budget: OutputBudget) -> None:
        self._paths = paths
        self._env = env
        self.budget = budget

    async def run(self, opts: ExecOptions) -> ExecResult:
        """Run to completion and return the (bounded) output, or raise ProjectError."""
        out = _Kept(self.budget, opts.max_output)
        err = _Kept(self.budget, opts.max_output)
        try:

            async def sink(which: Which, data: bytes) -> None:
                (out if which == "stdout" else err).add(data)

            code = await self._supervise(opts, sink)
            result = ExecResult(out.text(), err.text(), code)
        finally:
            out.release()
            err.release()
        if code != 0 and opts.err_on_exit:
            raise opts.nonzero_exit(code, result.stderr)
        return result

    async def stream(self, opts: ExecOptions, send: SendChunk) -> int:
        """Run, sending output through `send` as it arrives; return the exit code."""
        streams = {w: _Streamed(w, send, opts.max_output) for w in ("stdout", "stderr")}

        async def sink(which: Which, data: bytes) -> None:
            await streams[which].add(data)

        code = await self._supervise(opts, sink)
        for s in streams.values():
            await s.add(b"", final=True)
        if code != 0 and opts.err_on_exit:
            raise opts.nonzero_exit(code, streams["stderr"].head)
        return code

    async def _supervise(
        self, opts: ExecOptions, sink: Callable[[Which, bytes], Awaitable[None]]
    ) -> int:
        child = self._spawn(opts)
        finished = False
        try:
            async with asyncio.timeout(opts.timeout):
                await asyncio.gather(_pump(child, "stdout", sink), _pump(child, "stderr", sink))
                returncode = await child.wait()
            finished = True
        except TimeoutError:
            raise opts.error(f"killed command '{opts.command_line()}'") from None
        finally:
            try:
                if not finished:
                    child.kill_group()
                    await child.wait()
            finally:
                child.close()
        return returncode if returncode >= 0 else 1

    def _spawn(self, opts: ExecOptions) -> Child:
        try:
            return Child.spawn(
                opts.argv(), cwd=self._paths.working_directory(opts.path), env=self._env
            )
        except (OSError, ValueError) as exc:
            raise opts.error(
                f"command '{opts.command}' was not able to run -- stderr='{exc}'"
            ) from None


async def _pump(
    child: Child, which: Which, sink: Callable[[Which, bytes], Awaitable[None]]
) -> None:
    while chunk := await child.read(which, CHUNK_BYTES):
        await sink(which, chunk)
