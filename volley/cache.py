"""A bounded cache of decoded file lines, keyed by what fstat says of the open file.

An entry is used only when the file's inode, size, mtime and ctime are unchanged, and a file is cached
only once they are old enough that a second write in the same clock tick cannot hide behind it
(git's "racy" rule). So the cache is never stale; it only saves decoding and splitting.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict

from volley.stat_keys import StatKey, key, too_fresh

MAX_FILE_BYTES = 2 * 1024 * 1024


class LineCache:
    """Least-recently-used, bounded by the characters it holds; keyed by absolute path, so one serves all
    workspaces of the process (``LINES``)."""

    def __init__(self, max_chars: int = 64 * 1024 * 1024) -> None:
        self.max_chars = max_chars
        self._entries: OrderedDict[str, tuple[StatKey, list[str], int]] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()
        self.hits = 0

    @staticmethod
    def cacheable(st: os.stat_result) -> bool:
        return st.st_size <= MAX_FILE_BYTES and not too_fresh(st)

    def get(self, path: str, st: os.stat_result) -> list[str] | None:
        with self._lock:
            entry = self._entries.get(path)
            if entry is None or entry[0] != key(st):
                return None
            self._entries.move_to_end(path)
            self.hits += 1
            return entry[1]

    def put(self, path: str, st: os.stat_result, lines: list[str]) -> None:
        size = sum(map(len, lines)) + len(lines)
        if size > self.max_chars:
            return
        with self._lock:
            old = self._entries.pop(path, None)
            if old is not None:
                self._chars -= old[2]
            self._entries[path] = (key(st), lines, size)
            self._chars += size
            while self._chars > self.max_chars:
                _, (_, _, freed) = self._entries.popitem(last=False)
                self._chars -= freed

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._chars = 0


LINES = LineCache()  # the process's: read_file's decoded lines of recently read files
