"""The worksheet worker: one Python process per worksheet, run by the local hub.

    python -P -m hub.local_hub.worksheet_worker          # plain Python
    sage -python path/to/worksheet_worker.py --sage      # SageMath (when installed)

It imports only the standard library (it also runs under Sage's own Python,
where `hub` is not installed), so the user's namespace starts clean.

The daemon talks to it over pipes, one JSON object per line:

- in (fd 0, moved to a private descriptor at start): `{"code", "preparse"}`, one
  cell at a time; the daemon sends the next only after `done`.
- out (fd 1, moved to a private descriptor at start): `{"ready": true, "pid",
  "sage"}` once, then per cell any number of `{"stdout": s}`, `{"stderr": s}`,
  `{"html": s}`, `{"md": s}`, `{"tex": {"tex", "display"}}`, `{"javascript":
  {"code", "obj"}}`, `{"file": {"path", "filename", "show", "temp"}}`,
  `{"execute_javascript": {"code", "obj"}}`, and finally `{"done": true}`, with
  `"stderr": traceback` when the cell raised (the last message of a stream is
  never dropped, so the traceback of an interrupted noisy cell is always seen).

After start, fds 1 and 2 both point at the worker's stderr pipe: what the cell's
own subprocesses write there reaches the cell as stdout (the daemon reads it).
stdin is /dev/null, so `input()` sees end of file instead of the command pipe.

SIGINT raises KeyboardInterrupt in the running cell only; while a protocol line
is being written it is held until the line is complete (a line cut in half would
break the protocol), and between cells it is ignored.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import json
import linecache
import os
import signal
import sys
import traceback
import uuid
from types import FrameType
from typing import Any

CHUNK_CHARS = 16 * 1024  # one stdout/stderr line carries at most this much text
MAX_TRACEBACK_CHARS = 32 * 1024

_proto_fd = -1
_in_cell = False
_in_write = False
_held_interrupt = False


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    global _held_interrupt
    if not _in_cell:
        return
    if _in_write:
        _held_interrupt = True
        return
    raise KeyboardInterrupt


def send(message: dict[str, Any]) -> None:
    """Write one protocol line, whole, even when SIGINT arrives meanwhile."""
    global _in_write
    data = memoryview((json.dumps(message) + "\n").encode())
    _in_write = True
    try:
        while data:
            n = os.write(_proto_fd, data)
            data = data[n:]
    finally:
        _in_write = False


def _raise_held_interrupt() -> None:
    global _held_interrupt
    if _held_interrupt and _in_cell:
        _held_interrupt = False
        raise KeyboardInterrupt


class OutStream:
    """`sys.stdout` / `sys.stderr` of a cell: every write is sent at once."""

    encoding = "utf-8"
    errors = "strict"

    def __init__(self, name: str) -> None:
        self.name = name

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        for at in range(0, len(text), CHUNK_CHARS):
            send({self.name: text[at : at + CHUNK_CHARS]})
        _raise_held_interrupt()
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        _raise_held_interrupt()

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def fileno(self) -> int:
        # fds 1 and 2 lead to the raw pipe the daemon passes on as the cell's stdout,
        # so `subprocess.run(…, stdout=sys.stdout)` reaches the cell too
        return 1 if self.name == "stdout" else 2


# ----------------------------------------------------------------------------- helpers


def html(s: Any) -> None:
    """Show `s` as HTML in the cell's output."""
    send({"html": str(s)})


def md(s: Any) -> None:
    """Show `s` as Markdown in the cell's output."""
    send({"md": str(s)})


def tex(s: Any, display: bool = False) -> None:
    """Show `s` (LaTeX source, or an object whose str() is) as typeset math."""
    send({"tex": {"tex": str(s), "display": bool(display)}})


def show_file(path: str, show: bool = True) -> None:
    """Show a file of the project (an image, a PDF, …) in the cell's output."""
    full = os.path.abspath(os.path.expanduser(str(path)))
    send({"file": {"path": full, "filename": os.path.basename(full), "show": bool(show)}})


def javascript(code: str, obj: Any = None) -> None:
    """Run `code` in the browser showing this cell (the cell's `javascript` output)."""
    send({"javascript": {"code": str(code), "obj": obj}})


def execute_javascript(code: str, obj: Any = None) -> None:
    """Run `code` in every browser working in this project (with `obj` as `obj`)."""
    send({"execute_javascript": {"code": str(code), "obj": obj}})


