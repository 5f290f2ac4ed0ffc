"""The daemon's settings: built once from the command line, frozen, passed in.

The daemon reads its own environment only here (`from_args(argv, environ)`), to
build the environment its commands run with: the daemon's own, minus the hub's
`HUB_*` variables, with HOME set to the project directory and a PATH that
starts with the project's `bin` directories.
"""

from __future__ import annotations

import argparse
import os
import pwd
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hub.local_hub.framing import DEFAULT_MAX_FRAME_BYTES

MiB = 1024 * 1024
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True, slots=True)
class DaemonConfig:
    home: Path
    """The project directory, with symlinks resolved."""
    host: str = "127.0.0.1"
    port: int = 0
    heartbeat_s: float = 30.0
    """Heartbeat interval; a hub silent for 1.5 times this is dropped."""
    handshake_timeout_s: float = 10.0
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
    max_file_bytes: int = 10_000_000
    """Largest text file read or written, and largest single file read as an archive."""
    max_output_bytes: int = 10 * MiB
    """Output of running commands kept in memory, all commands together."""
    max_archive_bytes: int = 256 * MiB
    """Largest total size of the files read_file_from_project puts in one archive."""
    max_blob_bytes: int = 64 * MiB
    """Blob bytes one hub may have sent and not yet used (write_file_to_project)."""
    max_concurrent_requests: int = 256
    """Requests one hub may have running; more are answered with an error at once."""
    # --- worksheets (worksheets.py)
    max_worksheets: int = 16
    """Worksheet workers running in the project at once; more are refused."""
    worksheet_max_output_bytes: int = 10_000_000
    """Output one cell may send; beyond it the rest is dropped with a notice."""
    worksheet_start_timeout_s: float = 30.0
    """How long a worksheet worker may take to start."""
    env: Mapping[str, str] = field(default_factory=dict)
    """The environment commands and named servers run with."""
    # --- terminals (terminals.py)
    terminal_scrollback_bytes: int = 256 * 1024
    """Recent output each terminal keeps, replayed to a client that (re)attaches."""
    terminal_pending_bytes: int = 1024 * 1024
    """Output queued for one hub link (and input for one pty) before the pty waits."""
    max_terminals: int = 64
    """Terminals running in the project at once; more are refused."""
    # --- jupyter: used until a hub sends its own settings with a request (kernels.py)
    jupyter_max_running: int = 8
    """Kernels running a jupyter_execute at once; more are refused."""
    jupyter_pool_max_kernels: int = 4
    """Pooled kernels (ready and starting) this project keeps at most."""
    jupyter_pool_idle_s: float = 600.0
    """A pooled kernel nobody took for this long is shut down."""

    @property
    def smc_dir(self) -> Path:
        return self.home / ".smc"

    @classmethod
    def from_args(cls, argv: Sequence[str] | None, environ: Mapping[str, str]) -> DaemonConfig:
        args = parser().parse_args(argv)
        home = Path(os.path.realpath(args.home))
        return cls(
            home=home,
            host=args.host,
            port=args.port,
            heartbeat_s=args.heartbeat_s,
            handshake_timeout_s=args.handshake_timeout_s,
            max_frame_bytes=args.max_frame_bytes,
            max_file_bytes=args.max_file_bytes,
            max_output_bytes=args.max_output_bytes,
            max_archive_bytes=args.max_archive_bytes,
            max_concurrent_requests=args.max_concurrent_requests,
            max_worksheets=args.max_worksheets,  # worksheets
            worksheet_max_output_bytes=args.worksheet_max_output_bytes,
            worksheet_start_timeout_s=args.worksheet_start_timeout_s,
            terminal_scrollback_bytes=args.terminal_scrollback_bytes,
            max_terminals=args.max_terminals,
            env=command_environment(home, environ),
        )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m hub.local_hub",
        description="The local hub: serves one project (its HOME) to any number of hubs.",
    )
    p.add_argument("--home", required=True, help="the project directory (HOME of commands)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=0, help="TCP port (0 picks a free one)")
    p.add_argument("--heartbeat-s", type=_positive, default=30.0, help="heartbeat interval")
    p.add_argument(
        "--handshake-timeout-s",
        type=_positive,
        default=10.0,
        help="how long a new connection may take to send the secret token",
    )
    p.add_argument(
        "--max-frame-bytes",
        type=int,
        default=DEFAULT_MAX_FRAME_BYTES,
        help="largest frame accepted or sent",
    )
    p.add_argument(
        "--max-file-bytes", type=int, default=10_000_000, help="largest text file read or written"
    )
    p.add_argument(
        "--max-output-bytes",
        type=int,
        default=10 * MiB,
        help="command output kept in memory, all running commands together",
    )
    p.add_argument(
        "--max-archive-bytes",
        type=int,
        default=256 * MiB,
        help="largest total file size read_file_from_project archives",
    )
    p.add_argument(
        "--max-concurrent-requests",
        type=int,
        default=256,
        help="requests one hub may have running at once; more are answered with an error",
    )
    # worksheets
    p.add_argument(
        "--max-worksheets", type=int, default=16, help="worksheet workers running at once"
    )
    p.add_argument(
        "--worksheet-max-output-bytes",
        type=int,
        default=10_000_000,
        help="output one worksheet cell may send; the rest is dropped with a notice",
    )
    p.add_argument(
        "--worksheet-start-timeout-s",
        type=_positive,
        default=30.0,
        help="how long a worksheet worker may take to start",
    )
    p.add_argument(
        "--terminal-scrollback-bytes",
        type=int,
        default=256 * 1024,
        help="recent output each terminal keeps for clients that reattach",
    )
    p.add_argument(
        "--max-terminals", type=int, default=64, help="terminals the project may run at once"
    )
    return p


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be a positive number")
    return value


def command_environment(home: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """The environment of every command run in the project."""
    env = {k: v for k, v in environ.items() if not k.startswith("HUB_")}
    try:
        user = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        user = str(os.getuid())
    inherited_path = environ.get("PATH") or DEFAULT_PATH
    env.update(
        HOME=str(home),
        PATH=f"{home}/bin:{home}/.local/bin:{inherited_path}",
        USER=user,
        LOGNAME=user,
    )
    env.setdefault("LANG", "C.UTF-8")
    env.setdefault("SHELL", "/bin/bash")
    env.pop("PWD", None)
    env.pop("OLDPWD", None)
    return env
