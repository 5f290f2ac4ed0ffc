"""The daemon's `Terminals` on its own: real ptys and processes, no link."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from hub.local_hub.daemon.config import DaemonConfig, command_environment
from hub.local_hub.daemon.errors import ProjectError
from hub.local_hub.daemon.paths import ProjectPaths
from hub.local_hub.daemon.terminals import TerminalParams, Terminals
from tests.fixtures.local_hub import process_gone
from tests.fixtures.timeouts import eventually


def terminals(home: Path, **config: int) -> Terminals:
    home.mkdir(exist_ok=True)
    cfg = DaemonConfig(home=home, env=command_environment(home, dict(os.environ)), **config)
    return Terminals(cfg, ProjectPaths(home))


async def test_shell_runs_in_the_project_with_a_terminal(tmp_path: Path) -> None:
    t = terminals(tmp_path / "p")
    (tmp_path / "p" / "sub").mkdir()
    try:
        tid = str(uuid.uuid4())
        term = t.open(tid, TerminalParams(command="bash", args=["--norc", "-i"], path="sub"))
        assert t.open(tid, TerminalParams(command="ignored")) is term  # reused, not restarted
        assert t.write(tid, b"echo $TERM:$PWD:$((6*7)); tty\n")
        want = f"xterm-256color:{tmp_path / 'p' / 'sub'}:42".encode()
        await eventually(lambda: want in term.scrollback and b"/dev/pts/" in term.scrollback, 10)
        assert not t.write(str(uuid.uuid4()), b"x")  # no such terminal: not taken
    finally:
        await t.close()


async def test_scrollback_keeps_the_end_and_exit_is_seen(tmp_path: Path) -> None:
    t = terminals(tmp_path / "p", terminal_scrollback_bytes=100)
    try:
        tid = str(uuid.uuid4())
        term = t.open(tid, TerminalParams(command="bash", args=["-c", "seq 1 2000; exit 4"]))
        await eventually(lambda: term.exit_code is not None, 10)
        assert term.exit_code == 4
        assert len(term.scrollback) == 100 and term.scrollback.endswith(b"1999\r\n2000\r\n")
        assert tid not in t.by_uuid
        assert t.write(tid, b"late keystrokes\n")  # swallowed, not kept as a blob
    finally:
        await t.close()


async def test_close_kills_the_whole_process_group(tmp_path: Path) -> None:
    t = terminals(tmp_path / "p")
    tid = str(uuid.uuid4())
    term = t.open(tid, TerminalParams(command="bash", args=["-c", "sleep 60 & echo $!; wait"]))
    await eventually(lambda: term.scrollback.strip().isdigit(), 10)
    child = int(term.scrollback.strip())
    await t.close()
    await eventually(lambda: process_gone(child) and process_gone(term.popen.pid), 10)


@pytest.mark.parametrize(
    ("params", "error"),
    [
        (TerminalParams(path="/etc"), "path '/etc' is outside the project"),
        (TerminalParams(path="f"), "path 'f' is not a directory"),
        (TerminalParams(rows=0), "rows and cols must be between 1 and 1000"),
        (TerminalParams(cols=1001), "rows and cols must be between 1 and 1000"),
    ],
)
async def test_refused(tmp_path: Path, params: TerminalParams, error: str) -> None:
    t = terminals(tmp_path / "p", max_terminals=1)
    (tmp_path / "p" / "f").write_text("x")
    try:
        with pytest.raises(ProjectError) as exc:
            t.open(str(uuid.uuid4()), params)
        assert str(exc.value) == error
    finally:
        await t.close()
