"""The project API events not covered elsewhere, over HTTP with an API key, as `curl`
would send them: sharing a project, a background copy's status and deletion, and
dropping the hub's link to a project."""

from __future__ import annotations

from typing import Any

from tests.e2e.test_query import http_account
from tests.fixtures.timeouts import eventually


async def post(http: Any, url: str, auth: dict[str, str], event: str, **body: Any) -> Any:
    headers = {k: v for k, v in auth.items() if k == "Authorization"}
    async with http.post(f"{url}/api/v1/{event}", json=body, headers=headers) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def test_sharing_copies_and_links_over_http(http, http_url) -> None:
    owner = await http_account(http, http_url, "http-owner@example.com")
    friend = await http_account(http, http_url, "http-friend@example.com")
    src = (await post(http, http_url, owner, "create_project", title="src"))["project_id"]
    dst = (await post(http, http_url, owner, "create_project", title="dst"))["project_id"]

    # share, use, unshare
    invited = await post(
        http,
        http_url,
        owner,
        "invite_collaborator",
        project_id=src,
        account_id=friend["account_id"],
    )
    assert invited["event"] == "success"
    ran = await post(http, http_url, friend, "project_exec", project_id=src, command="true")
    assert ran["event"] == "project_exec_output"
    removed = await post(
        http,
        http_url,
        owner,
        "remove_collaborator",
        project_id=src,
        account_id=friend["account_id"],
    )
    assert removed["event"] == "success"
    refused = await post(http, http_url, friend, "project_exec", project_id=src, command="true")
    assert refused["event"] == "error" and "does not have write access" in refused["error"]

    # a background copy: its status, then its record deleted
    written = await post(
        http,
        http_url,
        owner,
        "write_text_file_to_project",
        project_id=src,
        path="a.txt",
        content="x",
    )
    assert written["event"] == "file_written_to_project"
    started = await post(
        http,
        http_url,
        owner,
        "copy_path_between_projects",
        src_project_id=src,
        src_path="a.txt",
        target_project_id=dst,
        target_path="b.txt",
    )
    assert started["event"] == "copy_path_between_projects_response"
    copy_id = started["copy_path_id"]

    async def finished() -> bool:
        status = await post(http, http_url, owner, "copy_path_status", copy_path_id=copy_id)
        assert status["event"] == "copy_path_status_response"
        return status["data"]["finished"] is not None

    await eventually(finished, 10)
    # a finished copy cannot be deleted; a scheduled one can, before it starts
    late = await post(http, http_url, owner, "copy_path_delete", copy_path_id=copy_id)
    assert late["error"] == f"Copy operation '{copy_id}' either does not exist or already finished"
    scheduled = await post(
        http,
        http_url,
        owner,
        "copy_path_between_projects",
        src_project_id=src,
        src_path="a.txt",
        target_project_id=dst,
        target_path="c.txt",
        scheduled="2099-01-01T00:00:00Z",
    )
    later_id = scheduled["copy_path_id"]
    deleted = await post(http, http_url, owner, "copy_path_delete", copy_path_id=later_id)
    assert deleted["event"] == "copy_path_status_response", deleted
    gone = await post(http, http_url, owner, "copy_path_status", copy_path_id=later_id)
    assert gone["event"] == "error"

    # the hub drops its link to a project (the next call opens it again)
    dropped = await post(http, http_url, owner, "disconnect_from_project", project_id=dst)
    assert dropped["event"] == "success"
    read = await post(
        http, http_url, owner, "read_text_file_from_project", project_id=dst, path="b.txt"
    )
    assert read["content"] == "x"
