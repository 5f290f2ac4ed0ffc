"""save_blob: a project saves blobs named by their content over its link; clients keep
them longer or forever; the same bytes are stored once; expired ones are cleaned up.

The project here is a stand-in that speaks the real link protocol (the hub finds it
through the template runner, as it finds projects in pods), because the local hub
daemon does not send save_blob itself: its processes have no use for it yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from hub.db import expired
from hub.db.sha1_blobs import uuidsha1
from hub.local_hub.framing import JsonFrame
from hub.local_hub.link import Link, LinkError, accept
from hub.local_hub.runner_template import derive_token
from tests.fixtures.timeouts import seconds

PASSWORD = "blob-pass-1"


class StandinProject:
    """A TCP server that accepts the hub's link the way a project's local hub does."""

    def __init__(self, key_file: Path) -> None:
        self.key_file = key_file
        self.key = key_file.read_bytes().strip()
        self.token = b"not set yet"
        self.links: asyncio.Queue[Link] = asyncio.Queue()
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    def serve(self, project_id: str) -> None:
        self.token = derive_token(self.key, uuid.UUID(project_id)).encode()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(LinkError):  # the runner's probe connects and leaves
            self.links.put_nowait(await accept(reader, writer, self.token))

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@pytest.fixture
async def standin(tmp_path: Path) -> AsyncIterator[StandinProject]:
    key_file = tmp_path / "project-token.key"
    key_file.write_bytes(b"k" * 32)
    project = StandinProject(key_file)
    await project.start()
    yield project
    await project.close()


@pytest.fixture
def hub_overrides(standin: StandinProject) -> dict[str, Any]:
    return {
        "project_runner": "template",
        "project_address_template": f"127.0.0.1:{standin.port}",
        "project_token_key_file": str(standin.key_file),
    }


async def ask(client: Any, event: str, **fields: Any) -> dict[str, Any]:
    return await client.call(event, raise_errors=False, **fields)


async def next_save_blob(link: Link) -> dict[str, Any]:
    async with asyncio.timeout(seconds(10)):
        while True:
            frame = await link.receive()
            if isinstance(frame, JsonFrame):
                message = msgspec.json.decode(frame.payload)
                if message.get("event") == "save_blob":
                    return dict(message)


async def project_saves(link: Link, name: str, data: bytes | None, **extra: Any) -> dict[str, Any]:
    if data is not None:
        await link.send_blob(name, data)
    await link.send({"event": "save_blob", "sha1": name, **extra})
    return await next_save_blob(link)


async def blob_row(hub: Any, name: str) -> Any:
    return await hub.db.fetchrow(
        "SELECT project_id, sha1, size, expire = 'infinity' AS forever,"
        " CASE WHEN expire = 'infinity' THEN NULL ELSE extract(epoch FROM expire - now()) END"
        " AS left_s FROM blobs WHERE id = $1",
        uuid.UUID(name),
    )


async def test_project_saves_and_clients_keep(connect: Any, hub: Any, standin: Any) -> None:
    async with connect() as owner, connect() as stranger:
        me = await ask(
            owner,
            "create_account",
            email_address="blob@example.com",
            password=PASSWORD,
            agreed_to_terms=True,
        )
        assert me["event"] in ("account_created", "signed_in"), me
        await ask(
            stranger,
            "create_account",
            email_address="other@example.com",
            password=PASSWORD,
            agreed_to_terms=True,
        )
        pid = (await ask(owner, "create_project", title="B"))["project_id"]
        standin.serve(pid)
        opened = await ask(
            owner, "open_project", project_id=pid, quota={}, idle_timeout=0, ssh_public_key=""
        )
        assert opened["event"] == "project_opened", opened
        link = await asyncio.wait_for(standin.links.get(), seconds(10))

        # a project saves a blob (split over several frames by the link) for an hour
        data = bytes(range(256)) * 8000  # 2 MB: more than one frame
        name = uuidsha1(data)
        reply = await project_saves(link, name, data, ttl=3600)
        assert reply == {"event": "save_blob", "sha1": name, "ttl": 3600}
        row = await blob_row(hub, name)
        assert str(row["project_id"]) == pid and row["size"] == len(data)
        assert row["sha1"] == hashlib.sha1(data).hexdigest()
        assert 3500 < row["left_s"] <= 3600
        # the same bytes again, for less time: stored once, its life not shortened
        assert (await project_saves(link, name, data, ttl=60))["ttl"] == 60
        assert await hub.db.fetchval("SELECT count(*) FROM blobs WHERE sha1 = $1", row["sha1"]) == 1
        assert (await blob_row(hub, name))["left_s"] > 3500
        # no ttl: the default; more than the maximum: capped
        small = b"small"
        assert (await project_saves(link, uuidsha1(small), small))["ttl"] == 86400
        huge = await project_saves(link, uuidsha1(b"x"), b"x", ttl=10**9)
        assert huge["ttl"] == hub.settings.save_blob_max_ttl_s

        # bad saves are answered with an error, and the link stays up
        wrong = await project_saves(link, uuidsha1(b"one"), b"two")
        assert wrong["error"] == "the blob's content does not match its name (uuidsha1 of the data)"
        missing = await project_saves(link, uuidsha1(b"never sent"), None)
        assert missing["error"].startswith("no blob frame named")
        odd = await project_saves(link, uuidsha1(b"t"), b"t", ttl=-1)
        assert odd["error"] == "ttl must be a number of seconds >= 0"

        # a client keeps the blob forever (by its uuid), or for a while (by its hex)
        kept = await owner.call("save_blob", raise_errors=False, sha1=name)
        assert kept == {"event": "save_blob", "id": kept["id"], "sha1": name, "ttl": 0}
        assert (await blob_row(hub, name))["forever"] is True
        hexname = hashlib.sha1(small).hexdigest()
        kept = await ask(owner, "save_blob", sha1=hexname, ttl=7 * 86400)
        assert kept["sha1"] == uuidsha1(small) and kept["ttl"] == 7 * 86400
        assert (await blob_row(hub, uuidsha1(small)))["left_s"] > 6 * 86400

        # break-in: not on the project, unknown, bad ttl
        for client, fields in (
            (stranger, {"sha1": name}),
            (owner, {"sha1": uuidsha1(b"nothing like it")}),
            (owner, {"sha1": "not a name"}),
        ):
            refused = await ask(client, "save_blob", **fields)
            assert refused["error"] == "no such blob (unknown or expired)", refused
        negative = await ask(owner, "save_blob", sha1=name, ttl=-5)
        assert negative["error"].startswith("ttl must be a number of seconds >= 0")

        # expired blobs go with the clean-up; kept-forever ones stay
        await hub.db.execute(
            "UPDATE blobs SET expire = now() - interval '1 second' WHERE id = $1",
            uuid.UUID(uuidsha1(b"x")),
        )
        counts = await expired.delete_expired(hub.db)
        assert counts["blobs"] >= 1
        assert await blob_row(hub, uuidsha1(b"x")) is None
        assert (await blob_row(hub, name))["forever"] is True
        link.close()


async def test_save_blob_is_not_an_http_api_event(http: Any, http_url: str) -> None:
    async with http.post(f"{http_url}/api/v1/save_blob", data={"sha1": "x"}) as r:
        assert r.status in (400, 401, 404)
