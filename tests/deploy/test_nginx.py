"""deploy/nginx/hub.conf: nginx's own config test passes, and a real nginx with it
proxies TLS, the WebSocket upgrade on /hub and the HTTP API to a real hub.

The file is used as shipped except for the lines an operator changes anyway (listen
ports, certificate paths, upstream servers); each of those must be found, so the test
notices when the file changes shape. nginx comes from scripts/system-deps.sh."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import websockets

from hub.app import Hub
from hub.config import Settings
from tests.deploy.test_template_runner import free_port
from tests.fixtures.hub import FAST_HASHING
from tests.fixtures.timeouts import eventually, seconds

CONF = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "hub.conf"
NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx", "/usr/bin/nginx") if Path(p).exists()), None
)
OPENSSL = shutil.which("openssl")

pytestmark = [
    pytest.mark.skipif(NGINX is None, reason="nginx is not installed (scripts/system-deps.sh)"),
    pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed"),
]


def self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            str(OPENSSL),
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=hub.example.com",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=seconds(30),
    )
    return cert, key


def adapted(directory: Path, replacements: dict[str, str]) -> Path:
    """hub.conf with the operator's lines replaced, inside a main config for this test."""
    text = CONF.read_text()
    for old, new in replacements.items():
        assert old in text, f"hub.conf no longer has {old!r}"
        text = text.replace(old, new)
    (directory / "hub.conf").write_text(text)
    for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi", "acme"):
        (directory / name).mkdir(exist_ok=True)
    main = directory / "nginx.conf"
    main.write_text(
        f"""
pid {directory}/nginx.pid;
error_log {directory}/error.log;
worker_processes 1;
events {{ worker_connections 256; }}
http {{
    access_log {directory}/access.log;
    client_body_temp_path {directory}/body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    include {directory}/hub.conf;
}}
"""
    )
    return main


def certificate_lines(cert: Path, key: Path, tmp: Path) -> dict[str, str]:
    return {
        "/etc/ssl/hub/fullchain.pem": str(cert),
        "/etc/ssl/hub/privkey.pem": str(key),
        "root /var/www/acme;": f"root {tmp}/acme;",
    }


def nginx_test(main: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(NGINX), "-t", "-q", "-c", str(main), "-p", str(main.parent)],
        capture_output=True,
        text=True,
        timeout=seconds(30),
    )


