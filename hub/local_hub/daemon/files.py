"""Text files and blobs, read and written inside the project.

Reads refuse directories, special files (a FIFO would block forever), files over
`max_file_bytes` and content that is not UTF-8. Writes create missing
directories and replace the file atomically (a temporary file in the same
directory, then `rename`), keeping the old file's mode. The blocking parts run
in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import math
import os
import secrets
import stat
from pathlib import Path

from hub.local_hub.daemon.errors import ProjectError
from hub.local_hub.daemon.paths import ProjectPaths


def _mb(n: float) -> str:
    return f"{n / 1_000_000:g}"


def _js_round_mb(size: int) -> int:
    """Megabytes rounded as JavaScript's Math.round does (halves up, not to even)."""
    return math.floor(size / 1_000_000 + 0.5)


def large_file(size: int, limit: int) -> ProjectError:
    return ProjectError(
        f"Attempt to open large file of size {_js_round_mb(size)}MB; the maximum allowed "
        f"size is {_mb(limit)}MB. Use vim, emacs, or pico from a terminal instead."
    )


def _os_problem(what: str, path: str, exc: OSError) -> ProjectError:
    if exc.errno == errno.ENOENT:
        return ProjectError(f"no such file '{path}'")
    if exc.errno == errno.EISDIR:
        return ProjectError(f"path '{path}' is a directory")
    return ProjectError(f"could not {what} '{path}': {exc.strerror or exc}")


class Files:
    def __init__(self, paths: ProjectPaths, max_file_bytes: int) -> None:
        self.paths = paths
        self.max_file_bytes = max_file_bytes

    async def read_text(self, path: str) -> str:
        real = self.paths.resolve(path)
        data = await asyncio.to_thread(self._read, real, path)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise ProjectError(f"file '{path}' is not a text file (not valid UTF-8)") from None

    def _read(self, real: Path, path: str) -> bytes:
        try:
            fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            raise _os_problem("read", path, exc) from None
        try:
            st = os.fstat(fd)
            if stat.S_ISDIR(st.st_mode):
                raise ProjectError(f"path '{path}' is a directory")
            if not stat.S_ISREG(st.st_mode):
                raise ProjectError(f"path '{path}' is not a regular file")
            if st.st_size > self.max_file_bytes:
                raise large_file(st.st_size, self.max_file_bytes)
        except BaseException:
            os.close(fd)
            raise
        with os.fdopen(fd, "rb") as f:
            data = f.read(self.max_file_bytes + 1)
        if len(data) > self.max_file_bytes:
            raise large_file(len(data), self.max_file_bytes)
        return data

    async def write_text(self, path: str, content: str) -> None:
        await self.write_bytes(path, content.encode("utf-8"))

    async def write_bytes(self, path: str, data: bytes | bytearray) -> None:
        if len(data) > self.max_file_bytes:
            raise ProjectError(
                f"Attempt to write large file of size {_js_round_mb(len(data))}MB; "
                f"the maximum allowed size is {_mb(self.max_file_bytes)}MB."
            )
        real = self.paths.resolve(path)
        if real == self.paths.home or path.endswith("/"):
            raise ProjectError(f"path '{path}' is a directory")
        await asyncio.to_thread(atomic_write, real, data, path)


def atomic_write(target: Path, data: bytes | bytearray, shown: str) -> None:
    """Replace `target` with `data` so that a reader sees the old or the new file, never half."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ProjectError(
            f"could not create the directory of '{shown}': {exc.strerror or exc}"
        ) from None
    try:
        old = os.lstat(target)
    except FileNotFoundError:
        old = None
    except OSError as exc:
        raise _os_problem("write", shown, exc) from None
    if old is not None and stat.S_ISDIR(old.st_mode):
        raise ProjectError(f"path '{shown}' is a directory")
    tmp = target.parent / f".{target.name}.{secrets.token_hex(6)}.tmp"
    try:
        # 0o666 minus the umask, like any new file; a replaced file keeps its mode.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        raise _os_problem("write", shown, exc) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if old is not None:
                os.fchmod(f.fileno(), stat.S_IMODE(old.st_mode))
                if os.geteuid() == 0:
                    os.fchown(f.fileno(), old.st_uid, old.st_gid)
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise _os_problem("write", shown, exc) from None
        raise
