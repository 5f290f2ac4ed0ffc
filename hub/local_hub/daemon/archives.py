"""Tar archives of project paths: what goes in, and `read_file_from_project`.

`TarSource` decides the members of an archive of a file or directory: only
regular files, directories and symlinks; never HOME/.smc; minus `exclude`
patterns (rsync-like, see `excluded`) and, for `read_file_from_project`,
CoCalc's list of tool directories. `read_file_from_project` builds a tar.bz2 in
a worker thread into a temporary file, then sends it as blob frames.
"""

from __future__ import annotations

import asyncio
import fnmatch
import os
import stat
import tarfile
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import IO, Any

from hub.local_hub.daemon.errors import ProjectError
from hub.local_hub.daemon.files import large_file
from hub.local_hub.daemon.paths import PRIVATE_DIR, ProjectPaths

COCALC_EXCLUDES = (".sagemathcloud*", ".forever", ".node*", ".npm", ".sage")
READ_CHUNK = 1024 * 1024


def excluded(rel: str, is_dir: bool, patterns: Sequence[str]) -> bool:
    """rsync-like: `name` matches any path component's basename, `a/b` the path (or its
    tail), `/a` only from the top, and a trailing `/` only directories."""
    base = rel.rsplit("/", 1)[-1]
    for pattern in patterns:
        if not pattern:
            continue
        dir_only = pattern.endswith("/")
        p = pattern.rstrip("/")
        if dir_only and not is_dir:
            continue
        if p.startswith("/"):
            if fnmatch.fnmatchcase(rel, p.lstrip("/")):
                return True
        elif "/" in p:
            if fnmatch.fnmatchcase(rel, p) or fnmatch.fnmatchcase(rel, "*/" + p):
                return True
        elif fnmatch.fnmatchcase(base, p):
            return True
    return False


class TarSource:
    """Adds a file or a directory's contents to a tar, in a worker thread."""

    def __init__(
        self,
        paths: ProjectPaths,
        real: Path,
        *,
        exclude: Sequence[str] = (),
        max_bytes: int | None = None,
    ) -> None:
        self.paths = paths
        self.real = real
        self.exclude = tuple(exclude)
        self.max_bytes = max_bytes
        self.total = 0
        self._prefix = ""

    def add_to(self, tar: tarfile.TarFile, arcname: str, *, contents_only: bool) -> None:
        """Add `real` as `arcname`; with `contents_only`, add a directory as a `.` member
        followed by its entries at the top (so a reader knows it is a directory's tar)."""
        try:
            if contents_only:
                self._prefix = ""
                root = tar.gettarinfo(self.real, arcname=".")
                root.uid = root.gid = 0
                root.uname = root.gname = ""
                tar.addfile(root)
                for entry in sorted(os.listdir(self.real)):
                    tar.add(self.real / entry, arcname=entry, filter=self._filter)
            else:
                self._prefix = arcname + "/"
                tar.add(self.real, arcname=arcname, filter=self._filter)
        except OSError as exc:
            where = self.paths.relative(Path(exc.filename)) if exc.filename else "?"
            raise ProjectError(f"could not read '{where}': {exc.strerror or exc}") from None

    def _filter(self, info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        if not (info.isfile() or info.isdir() or info.issym() or info.islnk()):
            return None
        rel = info.name[len(self._prefix) :] if info.name.startswith(self._prefix) else info.name
        if self.real == self.paths.home and (rel == PRIVATE_DIR):
            return None
        if excluded(rel, info.isdir(), self.exclude):
            return None
        if info.isfile():
            self.total += info.size
            if self.max_bytes is not None and self.total > self.max_bytes:
                raise ProjectError(
                    f"'{self.paths.relative(self.real) or '.'}' is too large to archive "
                    f"(more than {self.max_bytes} bytes of files)"
                )
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        return info


def existing(paths: ProjectPaths, path: str) -> Path:
    real = paths.resolve(path)
    try:
        st = os.stat(real)
    except FileNotFoundError:
        raise ProjectError(f"no such file '{path}'") from None
    except OSError as exc:
        raise ProjectError(f"could not read '{path}': {exc.strerror or exc}") from None
    if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
        raise ProjectError(f"path '{path}' is not a regular file or directory")
    return real


class Archives:
    def __init__(
        self, paths: ProjectPaths, *, max_file_bytes: int, max_archive_bytes: int, tmp_dir: Path
    ) -> None:
        self.paths = paths
        self.max_file_bytes = max_file_bytes
        self.max_archive_bytes = max_archive_bytes
        self.tmp_dir = tmp_dir

    async def read_file(
        self,
        path: str,
        archive: str | None,
        send_blob: Callable[[str, bytes], Awaitable[None]],
    ) -> dict[str, Any]:
        """Send `path` as a tar.bz2 blob; return the `file_read_from_project` reply."""
        if archive not in (None, "tar.bz2"):
            raise ProjectError(f"archive format '{archive}' is not supported (only tar.bz2)")
        real = existing(self.paths, path)
        if real.is_file() and real.stat().st_size > self.max_file_bytes:
            raise large_file(real.stat().st_size, self.max_file_bytes)
        arcname = real.name or "home"
        f = await asyncio.to_thread(self._build, real, arcname)
        try:
            data_uuid = str(uuid.uuid4())
            sent = False
            while chunk := await asyncio.to_thread(f.read, READ_CHUNK):
                await send_blob(data_uuid, chunk)
                sent = True
            if not sent:
                await send_blob(data_uuid, b"")
        finally:
            f.close()
        return {"event": "file_read_from_project", "data_uuid": data_uuid, "archive": "tar.bz2"}

    def _build(self, real: Path, arcname: str) -> IO[bytes]:
        self.tmp_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        f = tempfile.TemporaryFile(dir=self.tmp_dir)  # noqa: SIM115 - returned open
        try:
            source = TarSource(
                self.paths,
                real,
                exclude=COCALC_EXCLUDES if real.is_dir() else (),
                max_bytes=self.max_archive_bytes,
            )
            with tarfile.open(fileobj=f, mode="w:bz2") as tar:
                source.add_to(tar, arcname, contents_only=False)
            f.seek(0)
        except BaseException:
            f.close()
            raise
        return f
