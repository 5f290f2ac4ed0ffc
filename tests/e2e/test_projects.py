"""Projects from a user's side: create, share, run commands, read and write files,
over the WebSocket and the HTTP API, with real local hub processes."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import tarfile
import uuid
from typing import Any

import pytest

from hub.db import projects as project_table
from tests.fixtures.hub import basic_auth
from tests.fixtures.timeouts import eventually, seconds

PASSWORD = "project-pass-1"


async def account(connect: Any, email: str) -> tuple[Any, dict[str, Any]]:
    """A signed-in client (the caller closes it) and its signed_in reply."""
    client_cm = connect()
    client = await client_cm.__aenter__()
    me = await client.call(
        "create_account",
        email_address=email,
        password=PASSWORD,
        agreed_to_terms=True,
        get_api_key=True,
    )
    client._cm = client_cm
    return client, me


async def close(client: Any) -> None:
    await client._cm.__aexit__(None, None, None)


async def new_project(client: Any, title: str = "P") -> str:
    reply = await client.call("create_project", title=title, description="d")
    assert reply["event"] == "project_created"
    return str(reply["project_id"])


async def test_create_and_exec_over_websocket(connect) -> None:
    c, _ = await account(connect, "exec@example.com")
    try:
        pid = await new_project(c)
        out = await c.call("project_exec", project_id=pid, command="pwd")
        assert out["event"] == "project_exec_output"
        assert out["stdout"].strip().endswith(pid)
        assert out["exit_code"] == 0
        out = await c.call("project_exec", project_id=pid, command="pwd", path="/etc")
        assert out["stdout"].strip() == "/etc"
        out = await c.call("project_exec", project_id=pid, command="echo", args=["hello", "world"])
        assert out["stdout"] == "hello world\n"
        out = await c.call(
            "project_exec", project_id=pid, command="echo", args=["hello", "world"], max_output=5
        )
        assert out["stdout"] == "hello (truncated at 5 characters)"
        err = await c.call(
            "project_exec",
            project_id=pid,
            command="sleep 5;echo done",
            timeout=1,
            raise_errors=False,
        )
        assert err["event"] == "error"
        assert "killed command" in err["error"]
        bad = await c.call("project_exec", project_id=pid, command="false", raise_errors=False)
        assert bad["event"] == "error" and "exited with nonzero code 1" in bad["error"]
        ok = await c.call("project_exec", project_id=pid, command="false", err_on_exit=False)
        assert ok["exit_code"] == 1
    finally:
        await close(c)


async def test_text_files_and_access_rules(connect, hub) -> None:
    owner, _ = await account(connect, "owner@example.com")
    other, other_me = await account(connect, "other@example.com")
    try:
        pid = await new_project(owner)
        wrote = await owner.call(
            "write_text_file_to_project", project_id=pid, path="A1/doc1.txt", content="hello\nworld"
        )
        assert wrote["event"] == "file_written_to_project"
        read = await owner.call("read_text_file_from_project", project_id=pid, path="A1/doc1.txt")
        assert read["content"] == "hello\nworld"
        missing = await owner.call(
            "read_text_file_from_project", project_id=pid, path="nope.txt", raise_errors=False
        )
        assert missing["event"] == "error"
        escape = await owner.call(
            "read_text_file_from_project",
            project_id=pid,
            path="../../../../etc/passwd",
            raise_errors=False,
        )
        assert escape["event"] == "error" and "outside the project" in escape["error"]

        denied = await other.call("project_exec", project_id=pid, command="id", raise_errors=False)
        assert denied["error"] == (
            f"User {other_me['account_id']} does not have write access to project {pid}"
        )
        denied = await other.call(
            "read_text_file_from_project", project_id=pid, path="A1/doc1.txt", raise_errors=False
        )
        assert "does not have read access" in denied["error"]

        # a viewer reads but does not write
        await project_table.add_user(
            hub.db, uuid.UUID(pid), uuid.UUID(other_me["account_id"]), project_table.VIEWER
        )
        read = await other.call("read_text_file_from_project", project_id=pid, path="A1/doc1.txt")
        assert read["content"] == "hello\nworld"
        denied = await other.call(
            "write_text_file_to_project",
            project_id=pid,
            path="x.txt",
            content="no",
            raise_errors=False,
        )
        assert "does not have write access" in denied["error"]

        # invite makes a collaborator, who may write; remove takes it away again
        await project_table.remove_user(hub.db, uuid.UUID(pid), uuid.UUID(other_me["account_id"]))
        ok = await owner.call(
            "invite_collaborator", project_id=pid, account_id=other_me["account_id"]
        )
        assert ok["event"] == "success"
        wrote = await other.call(
            "write_text_file_to_project", project_id=pid, path="x.txt", content="yes"
        )
        assert wrote["event"] == "file_written_to_project"
        ok = await owner.call(
            "remove_collaborator", project_id=pid, account_id=other_me["account_id"]
        )
        assert ok["event"] == "success"
        denied = await other.call(
            "write_text_file_to_project",
            project_id=pid,
            path="x.txt",
            content="no",
            raise_errors=False,
        )
        assert "does not have write access" in denied["error"]
    finally:
        await close(owner)
        await close(other)


async def test_reading_many_files_at_once(connect) -> None:
    c, _ = await account(connect, "many@example.com")
    try:
        p1, p2 = await new_project(c, "one"), await new_project(c, "two")
        await c.call("write_text_file_to_project", project_id=p1, path="a.txt", content="A")
        await c.call("write_text_file_to_project", project_id=p2, path="b.txt", content="B")
        reply = await c.call(
            "read_text_file_from_project", project_id=[p1, p2, p1], path=["a.txt", "b.txt", "zz"]
        )
        by_path = {r["path"]: r for r in reply["content"]}
        assert by_path["a.txt"]["content"] == "A"
        assert by_path["b.txt"]["content"] == "B"
        assert "error" in by_path["zz"]
    finally:
        await close(c)


async def test_two_clients_with_the_same_id_get_their_own_replies(connect) -> None:
    a, _ = await account(connect, "same-a@example.com")
    try:
        pid = await new_project(a)
        b_cm = connect()
        b = await b_cm.__aenter__()
        try:
            await b.call("sign_in", email_address="same-a@example.com", password=PASSWORD)
            results = await asyncio.gather(
                a.call("project_exec", id="same", project_id=pid, command="echo", args=["A"]),
                b.call("project_exec", id="same", project_id=pid, command="echo", args=["B"]),
            )
            assert [r["stdout"] for r in results] == ["A\n", "B\n"]
            assert all(r["id"] == "same" for r in results)
        finally:
            await b_cm.__aexit__(None, None, None)
    finally:
        await close(a)


async def test_http_api_curl_examples(http, http_url) -> None:
    async with http.post(
        f"{http_url}/api/v1/create_account",
        data={
            "email_address": "curl@example.com",
            "password": PASSWORD,
            "agreed_to_terms": "true",
            "get_api_key": "true",
        },
    ) as r:
        key = (await r.json())["api_key"]
    auth = basic_auth(key)
    async with http.post(
        f"{http_url}/api/v1/create_project", data={"title": "T"}, headers=auth
    ) as r:
        pid = (await r.json())["project_id"]
    async with http.post(
        f"{http_url}/api/v1/project_exec", data={"command": "pwd", "project_id": pid}, headers=auth
    ) as r:
        body = await r.json()
    assert body["event"] == "project_exec_output" and body["stdout"].strip().endswith(pid)
    async with http.post(
        f"{http_url}/api/v1/project_exec",
        json={"command": "echo", "args": ["xyz", "abc"], "project_id": pid},
        headers=auth,
    ) as r:
        assert (await r.json())["stdout"] == "xyz abc\n"
    async with http.post(
        f"{http_url}/api/v1/project_exec",
        data=[("command", "echo"), ("args[]", "x"), ("args[]", "y"), ("project_id", pid)],
        headers=auth,
    ) as r:
        assert (await r.json())["stdout"] == "x y\n"
    async with http.post(
        f"{http_url}/api/v1/project_exec",
        json={"command": "echo", "args": ["xyz", "abc"], "max_output": 3, "project_id": pid},
        headers=auth,
    ) as r:
        assert (await r.json())["stdout"] == "xyz (truncated at 3 characters)"
    async with http.post(
        f"{http_url}/api/v1/project_exec",
        json={"command": "sleep 5", "timeout": 1, "project_id": pid},
        headers=auth,
    ) as r:
        body = await r.json()
    assert body["event"] == "error" and "killed command" in body["error"]
    async with http.post(
        f"{http_url}/api/v1/write_text_file_to_project",
        data={"project_id": pid, "content": "hello\nworld", "path": "Assignments/A1/h1.txt"},
        headers=auth,
    ) as r:
        assert (await r.json())["event"] == "file_written_to_project"
    async with http.post(
        f"{http_url}/api/v1/read_text_file_from_project",
        data={"project_id": pid, "path": "Assignments/A1/h1.txt"},
        headers=auth,
    ) as r:
        body = await r.json()
    assert body == {
        "event": "text_file_read_from_project",
        "id": body["id"],
        "content": "hello\nworld",
    }


async def test_command_that_ignores_sigterm_is_killed(connect) -> None:
    c, _ = await account(connect, "stubborn@example.com")
    marker = f"60.{uuid.uuid4().int % 10**9}"  # unique, so other tests' processes never match
    try:
        pid = await new_project(c)
        err = await c.call(
            "project_exec",
            project_id=pid,
            command=f"trap '' TERM; sleep {marker} & sleep {marker}",
            timeout=1,
            raise_errors=False,
        )
        assert "killed command" in err["error"]
        # nothing of it is left running
        # (the pattern's [.] keeps pgrep from matching its own shell)
        pattern = f"sleep {marker.replace('.', '[.]')}"
        ps = await c.call("project_exec", project_id=pid, command=f"pgrep -f '{pattern}' || true")
        assert ps["stdout"].strip() == ""
    finally:
        await close(c)


async def test_local_hub_killed_mid_call_fails_the_call_at_once(connect, hub) -> None:
    c, _ = await account(connect, "killed@example.com")
    try:
        pid = await new_project(c)
        await c.call("project_exec", project_id=pid, command="true")
        status = await hub.state.runner.status(uuid.UUID(pid))
        assert status.pid is not None
        call = asyncio.ensure_future(
            c.call(
                "project_exec", project_id=pid, command="sleep 30", timeout=60, raise_errors=False
            )
        )
        conn = await hub.state.projects.get(uuid.UUID(pid))
        await eventually(lambda: len(conn._pending) == 1, 5)
        os.killpg(status.pid, signal.SIGKILL)
        reply = await asyncio.wait_for(call, seconds(10))
        assert reply["event"] == "error"
        assert "lost connection to project" in reply["error"]
        # the next call starts the project again
        again = await c.call("project_exec", project_id=pid, command="echo", args=["back"])
        assert again["stdout"] == "back\n"
    finally:
        await close(c)


async def test_streamed_output_and_client_leaving_mid_stream(connect, hub) -> None:
    c, _ = await account(connect, "stream@example.com")
    try:
        pid = await new_project(c)
        parts = []
        async for reply in c.stream(
            "local_hub",
            project_id=pid,
            multi_response=True,
            message={
                "event": "project_exec",
                "command": "for i in 1 2 3; do echo $i; sleep 0.1; done",
                "stream": True,
                "timeout": 10,
            },
        ):
            parts.append(reply)
        assert all(p["id"] == parts[0]["id"] for p in parts)
        assert "".join(p.get("stdout", "") for p in parts) == "1\n2\n3\n"
        assert parts[-1].get("exit_code") == 0
        assert all(p.get("multi_response") is True for p in parts[:-1])
    finally:
        await close(c)
    # a client that leaves mid-stream leaves nothing pending behind
    c2, _ = await account(connect, "leaver@example.com")
    pid2 = await new_project(c2)
    await c2.send(
        {
            "event": "local_hub",
            "id": "s1",
            "project_id": pid2,
            "multi_response": True,
            "message": {
                "event": "project_exec",
                "command": "sleep 20",
                "stream": True,
                "timeout": 30,
            },
        }
    )
    conn = await hub.state.projects.get(uuid.UUID(pid2))
    await eventually(lambda: len(conn._pending) == 1, 5)
    await close(c2)
    await eventually(lambda: not conn._pending, 5)


async def test_huge_output_is_capped(connect) -> None:
    c, _ = await account(connect, "huge@example.com")
    try:
        pid = await new_project(c)
        reply = await c.call(
            "project_exec",
            project_id=pid,
            command="head -c 50000000 /dev/zero | tr '\\0' x",
            timeout=30,
            raise_errors=False,
        )
        text = reply.get("stdout", "") + reply.get("error", "")
        assert len(text) < 12 * 1024 * 1024
        assert (await c.call("ping"))["event"] == "pong"
    finally:
        await close(c)


async def test_project_links_are_listed_and_can_be_dropped(connect, hub) -> None:
    c, _ = await account(connect, "links@example.com")
    other, _ = await account(connect, "links-other@example.com")
    try:
        pid = await new_project(c)
        opened = await c.call(
            "open_project", project_id=pid, quota={}, idle_timeout=0, ssh_public_key=""
        )
        assert opened["event"] == "project_opened"
        running = await c.call("projects_running_on_server")
        assert pid in running["projects"]
        assert pid not in (await other.call("projects_running_on_server"))["projects"]
        assert (await c.call("disconnect_from_project", project_id=pid))["event"] == "success"
        assert pid not in (await c.call("projects_running_on_server"))["projects"]
        out = await c.call("project_exec", project_id=pid, command="echo", args=["again"])
        assert out["stdout"] == "again\n"
    finally:
        await close(c)
        await close(other)


async def test_download_and_upload_blobs(connect, http, http_url) -> None:
    c, me = await account(connect, "blobs@example.com")
    other, other_me = await account(connect, "blobs-other@example.com")
    try:
        pid = await new_project(c)
        await c.call("write_text_file_to_project", project_id=pid, path="d/a.txt", content="AAA")
        made = await c.call("read_file_from_project", project_id=pid, path="d")
        assert made["event"] == "file_read_from_project" and made["archive"] == "tar.bz2"
        url = f"{http_url}/blobs/{made['data_uuid']}"
        async with http.get(url, headers=basic_auth(me["api_key"])) as r:
            assert r.status == 200
            data = await r.read()
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:bz2") as tar:
            names = tar.getnames()
        assert any(n.endswith("a.txt") for n in names)
        async with http.get(url, headers=basic_auth(other_me["api_key"])) as r:
            assert r.status == 404
        async with http.get(url) as r:
            assert r.status == 401
        async with http.post(
            f"{http_url}/blobs", data=b"uploaded bytes", headers=basic_auth(me["api_key"])
        ) as r:
            up = await r.json()
        done = await c.call(
            "write_file_to_project", project_id=pid, path="up/file.bin", data_uuid=up["uuid"]
        )
        assert done["event"] == "file_written_to_project"
        read = await c.call("read_text_file_from_project", project_id=pid, path="up/file.bin")
        assert read["content"] == "uploaded bytes"
        # someone else's upload cannot be written into my project
        async with http.post(
            f"{http_url}/blobs", data=b"x", headers=basic_auth(other_me["api_key"])
        ) as r:
            theirs = await r.json()
        refused = await c.call(
            "write_file_to_project",
            project_id=pid,
            path="t",
            data_uuid=theirs["uuid"],
            raise_errors=False,
        )
        assert refused["event"] == "error"
    finally:
        await close(c)
        await close(other)


@pytest.mark.parametrize("hub_overrides", [{"blob_upload_max_bytes": 10}])
async def test_upload_over_the_limit_is_413(http, http_url) -> None:
    async with http.post(
        f"{http_url}/api/v1/create_account",
        data={
            "email_address": "up@example.com",
            "password": PASSWORD,
            "agreed_to_terms": "true",
            "get_api_key": "true",
        },
    ) as r:
        key = (await r.json())["api_key"]
    async with http.post(f"{http_url}/blobs", data=b"x" * 10, headers=basic_auth(key)) as r:
        assert r.status == 200
    async with http.post(f"{http_url}/blobs", data=b"x" * 11, headers=basic_auth(key)) as r:
        assert r.status == 413


async def test_project_scoped_key_acts_on_its_project_only(connect, http, http_url) -> None:
    c, me = await account(connect, "scoped@example.com")
    try:
        p1, p2 = await new_project(c, "one"), await new_project(c, "two")
        made = await c.call("api_keys", action="create", project_id=p1, name="ci")
        key = made["response"][0]["secret"]
        listed = await c.call("api_keys", action="get", project_id=p1)
        assert [k["name"] for k in listed["response"]] == ["ci"]
        assert "secret" not in listed["response"][0]
        auth = basic_auth(key)

        async def post(event: str, **data: Any) -> dict[str, Any]:
            async with http.post(f"{http_url}/api/v1/{event}", json=data, headers=auth) as r:
                return dict(await r.json())

        ok = await post("project_exec", project_id=p1, command="echo", args=["in p1"])
        assert ok["stdout"] == "in p1\n"
        denied = await post("project_exec", project_id=p2, command="true")
        assert denied["error"] == (
            f"User {me['account_id']} does not have write access to project {p2}"
        )
        denied = await post("create_project", title="nope")
        assert denied["event"] == "error"
        # revoked: the key stops working at once
        await c.call("api_keys", action="delete", project_id=p1, key_id=made["response"][0]["id"])
        async with http.post(
            f"{http_url}/api/v1/project_exec",
            json={"project_id": p1, "command": "true"},
            headers=auth,
        ) as r:
            assert r.status == 401
    finally:
        await close(c)


async def test_a_restarted_hub_finds_running_projects_again(dsn, tmp_path) -> None:
    from hub.app import Hub
    from hub.client import HubClient
    from hub.config import Settings
    from tests.fixtures.hub import FAST_HASHING, stop_projects

    settings = Settings.load(
        environ={}, port=0, database_url=dsn, data_dir=tmp_path / "data", **FAST_HASHING
    )
    first = Hub(settings)
    await first.start()
    try:
        async with HubClient.connect(f"ws://127.0.0.1:{first.port}/hub") as c:
            await c.call(
                "create_account",
                email_address="restart@example.com",
                password=PASSWORD,
                agreed_to_terms=True,
            )
            pid = await new_project(c)
            before = await c.call("project_exec", project_id=pid, command="true")
            daemon_before = (await first.state.runner.status(uuid.UUID(pid))).pid
    finally:
        await first.stop()
    second = Hub(settings)
    await second.start()
    try:
        async with HubClient.connect(f"ws://127.0.0.1:{second.port}/hub") as c:
            await c.call("sign_in", email_address="restart@example.com", password=PASSWORD)
            after = await c.call("project_exec", project_id=pid, command="true")
            status = await second.state.runner.status(uuid.UUID(pid))
        # the same daemon served both hubs: no second start
        assert status.state == "running"
        assert daemon_before is not None and status.pid == daemon_before
        assert before["event"] == after["event"] == "project_exec_output"
        assert len(list((tmp_path / "data" / "runner").glob("*.json"))) == 1
    finally:
        await second.stop()
        await stop_projects(settings)


# lossless pacing is what this test is about, so the output rate limit is off
@pytest.mark.parametrize(
    "hub_overrides", [{"stream_max_bytes_per_s": 0, "stream_max_messages_per_s": 0}]
)
async def test_a_stream_waits_for_a_client_that_pauses_reading(connect, ws_url, hub) -> None:
    import json

    import websockets

    c, _ = await account(connect, "pause@example.com")
    try:
        pid = await new_project(c)
        await c.call(
            "sign_in", email_address="pause@example.com", password=PASSWORD, remember_me=True
        )
        while (push := await c.next_push())["event"] != "cookies":
            pass
        cookie = push["value"]
    finally:
        await close(c)
    size = 48 * 1024 * 1024  # far more than the outbound queue holds in 64 KiB chunks
    async with websockets.connect(
        ws_url,
        additional_headers={"Cookie": f"remember_me={cookie}"},
        max_queue=1,
        max_size=2**24,
    ) as ws:
        assert json.loads(await ws.recv())["event"] == "signed_in"
        await ws.send(
            json.dumps(
                {
                    "event": "local_hub",
                    "id": "big",
                    "project_id": pid,
                    "multi_response": True,
                    "message": {
                        "event": "project_exec",
                        "stream": True,
                        "timeout": 60,
                        "command": f"head -c {size} /dev/zero | tr '\\0' x",
                    },
                }
            )
        )
        await asyncio.sleep(2)  # the client reads nothing for a while: the stream must wait
        received = 0
        async with asyncio.timeout(seconds(60)):
            while True:
                reply = json.loads(await ws.recv())
                assert reply["id"] == "big" and reply["event"] != "error", reply
                received += len(reply.get("stdout", ""))
                if reply.get("multi_response") is not True:
                    break
        assert received == size
        assert reply["exit_code"] == 0
