"""What a stat proves: the key a file or directory is compared by, and when a timestamp is too fresh to trust.

The key holds the ctime as git's index does: `cp -p`, `touch -r`, tar and `rsync -t` can put an old mtime
back on new content of the same size, but no user-space call sets the ctime, and every write moves it.
"""

from __future__ import annotations

import hashlib
import os
import time

StatKey = tuple[int, int, int, int]  # mtime_ns, size, inode, ctime_ns
RACY_NS = 2_000_000_000  # a timestamp this fresh may hide a second change in the same clock tick (as in git)


def key(st: os.stat_result) -> StatKey:
    return (st.st_mtime_ns, st.st_size, st.st_ino, st.st_ctime_ns)


def stat_key(path: str) -> StatKey | None:
    try:
        return key(os.stat(path))
    except OSError:
        return None


def too_fresh(st: os.stat_result) -> bool:
    """Changed within RACY_NS of ``now_ns`` (default: now), by its mtime or its ctime: a second change in the
    same clock tick could leave every field of the key as it is, so the stat proves nothing yet."""
    return time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) < RACY_NS


def version_of(st: os.stat_result) -> str:
    """A short name for the file's state (its key): what read_file shows and edit compares."""
    return hashlib.blake2b(repr(key(st)).encode(), digest_size=4).hexdigest()
