"""Can a project's own Unix user run the daemon? Checked, not hoped."""

from __future__ import annotations

import os
from pathlib import Path

from hub.app import isolate_projects
from hub.config import Settings
from hub.local_hub.reachable import readable_by_others


def test_a_private_directory_on_the_way_makes_a_file_unreachable(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    inner = tmp_path / "inner"
    inner.mkdir(mode=0o755)
    target = inner / "python"
    target.write_text("")
    target.chmod(0o755)
    assert readable_by_others(target) == all(os.stat(p).st_mode & 0o001 for p in tmp_path.parents)
    inner.chmod(0o700)
    assert not readable_by_others(target)
    assert not readable_by_others(tmp_path / "missing")


def test_explicit_choices_win_over_auto() -> None:
    assert isolate_projects(Settings.load(environ={}, project_isolate_users="on")) is True
    assert isolate_projects(Settings.load(environ={}, project_isolate_users="off")) is False
