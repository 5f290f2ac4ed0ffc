"""copy_export / copy_import between two real daemons (two HOMEs), and hostile tar streams."""

from __future__ import annotations

import io
import os
import stat
import tarfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.local_hub import HubSide, start_local_hub
from tests.fixtures.timeouts import seconds

MiB = 1024 * 1024


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[HubSide, HubSide, Path, Path]]:
    """Two daemons with their own HOMEs, and a link to each: (source, target, src, dst)."""
    async with (
        start_local_hub(tmp_path / "src") as a,
        start_local_hub(tmp_path / "dst") as b,
        a.hub.client() as source,
        b.hub.client() as target,
    ):
        yield source, target, a.hub.home, b.hub.home


async def copy(
    source: HubSide,
    target: HubSide,
    path: str,
    target_path: str,
    *,
    exclude: list[str] | None = None,
    **options: Any,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Stream `path` from source to target as the hub does: (export reply, import reply)."""
    import_id = str(uuid.uuid4())
    await target.send(
        {
            "event": "copy_import",
            "id": import_id,
            "path": target_path,
            "exclude": exclude or [],  # so that delete_missing spares excluded files
            **options,
        }
    )
    export_id = str(uuid.uuid4())

    async def forward(chunk: bytes) -> None:
        await target.link.send_blob(import_id, chunk)

    source.blob_sinks[export_id] = forward
    exported = await source.call(
        {"event": "copy_export", "id": export_id, "path": path, "exclude": exclude or []}
    )
    if exported["event"] == "error":
        await target.send({"event": "copy_import_end", "id": import_id, "abort": True})
    else:
        await target.send({"event": "copy_import_end", "id": import_id})
    imported = await target.next_reply(import_id, timeout=30)
    assert all(n <= MiB for n in source.blob_frame_sizes.get(export_id, []))
    return exported, imported


def tree(root: Path) -> dict[str, bytes | str | None]:
    """Relative path -> file bytes, `-> target` for symlinks, None for directories."""
    out: dict[str, bytes | str | None] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            if rel == ".smc" or rel.startswith(".smc/"):
                continue
            if p.is_symlink():
                out[rel] = "-> " + os.readlink(p)
            elif p.is_dir():
                out[rel] = None
            else:
                out[rel] = p.read_bytes()
    return out


def make_source(src: Path) -> None:
    (src / "proj/sub/deeper").mkdir(parents=True)
    (src / "proj/a.txt").write_text("A")
    (src / "proj/sub/b.bin").write_bytes(bytes(range(256)))
    (src / "proj/sub/deeper/c").write_text("C")
    (src / "proj/run.sh").write_text("#!/bin/sh\n")
    (src / "proj/run.sh").chmod(0o755)
    (src / "proj/link").symlink_to("sub/b.bin")
    os.utime(src / "proj/a.txt", (1_600_000_000, 1_600_000_000))


# ----------------------------------------------------------------------------- round trips


async def test_directory_copy_between_two_daemons(pair: Any) -> None:
    source, target, src, dst = pair
    make_source(src)
    exported, imported = await copy(source, target, "proj", "copies/proj")
    assert exported["event"] == "copy_export_done"
    assert exported["is_dir"] is True
    assert exported["bytes"] > 0
    assert imported == {"event": "success", "id": imported["id"]}
    assert tree(dst / "copies/proj") == tree(src / "proj")
    assert stat.S_IMODE((dst / "copies/proj/run.sh").stat().st_mode) == 0o755
    assert (dst / "copies/proj/a.txt").stat().st_mtime == 1_600_000_000
    assert not os.listdir(dst / ".smc/tmp")  # staging cleaned up


async def test_file_copies(pair: Any) -> None:
    source, target, src, dst = pair
    (src / "f.txt").write_text("file")
    (dst / "into").mkdir()
    exported, imported = await copy(source, target, "f.txt", "renamed.txt")
    assert (exported["is_dir"], imported["event"]) == (False, "success")
    assert (dst / "renamed.txt").read_text() == "file"
    await copy(source, target, "f.txt", "newdir/")  # trailing slash: into that directory
    assert (dst / "newdir/f.txt").read_text() == "file"
    await copy(source, target, "f.txt", "into")  # an existing directory: into it
    assert (dst / "into/f.txt").read_text() == "file"


async def test_a_large_copy_streams_in_frames_of_at_most_1_mib(pair: Any) -> None:
    source, target, src, dst = pair
    data = os.urandom(12 * MiB)
    (src / "big").mkdir()
    (src / "big/blob").write_bytes(data)
    exported, imported = await copy(source, target, "big", "big")
    assert imported["event"] == "success"
    assert (dst / "big/blob").read_bytes() == data
    assert exported["bytes"] >= 12 * MiB


async def test_whole_home_copy_leaves_both_smc_directories_alone(pair: Any) -> None:
    source, target, src, dst = pair
    make_source(src)
    token = (dst / ".smc/secret_token").read_text()
    _, imported = await copy(source, target, "", "", delete_missing=True)
    assert imported["event"] == "success"
    assert (dst / ".smc/secret_token").read_text() == token
    assert tree(dst)["proj/a.txt"] == b"A"
    assert (await target.call({"event": "ping"}))["event"] == "pong"


# ----------------------------------------------------------------------------- options


async def test_newer_target_files_are_kept_unless_overwrite_newer(pair: Any) -> None:
    source, target, src, dst = pair
    make_source(src)
    (dst / "proj").mkdir()
    (dst / "proj/a.txt").write_text("newer")
    future = time.time() + 3600
    os.utime(dst / "proj/a.txt", (future, future))
    await copy(source, target, "proj", "proj")
    assert (dst / "proj/a.txt").read_text() == "newer"
    assert (dst / "proj/sub/b.bin").exists()
    await copy(source, target, "proj", "proj", overwrite_newer=True)
    assert (dst / "proj/a.txt").read_text() == "A"


async def test_backup_keeps_replaced_files(pair: Any) -> None:
    source, target, src, dst = pair
    make_source(src)
    (dst / "proj").mkdir()
    (dst / "proj/a.txt").write_text("old")
    os.utime(dst / "proj/a.txt", (1_000_000_000, 1_000_000_000))
    await copy(source, target, "proj", "proj", backup=True)
    assert (dst / "proj/a.txt").read_text() == "A"
    assert (dst / "proj/a.txt~").read_text() == "old"


async def test_delete_missing(pair: Any) -> None:
    source, target, src, dst = pair
    make_source(src)
    (dst / "proj/gone/deep").mkdir(parents=True)
    (dst / "proj/extra.txt").write_text("x")
    (dst / "proj/gone/deep/y").write_text("y")
    (dst / "proj/keep.log").write_text("protected by exclude")
    _, imported = await copy(source, target, "proj", "proj", delete_missing=True, exclude=["*.log"])
    assert imported["event"] == "success"
    assert tree(dst / "proj") == {**tree(src / "proj"), "keep.log": b"protected by exclude"}


async def test_delete_missing_with_backup_renames_instead(pair: Any) -> None:
    source, target, src, dst = pair
    make_source(src)
    (dst / "proj").mkdir()
    (dst / "proj/extra.txt").write_text("x")
    await copy(source, target, "proj", "proj", delete_missing=True, backup=True)
    assert (dst / "proj/extra.txt~").read_text() == "x"
    assert not (dst / "proj/extra.txt").exists()


async def test_exclude_on_export(pair: Any) -> None:
    source, target, src, dst = pair
    make_source(src)
    (src / "proj/build").mkdir()
    (src / "proj/build/out.o").write_text("o")
    (src / "proj/sub/x.log").write_text("log")
    await copy(source, target, "proj", "proj", exclude=["build/", "*.log", "/a.txt"])
    copied = tree(dst / "proj")
    assert "build" not in copied
    assert "sub/x.log" not in copied
    assert "a.txt" not in copied
    assert copied["sub/deeper/c"] == b"C"


async def test_a_symlink_in_the_target_is_replaced_not_followed(pair: Any, tmp_path: Path) -> None:
    source, target, src, dst = pair
    make_source(src)
    outside = tmp_path / "outside"
    outside.mkdir()
    (dst / "proj").mkdir()
    (dst / "proj/sub").symlink_to(outside)
    _, imported = await copy(source, target, "proj", "proj")
    assert imported["event"] == "success"
    assert not os.listdir(outside)
    assert (dst / "proj/sub/b.bin").read_bytes() == bytes(range(256))
    assert not (dst / "proj/sub").is_symlink()


# ----------------------------------------------------------------------------- errors


async def test_export_errors(pair: Any) -> None:
    source, target, _, dst = pair
    exported, imported = await copy(source, target, "missing", "x")
    assert exported["error"] == "no such file 'missing'"
    assert imported["error"] == "copy aborted"
    assert not (dst / "x").exists()
    reply = await source.call({"event": "copy_export", "id": "short", "path": ""})
    assert reply["error"] == "copy_export needs an id of 36 ASCII characters (a uuid)"


async def test_import_target_outside_is_refused(pair: Any) -> None:
    source, target, src, dst = pair
    (src / "f").write_text("f")
    _, imported = await copy(source, target, "f", "../escape")
    assert imported["error"] == "path '../escape' is outside the project"
    assert not (dst.parent / "escape").exists()


def hostile(kind: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:

        def add(info: tarfile.TarInfo, data: bytes = b"") -> None:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)

        add(tarfile.TarInfo("innocent.txt"), b"fine")
        if kind == "absolute":
            add(tarfile.TarInfo("/tmp/pwned-by-tar"), b"x")
        elif kind == "dotdot":
            add(tarfile.TarInfo("a/../../pwned"), b"x")
        elif kind == "symlink-out":
            link = tarfile.TarInfo("etc")
            link.type = tarfile.SYMTYPE
            link.linkname = "/etc"
            add(link)
            add(tarfile.TarInfo("etc/pwned"), b"x")
        elif kind == "relative-symlink-out":
            link = tarfile.TarInfo("up")
            link.type = tarfile.SYMTYPE
            link.linkname = "../../../.."
            add(link)
        elif kind == "hardlink-out":
            link = tarfile.TarInfo("pw")
            link.type = tarfile.LNKTYPE
            link.linkname = "../../../../etc/passwd"
            add(link)
        elif kind == "device":
            dev = tarfile.TarInfo("null")
            dev.type = tarfile.CHRTYPE
            dev.devmajor, dev.devminor = 1, 3
            add(dev)
        elif kind == "fifo":
            fifo = tarfile.TarInfo("fifo")
            fifo.type = tarfile.FIFOTYPE
            add(fifo)
    return buf.getvalue()


@pytest.mark.parametrize(
    "kind",
    ["absolute", "dotdot", "symlink-out", "relative-symlink-out", "hardlink-out", "device", "fifo"],
)
async def test_hostile_tar_members_are_refused(pair: Any, kind: str) -> None:
    _, target, _, dst = pair
    import_id = str(uuid.uuid4())
    await target.send({"event": "copy_import", "id": import_id, "path": "in", "is_dir": True})
    await target.link.send_blob(import_id, hostile(kind))
    await target.send({"event": "copy_import_end", "id": import_id})
    reply = await target.next_reply(import_id)
    assert reply["event"] == "error"
    assert reply["error"].startswith("refusing the copy: "), reply
    assert not (dst / "in").exists()  # nothing is merged from a refused stream
    assert not os.path.lexists("/tmp/pwned-by-tar")  # noqa: ASYNC240
    assert not (dst.parent / "pwned").exists()
    assert not os.listdir(dst / ".smc/tmp")
    assert (await target.call({"event": "ping"}))["event"] == "pong"


async def test_garbage_instead_of_a_tar(pair: Any) -> None:
    _, target, _, _ = pair
    import_id = str(uuid.uuid4())
    await target.send({"event": "copy_import", "id": import_id, "path": "in"})
    await target.link.send_blob(import_id, b"this is not a tar stream at all" * 100)
    await target.send({"event": "copy_import_end", "id": import_id})
    reply = await target.next_reply(import_id)
    assert reply["error"].startswith("the copy's data is not a valid tar stream")


async def test_abort_discards_a_partial_import(pair: Any) -> None:
    _, target, _, dst = pair
    import_id = str(uuid.uuid4())
    await target.send({"event": "copy_import", "id": import_id, "path": "in"})
    await target.link.send_blob(import_id, hostile("none")[:700])
    await target.send({"event": "copy_import_end", "id": import_id, "abort": True})
    reply = await target.next_reply(import_id, timeout=seconds(10))
    assert reply["error"] == "copy aborted"
    assert not (dst / "in").exists()
