"""`python -m hub.local_hub.send_javascript CODE [--obj JSON] [--session-uuid U]`, run in a project.

Asks the browsers working in this project to run CODE (CoCalc's
`execute_javascript`): the program dials its own project's local hub with the
project's secret token (HOME/.smc, readable only by the project), and the local
hub passes the message to every hub connected to it; each hub delivers it to
its clients working in the project, or to the clients of the one terminal
`--session-uuid` names. Exit status 0 when the local hub took the message.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from hub.local_hub.framing import JsonFrame
from hub.local_hub.link import Link, LinkError

TIMEOUT_S = 10.0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m hub.local_hub.send_javascript",
        description="Run JavaScript in the browsers working in this project.",
    )
    p.add_argument("code", help="the JavaScript to run")
    p.add_argument("--obj", default=None, help="a JSON value handed to the code as `obj`")
    p.add_argument("--session-uuid", default=None, help="only the clients of this terminal")
    p.add_argument("--home", default=os.environ.get("HOME", "."), help="the project directory")
    p.add_argument("--host", default="127.0.0.1", help="where the local hub listens")
    return p


async def send(home: Path, host: str, message: dict[str, Any]) -> str | None:
    """Send `message`; None when the local hub took it, else the error text."""
    smc = home / ".smc"
    port = int((smc / "hub-server.port").read_text().strip())
    token = (smc / "secret_token").read_text().strip()
    link = await Link.connect(host, port, token, timeout=TIMEOUT_S)
    try:
        await link.send({**message, "id": "send-javascript"})
        async with asyncio.timeout(TIMEOUT_S):
            while True:
                frame = await link.receive()
                if not isinstance(frame, JsonFrame):
                    continue
                reply = msgspec.json.decode(frame.payload)
                if isinstance(reply, dict) and reply.get("id") == "send-javascript":
                    return None if reply.get("event") == "success" else str(reply.get("error"))
    finally:
        link.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    message: dict[str, Any] = {"event": "execute_javascript", "code": args.code}
    if args.obj is not None:
        try:
            message["obj"] = json.loads(args.obj)
        except json.JSONDecodeError as exc:
            print(f"--obj is not JSON: {exc}", file=sys.stderr)
            return 2
    if args.session_uuid:
        message["session_uuid"] = args.session_uuid
    try:
        error = asyncio.run(send(Path(args.home), args.host, message))
    except (OSError, ValueError, LinkError, TimeoutError) as exc:
        print(f"cannot reach the local hub: {exc}", file=sys.stderr)
        return 1
    if error is not None:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
