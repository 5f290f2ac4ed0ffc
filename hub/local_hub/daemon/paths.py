"""Where a request's path really points, and whether a file operation may go there.

File operations (`read_*`, `write_*`, `copy_*`) stay inside HOME after `..` and
symlinks are resolved, and never touch HOME/.smc, the daemon's private directory
(its secret token lives there). `project_exec` only needs a working directory.
"""

from __future__ import annotations

import os
from pathlib import Path

from hub.local_hub.daemon.errors import ProjectError

PRIVATE_DIR = ".smc"


def outside(path: str) -> ProjectError:
    return ProjectError(f"path '{path}' is outside the project")


class ProjectPaths:
    def __init__(self, home: Path) -> None:
        self.home = Path(os.path.realpath(home))
        self._home = str(self.home)
        self._private = os.path.join(self._home, PRIVATE_DIR)

    def resolve(self, path: str) -> Path:
        """The real path of `path` (relative to HOME), refused unless inside HOME.

        Every symlink on the way is followed, so a link inside HOME that points
        to /etc is refused; a path that does not exist yet resolves as far as it
        does. A trailing `/` is kept in meaning only by the callers.
        """
        if "\x00" in path:
            raise outside(path)
        real = os.path.realpath(os.path.join(self._home, path))
        if real != self._home and not real.startswith(self._home + os.sep):
            raise outside(path)
        for private in (self._private, os.path.realpath(self._private)):
            if real == private or real.startswith(private + os.sep):
                raise ProjectError(f"path '{path}' is inside the project's private .smc directory")
        return Path(real)

    def relative(self, real: Path) -> str:
        """How a resolved path reads relative to HOME (for messages)."""
        rel = os.path.relpath(real, self._home)
        return "" if rel == "." else rel

    def working_directory(self, path: str) -> str:
        """`project_exec`'s cwd: absolute stays, relative is under HOME, empty is HOME."""
        if not path:
            return self._home
        return os.path.normpath(os.path.join(self._home, path))
