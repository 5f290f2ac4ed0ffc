"""Child processes for the daemon, without the event loop's subprocess support.

uvloop's subprocesses leak extra descriptors into the child (copies of its
stdout/stderr sockets, not close-on-exec), so a background job started with
`cmd >/dev/null 2>&1 &` still holds the output open and the command seems never
to finish. Here the standard library's `subprocess.Popen` starts the child (it
closes every other descriptor), the output pipes are read with `add_reader`,
and the exit is seen through a pidfd. Works the same on any event loop.

    child = Child.spawn(argv, cwd=…, env=…)          # own session, stdin /dev/null
    chunk = await child.read("stdout", 65536)        # b"" at EOF
    code = await child.wait()
    child.kill_group()                               # SIGKILL to the whole group
    child.close()                                    # release pipes and pidfd
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Literal

Stream = Literal["stdout", "stderr"]


class Child:
    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        self._popen = popen
        self.pid = popen.pid
        self._loop = asyncio.get_running_loop()
        self._fds: dict[Stream, int] = {}
        pipes: tuple[tuple[Stream, IO[bytes] | None], ...] = (
            ("stdout", popen.stdout),
            ("stderr", popen.stderr),
        )
        for name, f in pipes:
            if f is not None:
                fd = f.fileno()
                os.set_blocking(fd, False)
                self._fds[name] = fd
        self._pidfd = os.pidfd_open(self.pid)
        self.returncode: int | None = None

    @classmethod
    def spawn(
        cls,
        argv: Sequence[str],
        *,
        cwd: str | Path,
        env: Mapping[str, str],
        output: IO[bytes] | None = None,
    ) -> Child:
        """Start `argv` in a new session. Output goes to pipes, or to `output` when given.

        Raises OSError (or ValueError) when the program or `cwd` cannot be used.
        """
        target: IO[bytes] | int = subprocess.PIPE if output is None else output
        popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=target,
            stderr=target,
            cwd=cwd,
            env=dict(env),
            start_new_session=True,
            close_fds=True,
        )
        return cls(popen)

    async def _readable(self, fd: int) -> None:
        waiter = self._loop.create_future()

        def ready() -> None:
            if not waiter.done():
                waiter.set_result(None)

        self._loop.add_reader(fd, ready)
        try:
            await waiter
        finally:
            self._loop.remove_reader(fd)

    async def read(self, stream: Stream, n: int) -> bytes:
        """Up to `n` bytes of output as soon as there are any; b"" at the end."""
        fd = self._fds[stream]
        while True:
            try:
                return os.read(fd, n)
            except BlockingIOError:
                await self._readable(fd)

    async def wait(self) -> int:
        """The exit status (negative: killed by that signal)."""
        if self.returncode is None:
            await self._readable(self._pidfd)
            self.returncode = self._popen.wait()
        return self.returncode

    def kill_group(self, sig: int = signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    @property
    def running(self) -> bool:
        return self._popen.poll() is None

    def close(self) -> None:
        for f in (self._popen.stdout, self._popen.stderr):
            if f is not None:
                f.close()
        self._fds.clear()
        with contextlib.suppress(OSError):
            os.close(self._pidfd)
        self._pidfd = -1
