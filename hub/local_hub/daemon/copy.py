"""`copy_export` and `copy_import`: a path travels between projects as a tar stream.

Export: a worker thread writes an uncompressed tar of the path into a bounded
pipe; the handler sends it as ≤ 1 MiB blob frames (uuid = the request id),
awaiting the link at each one, then answers `copy_export_done`.

Import: `copy_import` opens an `ImportJob`; the connection feeds it the blob
frames with the same uuid and then `copy_import_end` (with `abort: true` to give up).
A worker thread extracts the stream into a staging directory under
HOME/.smc/tmp, refusing hostile members (absolute names, `..`, special files,
links that leave the target: tarfile's `data` filter plus stricter checks), waits
for the end, then merges staging into the target (`merge.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import stat
import tarfile
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from hub.local_hub.daemon.archives import TarSource, excluded, existing
from hub.local_hub.daemon.errors import ProjectError
from hub.local_hub.daemon.merge import MergeOptions, merge_tree, place_file
from hub.local_hub.daemon.messages import CopyImport
from hub.local_hub.daemon.paths import PRIVATE_DIR, ProjectPaths
from hub.local_hub.daemon.pipes import Aborted, ChunkWriter, LoopToThread, ThreadToLoop
from hub.local_hub.framing import UUID_BYTES

EXPORT_CHUNK = 1024 * 1024
IMPORT_BUFFER = 8 * 1024 * 1024


def check_stream_id(id_: object, event: str) -> str:
    if not isinstance(id_, str) or len(id_) != UUID_BYTES or not id_.isascii():
        raise ProjectError(f"{event} needs an id of {UUID_BYTES} ASCII characters (a uuid)")
    return id_


def _strict_filter(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
    name = member.name
    if name.startswith("/") or os.path.isabs(name):
        raise ProjectError(f"refusing the copy: tar member '{name}' has an absolute path")
    if ".." in name.replace("\\", "/").split("/"):
        raise ProjectError(f"refusing the copy: tar member '{name}' leaves the target")
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        raise ProjectError(f"refusing the copy: tar member '{name}' is a special file")
    try:
        return tarfile.data_filter(member, dest)
    except tarfile.FilterError as exc:
        raise ProjectError(f"refusing the copy: {exc}") from None


class Copies:
    def __init__(self, paths: ProjectPaths, tmp_dir: Path) -> None:
        self.paths = paths
        self.tmp_dir = tmp_dir

    # ------------------------------------------------------------------------- export

    async def export(
        self,
        id_: object,
        path: str,
        exclude: Sequence[str],
        send_blob: Callable[[str, bytes], Awaitable[None]],
    ) -> dict[str, Any]:
        uuid = check_stream_id(id_, "copy_export")
        real = existing(self.paths, path)
        is_dir = real.is_dir()
        loop = asyncio.get_running_loop()
        pipe = ThreadToLoop(loop)
        source = TarSource(self.paths, real, exclude=exclude)
        name = path.rstrip("/").rsplit("/", 1)[-1] or real.name
        if name in (".", ".."):
            name = real.name

        def work() -> None:
            try:
                writer = ChunkWriter(pipe, EXPORT_CHUNK)
                with tarfile.open(fileobj=writer, mode="w|") as tar:  # type: ignore[call-overload]
                    source.add_to(tar, name, contents_only=is_dir)
                writer.close()
            finally:
                pipe.finish()

        worker = asyncio.ensure_future(asyncio.to_thread(work))
        sent = 0
        try:
            while (chunk := await pipe.get()) is not None:
                await send_blob(uuid, chunk)
                sent += len(chunk)
            await worker
        finally:
            if not worker.done():
                pipe.abort()
                await asyncio.wait({worker})
            if worker.done() and not worker.cancelled():
                worker.exception()
        return {"event": "copy_export_done", "bytes": sent, "is_dir": is_dir}

    # ------------------------------------------------------------------------- import

    def start_import(self, msg: CopyImport) -> ImportJob:
        uuid = check_stream_id(msg.id, "copy_import")
        target = self.paths.resolve(msg.path)
        opts = MergeOptions(
            overwrite_newer=bool(msg.overwrite_newer),
            backup=bool(msg.backup),
            delete_missing=bool(msg.delete_missing),
        )
        exclude = tuple(msg.exclude or ())
        at_home = target == self.paths.home

        def protect(rel: str, is_dir: bool) -> bool:
            return (at_home and rel == PRIVATE_DIR) or excluded(rel, is_dir, exclude)

        staging = self.tmp_dir / f"import-{uuid}-{secrets.token_hex(4)}"
        job = ImportJob(uuid, LoopToThread(asyncio.get_running_loop(), max_bytes=IMPORT_BUFFER))
        job.is_dir = msg.is_dir
        into_dir = msg.path.endswith("/")

        def work() -> None:
            pipe = job.pipe
            try:
                staging.mkdir(mode=0o700, parents=True)
                has_root = _extract(pipe, staging)
                pipe.wait_for_end()
                is_dir = has_root if job.is_dir is None else job.is_dir
                if is_dir:
                    merge_tree(str(staging), str(target), opts, protect)
                    if has_root and not at_home:
                        _copy_dir_attributes(staging, target)
                else:
                    self._place_one(staging, target, into_dir, opts)
            except Aborted:
                raise ProjectError("copy aborted") from None
            except OSError as exc:
                raise ProjectError(f"copy failed: {exc.strerror or exc}") from None
            finally:
                pipe.close()
                shutil.rmtree(staging, ignore_errors=True)

        job.work = work
        return job

    def _place_one(self, staging: Path, target: Path, into_dir: bool, opts: MergeOptions) -> None:
        entries = os.listdir(staging)
        if len(entries) != 1 or not (staging / entries[0]).is_file():
            raise ProjectError("the copy of a file must hold exactly one regular file")
        name = entries[0]
        dest = target / name if into_dir or target.is_dir() else target
        real = self.paths.resolve(os.path.relpath(dest, self.paths.home))
        real.parent.mkdir(parents=True, exist_ok=True)
        place_file(str(staging / name), str(real), opts)


def _extract(pipe: LoopToThread, staging: Path) -> bool:
    """Extract the tar stream into `staging`; return whether it is a directory's tar."""
    try:
        with tarfile.open(fileobj=pipe, mode="r|") as tar:  # type: ignore[call-overload]
            members = _watch_first(tar)
            tar.extractall(staging, members=members, filter=_strict_filter)
            return members.first_is_root
    except tarfile.FilterError as exc:
        raise ProjectError(f"refusing the copy: {exc}") from None
    except (tarfile.ReadError, tarfile.StreamError, EOFError) as exc:
        raise ProjectError(f"the copy's data is not a valid tar stream: {exc}") from None


