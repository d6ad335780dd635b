"""Directory events from Linux's inotify, read at the moment of a call: has anything in these directories
been created, deleted or renamed since they were registered?

A watch registered before a directory is read proves, while its queue stays empty, that the listing read
is still exact: one poll() instead of a stat per directory. Only local filesystems qualify (a network or
FUSE mount does not report other machines' changes); elsewhere, and where inotify is missing or the
user's watches run out, the caller proves by stat.
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import select
import struct
import sys
import threading

_IN_NONBLOCK, _IN_CLOEXEC = getattr(os, "O_NONBLOCK", 0o4000), getattr(os, "O_CLOEXEC", 0o2000000)  # Linux only
_IN_MOVED_FROM, _IN_MOVED_TO, _IN_CREATE, _IN_DELETE = 0x40, 0x80, 0x100, 0x200  # <sys/inotify.h>
_IN_DELETE_SELF, _IN_MOVE_SELF, _IN_ONLYDIR, _IN_DONT_FOLLOW = 0x400, 0x800, 0x01000000, 0x02000000
_IN_Q_OVERFLOW, _IN_IGNORED = 0x4000, 0x8000
_IN_SELF = _IN_DELETE_SELF | _IN_MOVE_SELF
# entries created, deleted, renamed in or out; the directory itself deleted or moved; directories only, links
# never followed. Not content changes: a listing does not depend on them (ignore files are proven by stat).
_IN_MODIFY, _IN_ATTRIB, _IN_CLOSE_WRITE = 0x2, 0x4, 0x8
_IN_CONTENT = _IN_MODIFY | _IN_ATTRIB | _IN_CLOSE_WRITE  # a file's content or stat changed: grep's content index
_MASK = _IN_CREATE | _IN_DELETE | _IN_MOVED_FROM | _IN_MOVED_TO | _IN_SELF | _IN_ONLYDIR | _IN_DONT_FOLLOW | _IN_CONTENT
LOCAL_FILESYSTEMS = frozenset(
    {"ext2", "ext3", "ext4", "xfs", "btrfs", "tmpfs", "overlay", "zfs", "f2fs", "bcachefs", "jfs", "reiserfs"}
)
_libc: ctypes.CDLL | None = None


def _load() -> ctypes.CDLL | None:
    global _libc
    if _libc is None and sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)  # the process's own symbols: glibc's or musl's, no lookup
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
    proves those directories by stat. ``pending`` says whether events wait (the listings the watches vouch
    for may be stale), ``take`` reads them as the entries they name.
    """

    def __init__(self, cap: int, cap_said: str = "", listed: frozenset[str] = frozenset()) -> None:
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
        self._cap_said = cap_said or f"the cap ({cap:,})"
        self._lock = threading.Lock()
        self._waiting = 0  # threads polling the fd without the lock: the last one closes it after close()
        self._paths: dict[int, str] = {}  # watch descriptor -> the directory's path
        self.full: str | None = None  # why watches stopped being added (the cap, the user's limit)
        self._touched: set[str] = set()  # every path an event named since the last ``drain`` (content too)
        self._lost = False  # events were lost since the last ``drain``
        self._listed = listed  # names whose content changes count as changes of their directory (ignore files)
        self._changes: dict[str, set[str]] = {}  # read (``changed_since``), not yet taken
        self._overflowed = False  # the kernel's queue overflowed since the last take
        self._epoch = 0  # advanced by each ``mark``; every event read is stamped with it
        self._changed_at: dict[str, int] = {}  # directory -> the epoch an event last said it changed in
        self._forgotten = 0  # marks up to this one cannot be answered (events lost, or the record trimmed)

    @property
    def watched(self) -> int:
        return len(self._paths)

    def add(self, directory: str) -> bool:
        """Watch ``directory`` (its entries created, deleted, renamed); False when it is not watched."""
        with self._lock:
            if self.full is not None or self.fd is None:
                return False
            if len(self._paths) >= self._cap:
                self.full = self._cap_said
                return False
            wd = self._libc.inotify_add_watch(self.fd, os.fsencode(directory), _MASK)
            if wd < 0:
                if ctypes.get_errno() == errno.ENOSPC:
                    self.full = "the user's inotify watch limit (fs.inotify.max_user_watches)"
                return False  # gone, unreadable, not a directory: the stat proof covers it
            self._paths[wd] = directory  # the same directory again (or moved here) keeps its descriptor
            return True

    def pending(self, timeout: float = 0) -> bool:
        """Whether events wait to be taken (waits up to ``timeout`` seconds for one); true once closed."""
        with self._lock:
            if self.fd is None or self._changes or self._overflowed:
                return True
            fd = self.fd
            self._waiting += 1
        try:
            if sys.platform == "win32":  # (inotify is Linux's)
                return False
            poller = select.poll()  # (not select(): a descriptor past 1,023 once the server raised its limit)
            poller.register(fd, select.POLLIN)
            return bool(poller.poll(timeout * 1000))
        finally:
            with self._lock:
                self._waiting -= 1
                if self.fd is None and self._waiting == 0:
                    os.close(fd)  # close() came while this thread polled

    def take(self) -> dict[str, set[str]] | None:
        """The entries events named since the last take, by directory path; None when events were lost (the
        kernel's queue overflowed, or the watches were closed): everything must be read again."""
        with self._lock:
            if self.fd is None:
                return None
            self._read()
            changes, self._changes = self._changes, {}
            if self._overflowed:
                self._overflowed = False
                return None
            return changes

    def mark(self) -> int:
        """A point in the events: ``changed_since`` says which directories changed after it."""
        with self._lock:
            self._epoch += 1
            return self._epoch

    def changed_since(self, mark: int) -> set[str] | None:
        """The directories that had an entry created, deleted or renamed, or were deleted or moved themselves,
        after ``mark`` (every event queued by now read first: the kernel queues one before the call that caused
        it returns); None when that cannot be known (events lost, or forgotten)."""
        with self._lock:
            if self.fd is None:
                return None
            self._read()
            if mark <= self._forgotten:
                return None
            changed = set()
            for path, epoch in reversed(self._changed_at.items()):  # the latest first
                if epoch < mark:
                    break
                changed.add(path)
            return changed

    def _read(self) -> None:
        """Read the queued events into the changes to take (under the lock)."""
        assert self.fd is not None
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return
            for wd, mask, name in _events(data):
                if mask & _IN_Q_OVERFLOW:
                    self._overflowed = self._lost = True
                    self._forgotten = self._epoch
                    continue
                path = self._paths.get(wd)
                if path is None:
                    continue
                if name and len(self._touched) < _MOST_TOUCHED:
                    self._touched.add(f"{path.rstrip('/')}/{name}")  # (the root is kept as "root/")
                elif name:
                    self._lost = True  # nobody drains them (no content index): kept bounded
                if mask & _IN_CONTENT and not mask & ~(_IN_CONTENT | _IN_ONLYDIR) and name not in self._listed:
                    continue  # a file's content or stat: its directory's listing stands
                self._changed(path)
                if mask & _IN_IGNORED:  # the watch is gone (its directory deleted): its parent said so
                    del self._paths[wd]
                elif mask & _IN_SELF:  # the directory itself deleted or moved: its parent lists it
                    parent, _, base = path.rpartition("/")
                    self._changes.setdefault(parent, set()).add(base)
                else:
                    self._changes.setdefault(path, set()).add(name)

    def _changed(self, directory: str) -> None:
        if len(self._changed_at) >= _MOST_TOUCHED:  # kept bounded: older marks are no longer answered
            self._changed_at.clear()
            self._forgotten = self._epoch
        directory = directory.rstrip("/") or "/"
        self._changed_at.pop(directory, None)  # (kept in the order of their epochs)
        self._changed_at[directory] = self._epoch

    def drain(self) -> tuple[set[str], bool]:
        """The paths events named since the last drain (entries and contents alike), and whether events were
        lost meanwhile (then any file may have changed). Only what ``take`` read: the file index takes the
        events when it proves its list, which a caller does first (reading them here would hide them from it)."""
        with self._lock:
            touched, lost = self._touched, self._lost or self.fd is None
            self._touched, self._lost = set(), False
        return touched, lost

    def close(self) -> None:
        """Release the watches (the listings they vouched for are replaced)."""
        with self._lock:
            fd, self.fd = self.fd, None
            if fd is not None and self._waiting == 0:
                os.close(fd)


_MOST_TOUCHED = 100_000  # paths kept for ``drain``; beyond, they count as lost (a drainer then stats them all)
_EVENT = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len; then the name, NUL-padded


def _events(data: bytes) -> list[tuple[int, int, str]]:
    found, offset = [], 0
    while offset < len(data):
        wd, mask, _, length = _EVENT.unpack_from(data, offset)
        start = offset + _EVENT.size
        found.append((wd, mask, os.fsdecode(data[start : start + length].rstrip(b"\0"))))
        offset = start + length
    return found
