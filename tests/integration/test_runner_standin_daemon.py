"""STAND-IN for the local hub daemon, used by the runner tests only until the real one lands.

`python -m tests.integration.test_runner_standin_daemon --home DIR --host H --port 0`
does what the runner relies on and nothing more: writes `DIR/.smc/secret_token`
(0600, kept across restarts) and, after listening, `DIR/.smc/hub-server.port`
(temporary file + rename), prints the `listening` line, answers the token
handshake with `y` or `n`, and exits on SIGTERM. It has no tests of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import json
import os
import secrets
import signal
from pathlib import Path


async def _serve(home: Path, host: str, port: int) -> None:
    smc = home / ".smc"
    smc.mkdir(mode=0o700, exist_ok=True)
    token_path = smc / "secret_token"
    if not token_path.exists():
        fd = os.open(token_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48)[:64])
    token = token_path.read_bytes().strip()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            got = await asyncio.wait_for(reader.readexactly(len(token)), 10)
            if hmac.compare_digest(got, token):
                writer.write(b"y")
                await writer.drain()
                await reader.read()  # hold the link until the hub closes it
            else:
                writer.write(b"nInvalid secret token.")
                await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, host, port)
    bound = server.sockets[0].getsockname()[1]
    tmp = smc / f".hub-server.port.{os.getpid()}"
    tmp.write_text(str(bound))
    tmp.replace(smc / "hub-server.port")
    print(json.dumps({"event": "listening", "port": bound, "pid": os.getpid()}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", required=True, type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", default=0, type=int)
    args = parser.parse_args()
    asyncio.run(_serve(args.home, args.host, args.port))


if __name__ == "__main__":
    main()
