"""Copying paths between projects, as the reference documents it, through real local hubs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fixtures.hub import basic_auth
from tests.fixtures.timeouts import eventually

PASSWORD = "copy-pass-1"
CONTENT = "TEST CONTENT"


async def setup(connect: Any) -> tuple[Any, Any, str, str]:
    cm = connect()
    c = await cm.__aenter__()
    await c.call(
        "create_account",
        email_address="copier@example.com",
        password=PASSWORD,
        agreed_to_terms=True,
    )
    src = (await c.call("create_project", title="TEST1"))["project_id"]
    dst = (await c.call("create_project", title="TEST2"))["project_id"]
    return cm, c, src, dst


async def read(c: Any, project_id: str, path: str) -> str:
    reply = await c.call("read_text_file_from_project", project_id=project_id, path=path)
    return str(reply["content"])


async def test_copies_files_and_directories_as_documented(connect) -> None:
    cm, c, src, dst = await setup(connect)
    try:
        await c.call("write_text_file_to_project", project_id=src, path="doc1.txt", content=CONTENT)
        done = await c.call(
            "copy_path_between_projects",
            src_project_id=src,
            src_path="doc1.txt",
            target_project_id=dst,
            wait_until_done=True,
        )
        assert done["event"] == "success"
        assert await read(c, dst, "doc1.txt") == CONTENT

        await c.call(
            "write_text_file_to_project", project_id=src, path="B2/doc2.txt", content=CONTENT
        )
        for src_path, target_path, expect in (
            ("B2/doc2.txt", None, "B2/doc2.txt"),
            ("B2/doc2.txt", "DIR3/", "DIR3/doc2.txt"),
            ("B2/", "DIR4/", "DIR4/doc2.txt"),
            ("B2", "DIR5", "DIR5/doc2.txt"),
        ):
            fields: dict[str, Any] = {"target_path": target_path} if target_path else {}
            done = await c.call(
                "copy_path_between_projects",
                src_project_id=src,
                src_path=src_path,
                target_project_id=dst,
                wait_until_done=True,
                **fields,
            )
            assert done["event"] == "success", (src_path, done)
            assert await read(c, dst, expect) == CONTENT, (src_path, target_path)
    finally:
        await cm.__aexit__(None, None, None)


async def test_options_newer_backup_delete_and_exclude(connect) -> None:
    cm, c, src, dst = await setup(connect)
    try:
        await c.call("write_text_file_to_project", project_id=src, path="d/a.txt", content="old")
        await c.call("write_text_file_to_project", project_id=src, path="d/skip.log", content="x")
        # the target's copy is newer: kept unless overwrite_newer
        await c.call("write_text_file_to_project", project_id=dst, path="d/a.txt", content="new")
        await c.call("project_exec", project_id=dst, command="touch -d '+1 hour' d/a.txt")
        await c.call(
            "write_text_file_to_project", project_id=dst, path="d/extra.txt", content="extra"
        )
        await c.call(
            "copy_path_between_projects",
            src_project_id=src,
            src_path="d",
            target_project_id=dst,
            wait_until_done=True,
            exclude=["*.log"],
        )
        assert await read(c, dst, "d/a.txt") == "new"
        missing = await c.call(
            "read_text_file_from_project", project_id=dst, path="d/skip.log", raise_errors=False
        )
        assert missing["event"] == "error"
        await c.call(
            "copy_path_between_projects",
            src_project_id=src,
            src_path="d",
            target_project_id=dst,
            wait_until_done=True,
            overwrite_newer=True,
            backup=True,
            delete_missing=True,
        )
        assert await read(c, dst, "d/a.txt") == "old"
        assert await read(c, dst, "d/a.txt~") == "new"
        gone = await c.call(
            "read_text_file_from_project", project_id=dst, path="d/extra.txt", raise_errors=False
        )
        assert gone["event"] == "error"
    finally:
        await cm.__aexit__(None, None, None)


async def test_background_copy_status_and_errors(connect) -> None:
    cm, c, src, dst = await setup(connect)
    try:
        await c.call("write_text_file_to_project", project_id=src, path="f.txt", content=CONTENT)
        started = await c.call(
            "copy_path_between_projects",
            src_project_id=src,
            src_path="f.txt",
            target_project_id=dst,
            target_path="g.txt",
        )
        assert started["event"] == "copy_path_between_projects_response"
        copy_id = started["copy_path_id"]

        async def finished() -> bool:
            status = await c.call("copy_path_status", copy_path_id=copy_id)
            return status["data"]["finished"] is not None

        await eventually(finished, 10)
        status = await c.call("copy_path_status", copy_path_id=copy_id)
        assert status["event"] == "copy_path_status_response"
        assert status["data"]["error"] is None
        assert await read(c, dst, "g.txt") == CONTENT
        listed = await c.call("copy_path_status", target_project_id=dst, pending=False)
        assert [row["copy_path_id"] for row in listed["data"]] == [copy_id]
        # a copy that fails is recorded as failed
        bad = await c.call(
            "copy_path_between_projects",
            src_project_id=src,
            src_path="no-such-file",
            target_project_id=dst,
            wait_until_done=True,
            raise_errors=False,
        )
        assert bad["event"] == "error"
        failed = await c.call("copy_path_status", src_project_id=src, failed=True)
        assert len(failed["data"]) == 1 and failed["data"][0]["error"]
        too_many = await c.call(
            "copy_path_status", src_project_id=src, limit=1001, raise_errors=False
        )
        assert too_many["error"] == "ILLEGAL VALUE limit='1001' (must be in [0, 1000])"
        unknown = await c.call(
            "copy_path_status",
            copy_path_id="00000000-0000-4000-8000-000000000000",
            raise_errors=False,
        )
        assert unknown["error"].startswith("Can't find copy operation with ID=")
    finally:
        await cm.__aexit__(None, None, None)


async def test_scheduled_copy_runs_later_and_can_be_deleted(connect) -> None:
    cm, c, src, dst = await setup(connect)
    try:
        await c.call("write_text_file_to_project", project_id=src, path="s.txt", content=CONTENT)
        later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        scheduled = await c.call(
            "copy_path_between_projects",
            src_project_id=src,
            src_path="s.txt",
            target_project_id=dst,
            scheduled=later,
        )
        copy_id = scheduled["copy_path_id"]
        pending = await c.call("copy_path_status", target_project_id=dst)
        assert [row["copy_path_id"] for row in pending["data"]] == [copy_id]
        deleted = await c.call("copy_path_delete", copy_path_id=copy_id)
        assert deleted["data"] == f"copy_path_id = '{copy_id}' deleted"
        again = await c.call("copy_path_delete", copy_path_id=copy_id, raise_errors=False)
        assert "either does not exist or already finished" in again["error"]
        # one due right away is taken by the scheduler
        soon = (datetime.now(UTC) + timedelta(seconds=0.5)).isoformat()
        scheduled = await c.call(
            "copy_path_between_projects",
            src_project_id=src,
            src_path="s.txt",
            target_project_id=dst,
            target_path="t.txt",
            scheduled=soon,
        )

        async def copied() -> bool:
            reply = await c.call(
                "read_text_file_from_project", project_id=dst, path="t.txt", raise_errors=False
            )
            return reply.get("content") == CONTENT

        await eventually(copied, 15)
    finally:
        await cm.__aexit__(None, None, None)


async def test_copy_access_and_path_escapes(connect) -> None:
    cm, c, src, dst = await setup(connect)
    async with connect() as stranger:
        await stranger.call(
            "create_account",
            email_address="stranger@example.com",
            password=PASSWORD,
            agreed_to_terms=True,
        )
        mine = (await stranger.call("create_project"))["project_id"]
        try:
            # no read access to the source, no write access to the target
            denied = await stranger.call(
                "copy_path_between_projects",
                src_project_id=src,
                src_path="x",
                target_project_id=mine,
                raise_errors=False,
            )
            assert "does not have read access" in denied["error"]
            denied = await stranger.call(
                "copy_path_between_projects",
                src_project_id=mine,
                src_path="x",
                target_project_id=dst,
                raise_errors=False,
            )
            assert "does not have write access" in denied["error"]
            for src_path, target_path in (
                ("../../etc", "x"),
                ("/etc/passwd", "x"),
                ("f", "../../escape.txt"),
            ):
                await c.call("write_text_file_to_project", project_id=src, path="f", content="f")
                bad = await c.call(
                    "copy_path_between_projects",
                    src_project_id=src,
                    src_path=src_path,
                    target_project_id=dst,
                    target_path=target_path,
                    wait_until_done=True,
                    raise_errors=False,
                )
                assert bad["event"] == "error", (src_path, target_path)
        finally:
            await cm.__aexit__(None, None, None)


async def test_copy_over_http_like_the_curl_example(http, http_url) -> None:
    async with http.post(
        f"{http_url}/api/v1/create_account",
        data={
            "email_address": "curl-copy@example.com",
            "password": PASSWORD,
            "agreed_to_terms": "true",
            "get_api_key": "true",
        },
    ) as r:
        auth = basic_auth((await r.json())["api_key"])

    async def post(event: str, **data: Any) -> dict[str, Any]:
        async with http.post(f"{http_url}/api/v1/{event}", data=data, headers=auth) as r:
            assert r.status == 200
            return dict(await r.json())

    src = (await post("create_project", title="A"))["project_id"]
    dst = (await post("create_project", title="B"))["project_id"]
    await post("write_text_file_to_project", project_id=src, path="A/doc.txt", content=CONTENT)
    reply = await post(
        "copy_path_between_projects",
        src_project_id=src,
        src_path="A/doc.txt",
        target_project_id=dst,
        wait_until_done="true",
    )
    assert reply["event"] == "success"
    got = await post("read_text_file_from_project", project_id=dst, path="A/doc.txt")
    assert got["content"] == CONTENT