def test_nginx_accepts_the_config(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    main = adapted(tmp_path, certificate_lines(cert, key, tmp_path))
    result = nginx_test(main)
    assert result.returncode == 0, result.stderr


def test_nginx_test_would_catch_a_broken_config(tmp_path: Path) -> None:
    """The check above means something: a missing semicolon fails it."""
    cert, key = self_signed(tmp_path)
    broken = {
        **certificate_lines(cert, key, tmp_path),
        "keepalive 32;": "keepalive 32",
    }
    result = nginx_test(adapted(tmp_path, broken))
    assert result.returncode != 0


@pytest.fixture
async def hub_b(dsn: str, tmp_path: Path) -> AsyncIterator[Hub]:
    """A second hub process on the same database."""
    settings = Settings.load(
        environ={},
        host="127.0.0.1",
        port=0,
        data_dir=tmp_path / "data-b",
        database_url=dsn,
        db_health_interval_s=0.2,
        **FAST_HASHING,
    )
    server = Hub(settings)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def proxy(hub: Hub, hub_b: Hub, tmp_path: Path) -> AsyncIterator[tuple[int, int]]:
    """nginx in front of two hubs, as in hub.conf's upstream block: (http, https)."""
    cert, key = self_signed(tmp_path)
    http_port, https_port = free_port(), free_port()
    main = adapted(
        tmp_path,
        {
            **certificate_lines(cert, key, tmp_path),
            "    listen 80;\n": f"    listen 127.0.0.1:{http_port};\n",
            "    listen [::]:80;\n": "",
            "    listen 443 ssl http2;\n": f"    listen 127.0.0.1:{https_port} ssl http2;\n",
            "    listen [::]:443 ssl http2;\n": "",
            "server 127.0.0.1:5000 ": f"server 127.0.0.1:{hub.port} ",
            "server 127.0.0.1:5001 ": f"server 127.0.0.1:{hub_b.port} ",
        },
    )
    process = await asyncio.create_subprocess_exec(
        str(NGINX),
        "-c",
        str(main),
        "-p",
        str(tmp_path),
        "-g",
        "daemon off;",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:

        async def listening() -> bool:
            if process.returncode is not None:
                raise AssertionError((tmp_path / "error.log").read_text())
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", https_port)
            except OSError:
                return False
            writer.close()
            return True

        await eventually(listening, 10)
        yield http_port, https_port
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGQUIT)  # graceful: finish open connections
            try:
                await asyncio.wait_for(process.wait(), seconds(10))
            except TimeoutError:
                process.kill()
                await process.wait()


def insecure() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the test's own self-signed certificate
    return context


async def test_a_real_nginx_proxies_tls_websocket_and_api(
    proxy: tuple[int, int], http: aiohttp.ClientSession
) -> None:
    http_port, https_port = proxy
    base = f"https://127.0.0.1:{https_port}"
    async with http.get(f"{base}/healthz", ssl=insecure()) as response:
        assert response.status == 200
        assert await response.json() == {"status": "ok"}
    async with http.post(f"{base}/api/v1/ping", ssl=insecure()) as response:
        assert response.status == 200
        assert (await response.json())["event"] == "pong"
    async with http.get(f"{base}/metrics", ssl=insecure()) as response:
        assert response.status == 200  # allowed from 127.0.0.1 only
    async with http.get(f"http://127.0.0.1:{http_port}/hub", allow_redirects=False) as response:
        assert response.status == 301
        assert response.headers["Location"].startswith("https://")

    url = f"wss://127.0.0.1:{https_port}/hub"
    async with websockets.connect(url, ssl=insecure(), open_timeout=seconds(10)) as ws:
        for n in range(3):  # the upgraded connection carries several round trips
            await ws.send(json.dumps({"event": "ping", "id": f"p{n}"}))
            reply = json.loads(await asyncio.wait_for(ws.recv(), seconds(10)))
            while "id" not in reply:  # unsolicited messages (e.g. the hub's version)
                reply = json.loads(await asyncio.wait_for(ws.recv(), seconds(10)))
            assert (reply["event"], reply["id"]) == ("pong", f"p{n}")


async def test_websockets_stick_to_one_hub_and_move_when_it_stops(
    proxy: tuple[int, int], hub: Hub, hub_b: Hub
) -> None:
    """`hash $remote_addr consistent`: every connection from one address reaches the same
    hub; when that hub stops (SIGTERM path: reconnect, close), new ones reach the other."""
    _, https_port = proxy
    url = f"wss://127.0.0.1:{https_port}/hub"
    opened = [
        await websockets.connect(url, ssl=insecure(), open_timeout=seconds(10)) for _ in range(6)
    ]
    try:
        await eventually(lambda: len(hub.sessions) + len(hub_b.sessions) == 6, 10)
        counts = sorted([len(hub.sessions), len(hub_b.sessions)])
        assert counts == [0, 6], "connections from one address were spread over the hubs"
        chosen, other = (hub, hub_b) if len(hub.sessions) else (hub_b, hub)
        await chosen.stop()
        async with websockets.connect(url, ssl=insecure(), open_timeout=seconds(10)) as ws:
            await ws.send(json.dumps({"event": "ping", "id": "after"}))
            reply = json.loads(await asyncio.wait_for(ws.recv(), seconds(10)))
            while "id" not in reply:
                reply = json.loads(await asyncio.wait_for(ws.recv(), seconds(10)))
            assert reply["event"] == "pong"
            assert len(other.sessions) == 1
    finally:
        for ws in opened:
            await ws.close()
