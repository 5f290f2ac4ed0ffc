"""The console's files over plain HTTP: types, headers, and nothing else reachable."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.fixtures.timeouts import seconds


async def raw_get(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    """A GET sent byte for byte: HTTP clients tidy `..` away before sending it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), seconds(10))
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


async def test_the_console_files_and_their_types(hub: Any) -> None:
    status, headers, body = await raw_get(hub.port, "/")
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
    assert b'src="/web/app.js"' in body
    assert "default-src 'self'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    for name, kind in [
        ("app.js", "text/javascript"),
        ("connection.js", "text/javascript"),
        ("terminal.js", "text/javascript"),
        ("style.css", "text/css"),
        ("index.html", "text/html"),
    ]:
        status, headers, body = await raw_get(hub.port, f"/web/{name}")
        assert status == 200 and headers["content-type"] == f"{kind}; charset=utf-8", name
        assert body


@pytest.mark.parametrize(
    "path",
    [
        "/web/",
        "/web",
        "/web/../pyproject.toml",
        "/web/%2e%2e/pyproject.toml",
        "/web/..%2fpyproject.toml",
        "/web/../../hub/app.py",
        "/web/sub/app.js",
        "/web/nope.js",
        "/web/app.py",
        "/web/.hidden.js",
        "/web/app.js/",
        "/web/..",
        "/index.html",
    ],
)
async def test_nothing_else_is_served(hub: Any, path: str) -> None:
    status, _, body = await raw_get(hub.port, path)
    assert status == 404, (path, status)
    assert b"[project]" not in body and b"import" not in body


@pytest.mark.parametrize("hub_overrides", [{"web_console": False}])
async def test_the_console_can_be_turned_off(hub: Any) -> None:
    assert (await raw_get(hub.port, "/"))[0] == 404
    assert (await raw_get(hub.port, "/web/app.js"))[0] == 404
    assert (await raw_get(hub.port, "/healthz"))[0] == 200