HELPERS = {
    "html": html,
    "md": md,
    "tex": tex,
    "show_file": show_file,
    "javascript": javascript,
    "execute_javascript": execute_javascript,
}


# ----------------------------------------------------------------------------- cells


class Worker:
    def __init__(self, command_fd: int, tmp_dir: str, sage: bool) -> None:
        self._commands = os.fdopen(command_fd, "rb")
        self.tmp_dir = tmp_dir
        self.sage = sage
        self.cells = 0
        self.namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
        self.namespace.update(HELPERS)
        self._preparse: Any = None
        if sage:  # pragma: no cover - sage is not installed where the tests run
            exec("from sage.all import *", self.namespace)
            from sage.repl.preparse import preparse_file  # type: ignore[import-not-found]

            self._preparse = preparse_file

    def serve(self) -> None:
        send({"ready": True, "pid": os.getpid(), "sage": self.sage})
        while True:
            line = self._commands.readline()
            if not line:
                return
            try:
                command = json.loads(line)
            except ValueError:
                continue
            error = self.run_cell(
                str(command.get("code", "")), command.get("preparse") is not False
            )
            done: dict[str, Any] = {"done": True}
            if error:
                done["stderr"] = error
            send(done)

    def run_cell(self, code: str, preparse: bool) -> str | None:
        """Run one cell; its traceback when it raised, else None."""
        global _in_cell, _held_interrupt
        self.cells += 1
        filename = f"<cell {self.cells}>"
        _held_interrupt = False
        _in_cell = True
        try:
            if self._preparse is not None and preparse:  # pragma: no cover
                code = self._preparse(code)
            linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
            tree = ast.parse(code, filename)
            last = None
            tail = tree.body[-1] if tree.body else None
            if isinstance(tail, ast.Expr):
                last = ast.Expression(tail.value)
                del tree.body[-1]
            exec(compile(tree, filename, "exec"), self.namespace)
            if last is not None:
                value = eval(compile(last, filename, "eval"), self.namespace)
                if value is not None:
                    sys.stdout.write(repr(value) + "\n")
            self.show_figures()
            _in_cell = False
        except BaseException as exc:
            _in_cell = False
            return self.report(exc)
        finally:
            _in_cell = False
        return None

    def report(self, exc: BaseException) -> str:
        tb = exc.__traceback__
        # drop this module's own frames (run_cell), keep the cell's
        while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
            tb = tb.tb_next
        text = "".join(traceback.format_exception(type(exc), exc, tb))
        with contextlib.suppress(Exception):
            self.close_figures()
        if len(text) > MAX_TRACEBACK_CHARS:
            text = "…" + text[-MAX_TRACEBACK_CHARS:]
        return text

    def show_figures(self) -> None:
        """Every open matplotlib figure becomes a PNG `file` output, then is closed."""
        plt = sys.modules.get("matplotlib.pyplot")
        if plt is None:
            return
        for number in plt.get_fignums():
            figure = plt.figure(number)
            path = os.path.join(self.tmp_dir, f"{uuid.uuid4()}.png")
            figure.savefig(path, format="png")
            name = f"figure-{number}.png"
            send({"file": {"path": path, "filename": name, "show": True, "temp": True}})
        plt.close("all")

    def close_figures(self) -> None:
        plt = sys.modules.get("matplotlib.pyplot")
        if plt is not None:
            plt.close("all")


def main(argv: list[str]) -> int:
    global _proto_fd
    sage = "--sage" in argv
    _proto_fd = os.dup(1)
    command_fd = os.dup(0)
    os.dup2(2, 1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.environ.setdefault("MPLBACKEND", "Agg")
    tmp_dir = os.environ.pop("SAGEWS_TMP", "") or os.getcwd()
    sys.stdin = open(os.devnull)  # noqa: SIM115 — the cell's stdin, for its whole life
    sys.stdout = OutStream("stdout")  # type: ignore[assignment,unused-ignore]
    sys.stderr = OutStream("stderr")  # type: ignore[assignment,unused-ignore]
    # `-P` kept this module's start clean; the cell imports from its own directory
    sys.path.insert(0, "")
    signal.signal(signal.SIGINT, _on_sigint)
    Worker(command_fd, tmp_dir, sage).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
