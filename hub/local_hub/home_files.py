"""Reading the daemon's files in a project's HOME without trusting them: no symlinks,
regular files owned by the project's user, small, never blocking on a FIFO."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

SMALL_FILE_MAX = 4096


@dataclass(frozen=True, slots=True)
class SmallFile:
    data: bytes
    identity: tuple[int, int]  # (inode, mtime_ns): changes when the daemon rewrites it


def read_project_file(home: Path, name: str, owner: int) -> SmallFile | None:
    """`HOME/.smc/<name>`, or None unless it is a small regular file that `owner` owns.

    No component is followed if it is a symbolic link, and a FIFO never blocks: a
    project cannot make the hub read (and send it) a file the project cannot read.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    try:
        home_fd = os.open(home, flags | os.O_DIRECTORY)
        try:
            smc_fd = os.open(".smc", flags | os.O_DIRECTORY, dir_fd=home_fd)
        finally:
            os.close(home_fd)
        try:
            fd = os.open(name, flags, dir_fd=smc_fd)
        finally:
            os.close(smc_fd)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != owner or st.st_size > SMALL_FILE_MAX:
            return None
        return SmallFile(os.read(fd, SMALL_FILE_MAX), (st.st_ino, st.st_mtime_ns))
    except OSError:
        return None
    finally:
        os.close(fd)


def tail_of(path: Path, size: int = 2000) -> str:
    try:
        with path.open("rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - size))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""
