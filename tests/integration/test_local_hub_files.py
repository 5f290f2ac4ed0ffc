"""File operations on a real daemon: text files, archives, blobs, confinement, named servers."""

from __future__ import annotations

import asyncio
import io
import os
import stat
import sys
import tarfile
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.local_hub import (
    HubSide,
    LocalHub,
    local_hub,
    local_hub_args,
    local_hub_daemon,
    process_gone,
    start_local_hub,
)
from tests.fixtures.timeouts import eventually, seconds

FIXTURES = (local_hub, local_hub_args, local_hub_daemon)  # until tests/conftest.py lists them


async def call(hub: LocalHub, **fields: Any) -> dict[str, Any]:
    async with hub.client() as side:
        return await side.call(fields)


async def read_text(hub: LocalHub, path: str) -> dict[str, Any]:
    return await call(hub, event="read_text_file_from_project", path=path)


async def write_text(hub: LocalHub, path: str, content: str) -> dict[str, Any]:
    return await call(hub, event="write_text_file_to_project", path=path, content=content)


def sparse(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        f.truncate(size)


# ----------------------------------------------------------------------------- text files


async def test_write_then_read(local_hub: LocalHub) -> None:
    reply = await write_text(local_hub, "new/dir/ünï.txt", "héllo ☃\n")
    assert reply == {"event": "file_written_to_project", "id": reply["id"]}
    assert (local_hub.home / "new/dir/ünï.txt").read_text() == "héllo ☃\n"
    reply = await read_text(local_hub, "new/dir/ünï.txt")
    assert reply == {
        "event": "text_file_read_from_project",
        "id": reply["id"],
        "content": "héllo ☃\n",
    }
    assert (await read_text(local_hub, f"{local_hub.home}/new/dir/ünï.txt"))["content"] == (
        "héllo ☃\n"
    )


async def test_overwrite_is_atomic_and_keeps_the_mode(local_hub: LocalHub) -> None:
    script = local_hub.home / "run.sh"
    script.write_text("old")
    script.chmod(0o750)
    assert (await write_text(local_hub, "run.sh", "new"))["event"] == "file_written_to_project"
    assert script.read_text() == "new"
    assert stat.S_IMODE(script.stat().st_mode) == 0o750
    assert sorted(p.name for p in local_hub.home.iterdir()) == [".smc", "run.sh"]


async def test_read_errors(local_hub: LocalHub) -> None:
    home = local_hub.home
    (home / "sub").mkdir()
    (home / "bin.dat").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    sparse(home / "big.txt", 11_000_000)
    os.mkfifo(home / "fifo")
    cases = {
        "nope.txt": "no such file 'nope.txt'",
        "sub": "path 'sub' is a directory",
        "bin.dat": "file 'bin.dat' is not a text file (not valid UTF-8)",
        "big.txt": "Attempt to open large file of size 11MB; the maximum allowed size is 10MB. "
        "Use vim, emacs, or pico from a terminal instead.",
        "fifo": "path 'fifo' is not a regular file",
    }
    for path, text in cases.items():
        reply = await read_text(local_hub, path)
        assert (reply["event"], reply["error"]) == ("error", text), path


async def test_write_errors(local_hub: LocalHub) -> None:
    (local_hub.home / "sub").mkdir()
    (local_hub.home / "file").write_text("x")
    assert (await write_text(local_hub, "sub", "x"))["error"] == "path 'sub' is a directory"
    assert (await write_text(local_hub, "", "x"))["error"] == "path '' is a directory"
    reply = await write_text(local_hub, "file/inside.txt", "x")
    assert reply["error"].startswith("could not create the directory of 'file/inside.txt'")
    reply = await write_text(local_hub, "huge.txt", "x" * 12_000_000)
    assert reply["error"] == (
        "Attempt to write large file of size 12MB; the maximum allowed size is 10MB."
    )
    assert not (local_hub.home / "huge.txt").exists()


# ----------------------------------------------------------------------------- confinement

ESCAPES = ["../outside.txt", "/etc/passwd", "a/../../outside.txt", "etc/passwd", "pw", "out/x"]


@pytest.fixture
def escape_links(local_hub: LocalHub, tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir()
    (local_hub.home / "etc").symlink_to("/etc")
    (local_hub.home / "pw").symlink_to("/etc/passwd")
    (local_hub.home / "out").symlink_to(outside)
    return outside


@pytest.mark.parametrize("path", ESCAPES)
async def test_paths_outside_home_are_refused(
    local_hub: LocalHub, escape_links: Path, path: str
) -> None:
    outside_text = f"path '{path}' is outside the project"
    async with local_hub.client() as hub:
        for msg in (
            {"event": "read_text_file_from_project", "path": path},
            {"event": "write_text_file_to_project", "path": path, "content": "pwned"},
            {"event": "read_file_from_project", "path": path, "archive": "tar.bz2"},
            {"event": "copy_export", "path": path, "id": str(uuid.uuid4())},
        ):
            reply = await hub.call(msg)
            assert (reply["event"], reply["error"]) == ("error", outside_text), msg
        data_uuid = str(uuid.uuid4())
        await hub.link.send_blob(data_uuid, b"pwned")
        reply = await hub.call(
            {"event": "write_file_to_project", "path": path, "data_uuid": data_uuid}
        )
        assert reply["error"] == outside_text
    assert not os.listdir(escape_links)
    with open("/etc/passwd") as f:  # noqa: ASYNC230 - a small local file
        assert "pwned" not in f.read()


async def test_symlinks_inside_home_are_fine(local_hub: LocalHub) -> None:
    (local_hub.home / "real").mkdir()
    (local_hub.home / "real/a.txt").write_text("A")
    (local_hub.home / "alias").symlink_to("real")
    assert (await read_text(local_hub, "alias/a.txt"))["content"] == "A"


async def test_the_private_smc_directory_is_off_limits(local_hub: LocalHub) -> None:
    for path in (".smc/secret_token", ".smc", "x/../.smc/hub-server.port"):
        reply = await read_text(local_hub, path)
        assert reply["error"] == f"path '{path}' is inside the project's private .smc directory"
    reply = await write_text(local_hub, ".smc/secret_token", "mine")
    assert "private .smc directory" in reply["error"]
    assert (local_hub.home / ".smc/secret_token").read_text() == local_hub.token


# ----------------------------------------------------------------------------- archives and blobs


def untar(data: bytes) -> dict[str, bytes | None]:
    """Member name -> content (None for directories)."""
    out: dict[str, bytes | None] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:bz2") as tar:
        for m in tar:
            f = tar.extractfile(m)
            out[m.name] = f.read() if f is not None else None
    return out


async def read_archive(hub: HubSide, path: str) -> dict[str, bytes | None]:
    reply = await hub.call({"event": "read_file_from_project", "path": path, "archive": "tar.bz2"})
    assert reply["event"] == "file_read_from_project", reply
    assert reply["archive"] == "tar.bz2"
    return untar(bytes(hub.blobs.pop(reply["data_uuid"])))


async def test_read_file_from_project_as_tar_bz2(local_hub: LocalHub) -> None:
    home = local_hub.home
    (home / "d/sub").mkdir(parents=True)
    (home / "d/a.txt").write_text("A")
    (home / "d/sub/b.bin").write_bytes(b"\x00\xff" * 1000)
    (home / "d/.sage").mkdir()
    (home / "d/.sage/junk").write_text("no")
    (home / "single.txt").write_text("one")
    async with local_hub.client() as hub:
        assert await read_archive(hub, "single.txt") == {"single.txt": b"one"}
        assert await read_archive(hub, "d") == {
            "d": None,
            "d/a.txt": b"A",
            "d/sub": None,
            "d/sub/b.bin": b"\x00\xff" * 1000,
        }
        whole = await read_archive(hub, "")
        assert not any("/.smc" in name for name in whole)
        assert f"{home.name}/d/a.txt" in whole


async def test_read_file_from_project_errors(local_hub: LocalHub) -> None:
    sparse(local_hub.home / "big.bin", 10_500_000)
    async with local_hub.client() as hub:
        msg = {"event": "read_file_from_project", "archive": "tar.bz2"}
        reply = await hub.call({**msg, "path": "big.bin"})
        assert reply["error"].startswith("Attempt to open large file of size 11MB;")
        assert (await hub.call({**msg, "path": "gone"}))["error"] == "no such file 'gone'"
        reply = await hub.call({**msg, "path": "big.bin", "archive": "zip"})
        assert reply["error"] == "archive format 'zip' is not supported (only tar.bz2)"


async def test_write_file_to_project_from_blob_frames(local_hub: LocalHub) -> None:
    data = os.urandom(300_000)
    data_uuid = str(uuid.uuid4())
    async with local_hub.client() as hub:
        await hub.link.send_blob(data_uuid, data[:100_000])
        await hub.link.send_blob(data_uuid, data[100_000:])
        reply = await hub.call(
            {"event": "write_file_to_project", "path": "up/blob.bin", "data_uuid": data_uuid}
        )
        assert reply["event"] == "file_written_to_project"
        assert (local_hub.home / "up/blob.bin").read_bytes() == data
        reply = await hub.call(
            {"event": "write_file_to_project", "path": "again.bin", "data_uuid": data_uuid}
        )
        assert reply["error"] == f"no blob with uuid '{data_uuid}' was received"


async def test_an_empty_blob_writes_an_empty_file(local_hub: LocalHub) -> None:
    data_uuid = str(uuid.uuid4())
    async with local_hub.client() as hub:
        await hub.link.send_blob(data_uuid, b"")
        reply = await hub.call(
            {"event": "write_file_to_project", "path": "e", "data_uuid": data_uuid}
        )
        assert reply["event"] == "file_written_to_project"
    assert (local_hub.home / "e").read_bytes() == b""


# ----------------------------------------------------------------------------- named servers

FAKE_JUPYTER = """#!{python}
import os, socket, sys
port = int(next(a for a in sys.argv if a.startswith("--port=")).split("=")[1])
with open(os.path.expanduser("~/jupyter.pid"), "w") as f:
    f.write(str(os.getpid()))
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen()
while True:
    c, _ = s.accept()
    c.sendall(b"fake jupyter")
    c.close()
"""


async def test_named_server_errors(local_hub: LocalHub) -> None:
    async with local_hub.client() as hub:
        reply = await hub.call({"event": "named_server_port", "name": "nope"})
        assert reply["error"] == "unknown named server 'nope'"
        reply = await hub.call({"event": "named_server_port", "name": "code"})
        assert reply["error"] == "named server 'code' is not installed in this project"


async def test_named_server_is_started_once(tmp_path: Path) -> None:
    home = tmp_path / "p"
    (home / "bin").mkdir(parents=True)
    fake = home / "bin" / "jupyter"
    fake.write_text(FAKE_JUPYTER.format(python=sys.executable))
    fake.chmod(0o755)
    async with start_local_hub(home) as daemon, daemon.hub.client() as hub:
        reply = await hub.call({"event": "named_server_port", "name": "jupyter"})
        assert reply["event"] == "named_server_port", reply
        assert reply["name"] == "jupyter"
        port = reply["port"]

        async def answers() -> bool:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                return False
            data = await reader.read()
            writer.close()
            await writer.wait_closed()
            return data == b"fake jupyter"

        await eventually(answers, 10)
        again = await hub.call({"event": "named_server_port", "name": "jupyter"})
        assert again["port"] == port
        pid = int((home / "jupyter.pid").read_text())
    await eventually(lambda: process_gone(pid), seconds(10))  # stopped with the daemon
