"""`python -m hub.local_hub --home DIR [--host 127.0.0.1] [--port 0] …`: run one local hub.

Exit status: 0 after SIGTERM or SIGINT, 1 when it cannot start (another daemon
serves HOME, the port is taken), 2 for bad arguments.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Sequence

import structlog

from hub import logs
from hub.local_hub.daemon.config import DaemonConfig
from hub.local_hub.daemon.server import Daemon, DaemonError

log = structlog.get_logger("hub.local_hub.daemon")


async def serve(config: DaemonConfig) -> int:
    daemon = Daemon(config)
    try:
        await daemon.start()
    except DaemonError as exc:
        log.error("cannot start", reason=str(exc))
        await daemon.stop()
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await daemon.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    config = DaemonConfig.from_args(argv, os.environ)
    logs.configure("info", "json")
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency
        return asyncio.run(serve(config))
    result: int = uvloop.run(serve(config))
    return result


if __name__ == "__main__":
    sys.exit(main())