class _watch_first:
    """The members of a streamed tar, noting whether the first is the `.` directory."""

    def __init__(self, tar: tarfile.TarFile) -> None:
        self._tar = tar
        self.first_is_root = False

    def __iter__(self) -> Iterator[tarfile.TarInfo]:
        for i, member in enumerate(self._tar):
            if i == 0:
                self.first_is_root = member.isdir() and member.name.rstrip("/") in (".", "")
            yield member


def _copy_dir_attributes(src: Path, dst: Path) -> None:
    st = os.lstat(src)
    with contextlib.suppress(OSError):
        os.chmod(dst, stat.S_IMODE(st.st_mode))
        os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))


class ImportJob:
    """One running import: fed from the connection, finished by a worker thread."""

    def __init__(self, uuid: str, pipe: LoopToThread) -> None:
        self.uuid = uuid
        self.pipe = pipe
        self.work: Callable[[], None] = lambda: None
        self.is_dir: bool | None = None
        """From copy_import or copy_import_end; None: the tar says (a `.` member first)."""
        self.ended = False

    def start(self) -> asyncio.Task[None]:
        return asyncio.ensure_future(asyncio.to_thread(self.work))

    async def feed(self, data: bytes) -> None:
        if not self.ended:
            await self.pipe.put(data)

    def end(self, *, is_dir: bool | None = None) -> None:
        if not self.ended:
            self.ended = True
            if is_dir is not None:
                self.is_dir = is_dir
            self.pipe.end()

    def abort(self) -> None:
        self.ended = True
        self.pipe.abort()
