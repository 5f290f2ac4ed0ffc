"""print_to_pdf end to end: a real project turns its files into PDFs with real converters
(headless Chromium for HTML), and refuses what it cannot or may not do."""

from __future__ import annotations

import asyncio
import os
import shutil
from typing import Any

import pytest

from tests.fixtures.timeouts import seconds

PASSWORD = "pdf-pass-1"
CHROMIUM = "/usr/bin/chromium"
needs_chromium = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK), reason=f"{CHROMIUM} is not installed (scripts/system-deps.sh)"
)
TEX = "\\documentclass{article}\\begin{document}Hi\\end{document}\n"
PAGE = "<!doctype html><html><head><title>T</title></head><body><h1>Hello PDF</h1></body></html>"


async def ask(client: Any, event: str, **fields: Any) -> dict[str, Any]:
    reply: dict[str, Any] = await client.call(
        event, raise_errors=False, wait_s=seconds(60), **fields
    )
    return reply


async def sign_up(client: Any, email: str) -> str:
    me = await ask(
        client, "create_account", email_address=email, password=PASSWORD, agreed_to_terms=True
    )
    assert me["event"] == "signed_in", me
    return str(me["account_id"])


async def new_project(client: Any) -> str:
    reply = await ask(client, "create_project", title="PDF", description="d")
    assert reply["event"] == "project_created", reply
    return str(reply["project_id"])


async def write(client: Any, pid: str, path: str, content: str) -> None:
    reply = await ask(
        client, "write_text_file_to_project", project_id=pid, path=path, content=content
    )
    assert reply["event"] == "file_written_to_project", reply


async def head(client: Any, pid: str, path: str) -> str:
    """The first bytes of a file in the project (a PDF starts with %PDF-)."""
    out = await ask(client, "project_exec", project_id=pid, command="head", args=["-c", "5", path])
    assert out["event"] == "project_exec_output", out
    return str(out["stdout"])


@needs_chromium
async def test_html_becomes_a_pdf(connect: Any) -> None:
    async with connect() as c:
        await sign_up(c, "pdf@example.com")
        pid = await new_project(c)
        await write(c, pid, "docs/page.html", PAGE)
        reply = await ask(c, "print_to_pdf", project_id=pid, path="docs/page.html")
        assert reply == {"event": "printed_to_pdf", "id": reply["id"], "path": "docs/page.pdf"}
        assert await head(c, pid, "docs/page.pdf") == "%PDF-"

        reply = await ask(
            c,
            "print_to_pdf",
            project_id=pid,
            path="docs/page.html",
            options={"output": "out/report.pdf", "header_footer": True},
        )
        assert reply["path"] == "out/report.pdf"
        assert await head(c, pid, "out/report.pdf") == "%PDF-"

        # plain text prints too; no stray files are left beside the output
        await write(c, pid, "notes.txt", "just text\n")
        assert (await ask(c, "print_to_pdf", project_id=pid, path="notes.txt"))["path"] == (
            "notes.pdf"
        )
        listing = await ask(c, "project_exec", project_id=pid, command="ls", args=["-A", "docs"])
        assert listing["stdout"].split() == ["page.html", "page.pdf"]


@needs_chromium
async def test_inside_local_hub(connect: Any) -> None:
    """CoCalc's way: the message goes to the project wrapped in local_hub."""
    async with connect() as c:
        await sign_up(c, "wrapped@example.com")
        pid = await new_project(c)
        await write(c, pid, "page.html", PAGE)
        reply = await ask(
            c,
            "local_hub",
            project_id=pid,
            timeout=60,
            message={"event": "print_to_pdf", "path": "page.html"},
        )
        assert reply == {"event": "printed_to_pdf", "id": reply["id"], "path": "page.pdf"}
        assert await head(c, pid, "page.pdf") == "%PDF-"


@needs_chromium
async def test_time_limit(connect: Any) -> None:
    async with connect() as c:
        await sign_up(c, "slow@example.com")
        pid = await new_project(c)
        await write(c, pid, "page.html", PAGE)
        reply = await ask(
            c, "print_to_pdf", project_id=pid, path="page.html", options={"timeout": 0.001}
        )
        assert reply["error"] == "print_to_pdf: chromium did not finish within 0.001 s"
        too_long = await ask(
            c, "print_to_pdf", project_id=pid, path="page.html", options={"timeout": 121}
        )
        assert too_long["error"] == "print_to_pdf: options.timeout may be at most 120 s"
        ls = await ask(c, "project_exec", project_id=pid, command="ls", args=["-A"])
        assert "page.pdf" not in ls["stdout"].split()
        assert "partial" not in ls["stdout"]  # the unfinished output was removed


