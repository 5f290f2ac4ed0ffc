"""The worker program on its own: the line protocol over real pipes, one process per test."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any


def run_worker(tmp_path: Path, cells: list[str]) -> list[dict[str, Any]]:
    commands = "".join(json.dumps({"code": code}) + "\n" for code in cells)
    done = subprocess.run(
        [sys.executable, "-P", "-m", "hub.local_hub.worksheet_worker"],
        input=commands.encode(),
        capture_output=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "SAGEWS_TMP": str(tmp_path), "HOME": str(tmp_path)},
        timeout=60,
        check=True,
    )
    return [json.loads(line) for line in done.stdout.splitlines()]


def cells_of(lines: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    cells: list[list[dict[str, Any]]] = [[]]
    for line in lines[1:]:
        cells[-1].append(line)
        if line.get("done"):
            cells.append([])
    return cells[:-1]


def test_protocol_of_a_few_cells(tmp_path: Path) -> None:
    (tmp_path / "mymod.py").write_text("VALUE = 7\n")
    lines = run_worker(
        tmp_path,
        [
            "import mymod\nmymod.VALUE * 6",
            "x = input()",
            "import sys\nsys.stdout.write('z' * 40000)\nNone",
            "html('<i>')\nexecute_javascript('go()', [1])",
        ],
    )
    assert lines[0]["ready"] is True and lines[0]["sage"] is False
    first, second, third, fourth = cells_of(lines)
    assert first == [{"stdout": "42\n"}, {"done": True}]
    assert second[-1]["done"] and "EOFError" in second[-1]["stderr"]  # stdin is /dev/null
    assert [len(p["stdout"]) for p in third[:-1]] == [16384, 16384, 7232]  # chunked lines
    assert fourth == [
        {"html": "<i>"},
        {"execute_javascript": {"code": "go()", "obj": [1]}},
        {"done": True},
    ]


def test_a_syntax_error_is_reported_and_the_worker_goes_on(tmp_path: Path) -> None:
    first, second = cells_of(run_worker(tmp_path, ["def (:", "print('ok')"]))
    assert "SyntaxError" in first[-1]["stderr"]
    assert second == [{"stdout": "ok"}, {"stdout": "\n"}, {"done": True}]


def test_a_subprocess_given_sys_stdout_writes_to_the_raw_pipe(tmp_path: Path) -> None:
    code = "import subprocess, sys\nsubprocess.run(['echo', 'raw-out'], stdout=sys.stdout)\nNone"
    commands = json.dumps({"code": code}) + "\n"
    done = subprocess.run(
        [sys.executable, "-P", "-m", "hub.local_hub.worksheet_worker"],
        input=commands.encode(),
        capture_output=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        timeout=60,
        check=True,
    )
    assert done.stderr == b"raw-out\n"
    assert json.loads(done.stdout.splitlines()[-1]) == {"done": True}
