"""Whether an unprivileged project user could run the project daemon at all.

Running each project as its own Unix user needs an interpreter, and the `hub`
package with its dependencies, that every user may read; a virtualenv under
/root (mode 0700) is not. The hub checks instead of starting daemons that die.
"""

from __future__ import annotations

import importlib.util
import os
import stat
import sys
from pathlib import Path

# what the daemon imports besides the standard library
_DAEMON_PACKAGES = ("hub", "msgspec", "structlog")


def readable_by_others(path: Path) -> bool:
    """Every directory on the way may be entered by anyone, and the end may be read."""
    try:
        resolved = path.resolve(strict=True)
    except OSError:
        return False
    for parent in reversed(resolved.parents):
        if not os.stat(parent).st_mode & stat.S_IXOTH:
            return False
    mode = os.stat(resolved).st_mode
    return bool(mode & stat.S_IROTH) and (not stat.S_ISDIR(mode) or bool(mode & stat.S_IXOTH))


def daemon_runnable_by_others(python: str | None) -> bool:
    interpreter = Path(python or sys.executable)
    if not readable_by_others(interpreter):
        return False
    if python:  # another interpreter brings its own packages; trust the operator
        return True
    for name in _DAEMON_PACKAGES:
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec is not None else None
        if origin is None or not readable_by_others(Path(origin).parent):
            return False
    return True
