"""Directory events from Linux's inotify, read at the moment of a call: has anything in these directories
been created, deleted or renamed since they were registered?

A watch registered before a directory is read proves, while its queue stays empty, that the listing read
is still exact: one poll() instead of a stat per directory. Only local filesystems qualify (a network or
FUSE mount does not report other machines' changes); elsewhere, and where inotify is missing or the
user's watches run out, the caller proves by stat.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import logging
import os
import re
import select
import sys
import threading

log = logging.getLogger(__name__)

_IN_NONBLOCK, _IN_CLOEXEC = os.O_NONBLOCK, os.O_CLOEXEC
# entries created, deleted, renamed in or out; the directory itself deleted or moved; never follow a link
_MASK = 0x100 | 0x200 | 0x40 | 0x80 | 0x400 | 0x800 | 0x01000000 | 0x02000000  # CREATE DELETE MOVED_* *_SELF
# ONLYDIR DONT_FOLLOW
LOCAL_FILESYSTEMS = frozenset(
    {"ext2", "ext3", "ext4", "xfs", "btrfs", "tmpfs", "overlay", "zfs", "f2fs", "bcachefs", "jfs", "reiserfs"}
)
_libc: ctypes.CDLL | None = None


def _load() -> ctypes.CDLL | None:
    global _libc
    if _libc is None and sys.platform == "linux":
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.inotify_init1.argtypes = [ctypes.c_int]
        libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        _libc = libc
    return _libc


def user_watch_limit() -> int | None:
    """The per-user inotify watch limit (None where unknown)."""
    try:
        with open("/proc/sys/fs/inotify/max_user_watches") as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


def filesystem_of(path: str) -> str | None:
    """The type of the filesystem ``path`` lives on, from the longest mount point above it (None: unknown)."""
    best, kind = "", None
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                mount = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), fields[4])  # '\040': a space
                after = fields.index("-")
                if (path == mount or path.startswith(mount.rstrip("/") + "/")) and len(mount) >= len(best):
                    best, kind = mount, fields[after + 1]
    except (OSError, ValueError, IndexError):
        return None
    return kind


class DirectoryEvents:
    """One inotify instance watching directories, each added before it is read.

    ``add`` refuses (returns False) once ``cap`` watches are held or the user's limit is reached: the caller
    proves those directories by stat. ``changed`` is true from the first event on (sticky: the listing
    the watches vouch for is then stale), and after ``close``.
    """

    def __init__(self, cap: int) -> None:
        libc = _load()
        if libc is None:
            raise OSError(errno.ENOSYS, "inotify is Linux's")
        fd = libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        self.fd: int | None = fd
        self._libc = libc
        self._cap = cap
        self._lock = threading.Lock()
        self._changed = False
        self.watched = 0
        self.full: str | None = None  # why watches stopped being added (the cap, the user's limit)

    def add(self, directory: str) -> bool:
        """Watch ``directory`` (its entries created, deleted, renamed); False when it is not watched."""
        if self.full is not None or self.fd is None:
            return False
        if self.watched >= self._cap:
            self.full = f"watch_max_directories ({self._cap})"
            return False
        if self._libc.inotify_add_watch(self.fd, os.fsencode(directory), _MASK) < 0:
            err = ctypes.get_errno()
            if err == errno.ENOSPC:
                self.full = "the user's inotify watch limit (fs.inotify.max_user_watches)"
            return False  # gone, unreadable, not a directory: the stat proof covers it
        self.watched += 1
        return True

    def changed(self, timeout: float = 0) -> bool:
        """Whether any watched directory changed since it was added (waits up to ``timeout`` seconds)."""
        with self._lock:  # held while polling, so close() cannot free the fd under it
            if not self._changed and self.fd is not None and select.select([self.fd], [], [], timeout)[0]:
                self._changed = True
            return self._changed or self.fd is None

    def close(self) -> None:
        """Release the watches (the listing they vouched for is replaced)."""
        with self._lock:
            fd, self.fd, self._changed = self.fd, None, True
        if fd is not None:
            os.close(fd)