async def test_missing_converters_are_named(connect: Any) -> None:
    async with connect() as c:
        await sign_up(c, "tex@example.com")
        pid = await new_project(c)
        await write(c, pid, "paper.tex", TEX)
        await write(c, pid, "readme.md", "# Title\n\ntext\n")
        if shutil.which("pdflatex") is None:
            reply = await ask(c, "print_to_pdf", project_id=pid, path="paper.tex")
            assert reply["event"] == "error"
            assert reply["error"] == (
                "print_to_pdf: converting LaTeX needs pdflatex (TeX Live), which is not"
                " installed where this project runs"
            )
        if shutil.which("pandoc") is None:
            reply = await ask(c, "print_to_pdf", project_id=pid, path="readme.md")
            assert reply["error"] == (
                "print_to_pdf: converting Markdown needs pandoc, which is not installed where"
                " this project runs"
            )
        await write(c, pid, "memo.docx", "not really")
        reply = await ask(c, "print_to_pdf", project_id=pid, path="memo.docx")
        assert reply["error"].startswith("print_to_pdf: cannot convert '.docx' files (supported:")
        reply = await ask(c, "print_to_pdf", project_id=pid, path="nope.html")
        assert reply["error"] == "print_to_pdf: no such file 'nope.html'"
        reply = await ask(
            c, "print_to_pdf", project_id=pid, path="readme.md", options={"landscape": True}
        )
        assert reply["error"] == (
            "print_to_pdf: unknown option landscape (known: output, timeout, header_footer)"
        )


async def test_paths_stay_in_the_project(connect: Any) -> None:
    async with connect() as c:
        await sign_up(c, "escape@example.com")
        pid = await new_project(c)
        await write(c, pid, "page.html", PAGE)
        for path in ("../../../../etc/hostname.html", "/etc/passwd", ".smc/secret.html"):
            reply = await ask(c, "print_to_pdf", project_id=pid, path=path)
            assert reply["event"] == "error", (path, reply)
            assert "outside the project" in reply["error"] or ".smc" in reply["error"], reply
        for output in ("../../escape.pdf", "/tmp/escape.pdf"):
            reply = await ask(
                c, "print_to_pdf", project_id=pid, path="page.html", options={"output": output}
            )
            assert "outside the project" in reply["error"], (output, reply)
        reply = await ask(
            c, "print_to_pdf", project_id=pid, path="page.html", options={"output": ".bashrc"}
        )
        assert reply["error"] == "print_to_pdf: options.output must be a path ending in .pdf"
        # a link inside the project that points out of it is refused, as input and as output
        link = await ask(
            c,
            "project_exec",
            project_id=pid,
            command="ln -s /etc/hostname host.html && ln -s /tmp/pdf-escape.pdf out.pdf",
            bash=True,
        )
        assert link["event"] == "project_exec_output", link
        reply = await ask(c, "print_to_pdf", project_id=pid, path="host.html")
        assert "outside the project" in reply["error"]
        reply = await ask(
            c, "print_to_pdf", project_id=pid, path="page.html", options={"output": "out.pdf"}
        )
        assert "outside the project" in reply["error"]
        assert not await asyncio.to_thread(os.path.exists, "/tmp/pdf-escape.pdf")
        missing = await ask(c, "print_to_pdf", path="page.html")
        assert missing["error"] == "print_to_pdf: project_id must be given"


async def test_only_collaborators_may_print(connect: Any) -> None:
    async with connect() as owner, connect() as other, connect() as anonymous:
        await sign_up(owner, "owner-pdf@example.com")
        other_id = await sign_up(other, "other-pdf@example.com")
        pid = await new_project(owner)
        await write(owner, pid, "page.html", PAGE)
        reply = await ask(other, "print_to_pdf", project_id=pid, path="page.html")
        assert reply["error"] == f"User {other_id} does not have write access to project {pid}"
        reply = await ask(anonymous, "print_to_pdf", project_id=pid, path="page.html")
        assert reply["event"] == "error" and "signed in" in reply["error"]
        ls = await ask(owner, "project_exec", project_id=pid, command="ls", args=["-A"])
        assert "page.pdf" not in ls["stdout"].split()
