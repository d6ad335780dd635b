"""What a stat proves: the key a file or directory is compared by, and when a timestamp is too fresh to trust."""

from __future__ import annotations

import os

StatKey = tuple[int, int, int]  # mtime_ns, size, inode
RACY_NS = 2_000_000_000  # a timestamp this fresh may hide a second change in the same clock tick (as in git)


def key(st: os.stat_result) -> StatKey:
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def stat_key(path: str) -> StatKey | None:
    try:
        return key(os.stat(path))
    except OSError:
        return None
