"""Moving an extracted copy (a staging directory) into its target, rsync-style.

    overwrite_newer  False: a target file newer than the incoming one is kept
    backup           a replaced or deleted target entry is first renamed `<name>~`
                     (and `*~` entries are then never deleted, as rsync does)
    delete_missing   target entries not in the copy are removed (directories only)

Target entries are examined with `lstat`: a symlink in the target is replaced,
never followed, so a link to /etc cannot redirect the copy. A file that equals
the incoming one (same size and modification second) is left alone. Entries the
caller protects (HOME/.smc, excluded patterns) are neither replaced nor deleted.
Runs in a worker thread; staging and target are on the same file system, so
every move is a `rename`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass

from hub.local_hub.daemon.errors import ProjectError

Protect = Callable[[str, bool], bool]
"""(path relative to the target, is a directory) -> leave it alone."""


@dataclass(frozen=True, slots=True)
class MergeOptions:
    overwrite_newer: bool = False
    backup: bool = False
    delete_missing: bool = False


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def _remove(path: str, st: os.stat_result) -> None:
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _move_away(path: str, st: os.stat_result, backup: bool) -> None:
    """Clear `path` for a new entry: rename it to `path~` (backup) or remove it."""
    if backup:
        old = _lstat(path + "~")
        if old is not None:
            _remove(path + "~", old)
        os.rename(path, path + "~")
    else:
        _remove(path, st)


def _same(a: os.stat_result, b: os.stat_result) -> bool:
    return a.st_size == b.st_size and int(a.st_mtime) == int(b.st_mtime)


def place_file(src: str, dst: str, opts: MergeOptions) -> None:
    """Put the file (or symlink) `src` at `dst` under the copy rules."""
    s = os.lstat(src)
    d = _lstat(dst)
    if d is not None and stat.S_ISDIR(d.st_mode) and not stat.S_ISDIR(s.st_mode):
        raise ProjectError(f"cannot replace the directory '{os.path.basename(dst)}' with a file")
    if d is not None and stat.S_ISREG(d.st_mode) and stat.S_ISREG(s.st_mode):
        if _same(d, s):
            return
        if not opts.overwrite_newer and int(d.st_mtime) > int(s.st_mtime):
            return
    if d is not None:
        _move_away(dst, d, opts.backup)
    os.replace(src, dst)


def merge_tree(src: str, dst: str, opts: MergeOptions, protect: Protect) -> None:
    """Merge the directory `src` into the directory `dst` (created when missing)."""
    d = _lstat(dst)
    if d is not None and not stat.S_ISDIR(d.st_mode):
        raise ProjectError(f"the copy's target '{os.path.basename(dst)}' is not a directory")
    os.makedirs(dst, exist_ok=True)
    if opts.delete_missing:
        _delete_missing(src, dst, "", opts, protect)
    _merge(src, dst, "", opts, protect)


def _merge(src: str, dst: str, rel: str, opts: MergeOptions, protect: Protect) -> None:
    with os.scandir(src) as entries:
        names = [(e.name, e.is_dir(follow_symlinks=False)) for e in entries]
    for name, is_dir in names:
        sub = f"{rel}{name}"
        if protect(sub, is_dir):
            continue
        s, t = os.path.join(src, name), os.path.join(dst, name)
        if not is_dir:
            place_file(s, t, opts)
            continue
        d = _lstat(t)
        if d is not None and stat.S_ISDIR(d.st_mode):
            _merge(s, t, sub + "/", opts, protect)
            s_st = os.lstat(s)
            with contextlib.suppress(OSError):
                os.chmod(t, stat.S_IMODE(s_st.st_mode))
                os.utime(t, ns=(s_st.st_atime_ns, s_st.st_mtime_ns))
        else:
            if d is not None:
                _move_away(t, d, opts.backup)
            os.rename(s, t)


def _delete_missing(src: str, dst: str, rel: str, opts: MergeOptions, protect: Protect) -> None:
    with os.scandir(dst) as entries:
        names = [(e.name, e.is_dir(follow_symlinks=False)) for e in entries]
    for name, is_dir in names:
        sub = f"{rel}{name}"
        if protect(sub, is_dir) or (opts.backup and name.endswith("~")):
            continue
        s, t = os.path.join(src, name), os.path.join(dst, name)
        s_st = _lstat(s)
        if s_st is None:
            t_st = os.lstat(t)
            _move_away(t, t_st, opts.backup)
        elif is_dir and stat.S_ISDIR(s_st.st_mode):
            _delete_missing(s, t, sub + "/", opts, protect)
