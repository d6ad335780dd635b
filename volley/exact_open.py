"""Opening a file at exactly its path: no symbolic link followed at any depth, no FIFO waited on.

A path the sandbox checked can be swapped for a link (to a file outside, or a directory of one) between
the check and the open. Every tool that reads file content in-process opens through ``open_exact``; for
what ripgrep reads itself, ``changed_since`` names the files whose path changed while it ran, to be read
again through ``open_exact``.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import stat
import sys

from volley.inotify import filesystem_of
from volley.platform import PROC

_NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)
_READ = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | _NO_FOLLOW | getattr(os, "O_CLOEXEC", 0)
_DIRECTORY = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NO_FOLLOW | getattr(os, "O_CLOEXEC", 0)
CHANGE_MARGIN_NS = 2_000_000_000  # the coarsest common timestamp (FAT's 2 s, HFS+'s 1 s) and the kernel's tick
FINE_MARGIN_NS = 50_000_000  # where timestamps have nanoseconds: the kernel's clock tick (<= 10 ms) and more
FINE_FILESYSTEMS = frozenset({"ext4", "xfs", "btrfs", "tmpfs", "overlay", "zfs", "f2fs", "bcachefs"})


class NotRegular(OSError):
    """Not a regular file (a FIFO, a socket, a device): never read, so never waited on."""


class Moved(OSError):
    """The path led somewhere else when it was opened (a link swapped in at some depth)."""


def open_exact(path: str) -> int:
    """A descriptor of the regular file at exactly ``path`` (absolute, its links already resolved), in
    blocking mode; raises OSError when a link stands anywhere on the way or it is not a regular file."""
    fd = _open_linux(path) if PROC else _open_by_components(path)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegular(errno.EINVAL, "not a regular file", path)
        if sys.platform != "win32":  # opened with O_NONBLOCK (a FIFO would block the open); Windows has neither
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_exact(path: str) -> bytes:
    with open(open_exact(path), "rb") as f:
        return f.read()


def changed_since(root: str, rels: list[str], since_ns: int) -> set[str]:
    """Which of ``rels`` (files below ``root``) may not be what a reader that started at ``since_ns`` found: a
    directory on the way is not one any more, or its entries changed since. Swapping a name (for a link, a
    FIFO, another file) changes its directory's ctime, and nothing in user space sets a ctime back; a file
    written in place keeps its name, and a reader sees one of its contents."""
    device, margin = margin_of(root)
    fine, coarse = since_ns - margin, since_ns - CHANGE_MARGIN_NS  # the root's filesystem, and any other
    fresh: dict[str, bool] = {}

    def changed(path: str) -> bool:
        """Whether the directory or one above it (up to the root) changed: a loop, not recursion (a file may
        lie a thousand directories deep)."""
        way: list[str] = []
        while path not in fresh:
            try:
                st = os.lstat(path)
                since = fine if st.st_dev == device else coarse
                fresh[path] = not stat.S_ISDIR(st.st_mode) or st.st_ctime_ns >= since
            except OSError:
                fresh[path] = True
            parent = os.path.dirname(path)
            if fresh[path] or path == root or parent == path:
                break
            way.append(path)
            path = parent
        for below in way:
            fresh[below] = fresh[path]
        return fresh[path]

    return {rel for rel in rels if changed(os.path.dirname(f"{root}/{rel}"))}


@functools.cache
def margin_of(root: str) -> tuple[int, int]:
    """The root's device, and how long before a reader started a change there may be stamped (the timestamps'
    granularity, and the lag of the kernel's coarse clock they are read from): a tick on Linux's filesystems
    with nanoseconds, else 2 s. (ext4 with 128-byte inodes keeps whole seconds: the root's own ctime must show
    a fraction.)"""
    try:
        st = os.stat(root)
    except OSError:
        return -1, CHANGE_MARGIN_NS
    fine = st.st_ctime_ns % 1_000_000_000 and filesystem_of(root) in FINE_FILESYSTEMS
    return st.st_dev, FINE_MARGIN_NS if sys.platform == "linux" and fine else CHANGE_MARGIN_NS


def _open_linux(path: str) -> int:
    fd = os.open(path, _READ)
    try:
        where = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:  # no /proc mounted
        os.close(fd)
        return _open_by_components(path)
    if where != path:
        os.close(fd)
        raise Moved(errno.ELOOP, "a symbolic link was swapped in on the way", path)
    return fd


def open_directory(path: str, *, create: bool = False) -> int | None:
    """A descriptor of the directory at exactly ``path`` (``create``: making the missing ones, each inside
    the one opened before it), for writing by name inside it with no link followed on the way; None where
    the platform has no ``dir_fd`` (Windows), and writes go by path."""
    if os.open not in os.supports_dir_fd:
        if create:
            os.makedirs(path, exist_ok=True)
        return None
    return _open_by_components(path, _DIRECTORY, create=create)


def _open_by_components(path: str, flags: int = _READ, create: bool = False) -> int:
    """Each directory opened below the last without following a link (macOS, BSD; plain open elsewhere)."""
    if os.open not in os.supports_dir_fd:
        return os.open(path, flags)
    parts = [part for part in path.split("/") if part]
    directory = os.open("/", _DIRECTORY)
    try:
        for part in parts[:-1]:
            inner = _open_in(part, directory, _DIRECTORY, create)
            os.close(directory)
            directory = inner
        return _open_in(parts[-1], directory, flags, create and flags == _DIRECTORY) if parts else os.dup(directory)
    finally:
        with contextlib.suppress(OSError):
            os.close(directory)


def _open_in(name: str, directory: int, flags: int, create: bool) -> int:
    try:
        return os.open(name, flags, dir_fd=directory)
    except FileNotFoundError:
        if not create:
            raise
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, 0o777, dir_fd=directory)
        return os.open(name, flags, dir_fd=directory)
