"""The file index: the walk's list of visible files, kept between calls and never served stale.

A snapshot records, before each directory is read, that directory's stat, and the stat of every
ignore and rule file that shaped the walk. Creating, deleting or renaming an entry changes its
directory's mtime; editing an ignore or config file changes that file's. So re-stating the
snapshot (a few milliseconds for thousands of directories) proves the list is still exact; if
anything differs, the index walks again. A call on a subtree re-stats only what shaped that
subtree: the rule files, the directories above it with their ignore files, and everything the
walk recorded inside it. The file watcher only makes the next call cheaper: it rebuilds in the
background after a change, it is never what correctness rests on.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field
from weakref import WeakKeyDictionary

from volley.ignore import Decision
from volley.stat_keys import RACY_NS, StatKey
from volley.stat_keys import key as _key
from volley.stat_keys import stat_key as _stat_key
from volley.workspace import Entry, Target, Workspace

log = logging.getLogger(__name__)
_indexes: WeakKeyDictionary[Workspace, FileIndex] = WeakKeyDictionary()
_indexes_lock = threading.Lock()


def index_of(ws: Workspace) -> FileIndex:
    """The workspace's index (made at first use, kept as long as the workspace)."""
    with _indexes_lock:
        index = _indexes.get(ws)
        if index is None:
            index = _indexes[ws] = FileIndex(ws)
        return index


def visible_files(ws: Workspace, start: Target, include_ignored: bool = False) -> list[str]:
    """Every regular file below ``start`` that a search may read (links are not followed; blocking).

    Served from the file index, which proves its list current before every use.
    """
    return index_of(ws).files(start, include_ignored)


FILE, DIR, LINK, OTHER = 0, 1, 2, 3  # kinds of entries


@dataclass
class Listing:
    """Entries below a directory in walk order: paths with '/' after directories, their kinds, and what
    ignore rules hid (not entered)."""

    paths: list[str]
    kinds: bytearray
    hidden: list[str]


@dataclass
class _Snapshot:
    files: list[str]
    entries: list[str] = field(default_factory=list)  # every entry walked, in walk order ('/' after a directory)
    kinds: bytearray = field(default_factory=bytearray)
    hidden: list[str] = field(default_factory=list)  # entries ignore rules hid ('/' after a directory)
    stats: dict[str, StatKey | None] = field(default_factory=dict)  # every path that shaped the walk
    rule_files: list[str] = field(default_factory=list)  # config and outer ignore files: they shape everything
    ignore_files: dict[str, list[str]] = field(default_factory=dict)  # directory -> its ignore files
    racy: set[str] = field(default_factory=set)  # directories changed too recently for their mtime to prove anything
    order: list[str] = field(default_factory=list)  # the paths of ``stats``, sorted, to find a subtree's
    directories: list[str] = field(default_factory=list)  # every directory the walk read (none inside ignored ones)
    not_whole: set[str] = field(default_factory=set)  # directories (relative, '' the root) holding anything not a
    # visible regular file at any depth: left out by a rule, a link, a device; the others can be searched whole
    _cover: list[str] | None = None
    _sorted_files: list[str] | None = None

    def cover(self) -> list[str]:
        """The fewest paths that hold exactly the visible files: whole directories, and files elsewhere."""
        if self._cover is None:
            if "" not in self.not_whole:
                self._cover = [""]
            else:
                cover, inside = [], None
                for path, kind in zip(self.entries, self.kinds, strict=True):
                    if inside is not None and path.startswith(inside):
                        continue
                    inside = None
                    if kind == DIR and path[:-1] not in self.not_whole:
                        cover.append(path[:-1])
                        inside = path
                    elif kind == FILE:
                        cover.append(path)
                self._cover = cover
        return self._cover

    def holds(self, rel: str) -> bool:
        """Whether ``rel`` is one of the visible files (a sorted copy of the list, made at first use)."""
        if self._sorted_files is None:
            self._sorted_files = sorted(self.files)
        i = bisect_left(self._sorted_files, rel)
        return i < len(self._sorted_files) and self._sorted_files[i] == rel

    def still_valid(self, paths: list[str] | None = None) -> bool:
        """Whether ``paths`` (default: all) have the stats they had when the walk was made.

        One stat per path, in a plain loop (this is most of a warm listing's cost: 27,000 directories at
        200k files)."""
        stats, racy, stat = self.stats, self.racy, os.stat
        items = stats.items() if paths is None else ((path, stats.get(path, _UNSEEN)) for path in paths)
        for path, expected in items:
            if racy and path in racy:
                return False
            try:
                st = stat(path)
            except OSError:
                if expected is None:
                    continue
                return False
            if expected is None or (st.st_mtime_ns, st.st_size, st.st_ino) != expected:
                return False
        return True

    def shaping(self, directory: str, above: list[str]) -> list[str]:
        """What shaped the files below ``directory``, given the directories ``above`` it."""
        lo, hi = bisect_left(self.order, directory + "/"), bisect_left(self.order, directory + "0")
        paths = [*self.rule_files, directory, *self.order[lo:hi]]
        for ancestor in above:
            paths.append(ancestor)
            paths.extend(self.ignore_files.get(ancestor, ()))
        return paths


_UNSEEN: StatKey = (-1, -1, -1)  # never a real stat: a path the walk did not record proves nothing


class FileIndex:
    """Visible files of the whole workspace, one list with and one without ignored files."""

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace
        self._root = str(workspace.root)
        self._snapshots: dict[bool, _Snapshot] = {}
        self._lock = threading.Lock()
        self.walks = 0  # how many times the tree was walked (for tests and logs)

    def files(self, start: Target, include_ignored: bool) -> list[str]:
        """The regular files below ``start`` that list_dir shows (blocking: call from a worker thread)."""
        if start.rel and self.ws.ignored(start.rel, is_dir=True) is not None:
            return self.ws.walk_files(start, include_ignored)  # inside an ignored tree: walk it directly
        snapshot = self._proven(start, include_ignored)
        if not start.rel:
            return snapshot.files
        prefix = start.rel + "/"
        return [rel for rel in snapshot.files if rel.startswith(prefix)]

    def cover(self, start: Target) -> tuple[list[str], int, Callable[[str], bool]] | None:
        """The visible files below ``start`` as the fewest paths that hold exactly them (whole directories,
        files elsewhere), their number, and a check that a file is one of them (blocking); None inside an
        ignored directory. For searches that walk directories themselves, with no rule of their own."""
        if start.rel and self.ws.ignored(start.rel, is_dir=True) is not None:
            return None
        snapshot = self._proven(start, False)
        if not start.rel:
            return snapshot.cover(), len(snapshot.files), snapshot.holds
        prefix = start.rel + "/"
        cover = snapshot.cover()
        if any(start.rel == path or start.rel.startswith(path + "/") for path in cover if path) or cover == [""]:
            paths = [start.rel]  # inside a whole directory
        else:
            paths = [path for path in cover if path.startswith(prefix)]
        count = sum(1 for rel in snapshot.files if rel.startswith(prefix))
        return paths, count, snapshot.holds

    def listing(self, start: Target, include_ignored: bool) -> Listing | None:
        """Every entry below ``start`` as the walk yields it, proven current (blocking); None inside an
        ignored directory, which the index does not hold."""
        if start.rel and self.ws.ignored(start.rel, is_dir=True) is not None:
            return None
        snapshot = self._proven(start, include_ignored)
        if not start.rel:
            return Listing(snapshot.entries, snapshot.kinds, snapshot.hidden)
        prefix = start.rel + "/"
        keep = [i for i, path in enumerate(snapshot.entries) if path.startswith(prefix)]
        return Listing(
            [snapshot.entries[i] for i in keep],
            bytearray(snapshot.kinds[i] for i in keep),
            [h for h in snapshot.hidden if h.startswith(prefix)],
        )

    def _proven(self, start: Target, include_ignored: bool) -> _Snapshot:
        """A snapshot proven current for ``start``: below the root, only what shaped that subtree is re-stated."""
        if start.rel:
            snapshot = self._snapshots.get(include_ignored)
            if snapshot is not None and snapshot.still_valid(self._shaping(snapshot, start.rel)):
                return snapshot
        return self._current(include_ignored)

    def visible_directories(self) -> list[str]:
        """The directories the visible files live in (absolute paths), current as ``files`` is (blocking)."""
        return self._current(False).directories

    def refresh(self) -> None:
        """Bring every kept list up to date now (the watcher calls this after changes)."""
        for include_ignored in list(self._snapshots):
            self._current(include_ignored)

    def _current(self, include_ignored: bool) -> _Snapshot:
        with self._lock:
            snapshot = self._snapshots.get(include_ignored)
            if snapshot is not None and snapshot.still_valid():
                return snapshot
            if snapshot is not None and not self._rule_files_unchanged(snapshot):
                log.info("configuration or ignore rules outside the tree changed: reloading")
                self.ws.reload()
                self._snapshots.clear()
            snapshot = self._walk(include_ignored)
            self._snapshots[include_ignored] = snapshot
            return snapshot

    def _shaping(self, snapshot: _Snapshot, rel: str) -> list[str]:
        parts = rel.split("/")
        above = [os.path.join(self._root, "/".join(parts[:i])) for i in range(len(parts))]
        return snapshot.shaping(os.path.join(self._root, rel), above)

    def _rule_files_unchanged(self, snapshot: _Snapshot) -> bool:
        return all(_stat_key(str(p)) == snapshot.stats.get(str(p)) for p in self.ws.rule_files())

    def _walk(self, include_ignored: bool) -> _Snapshot:
        snapshot = _Snapshot(files=[], rule_files=[str(path) for path in self.ws.rule_files()])
        for path in snapshot.rule_files:
            snapshot.stats[path] = _stat_key(path)
        directories: list[str] = []
        started = time.time_ns()

        def on_dir(path: str, st: os.stat_result) -> None:
            directories.append(path)
            snapshot.stats[path] = _key(st)
            if started - st.st_mtime_ns < RACY_NS:
                snapshot.racy.add(path)

        def on_hidden(entry: Entry, _: Decision) -> None:
            snapshot.hidden.append(entry.rel + "/" if entry.is_dir else entry.rel)

        left_out: set[str] = set()
        for entry in self.ws.walk(
            self.ws.resolve("."),
            include_ignored=include_ignored,
            on_hidden=on_hidden,
            on_dir=on_dir,
            on_left_out=left_out.add,
        ):
            if entry.is_symlink:
                kind = LINK
            elif entry.is_dir:
                kind = DIR
            else:
                kind = FILE if entry.dirent.is_file(follow_symlinks=False) else OTHER
            snapshot.entries.append(entry.rel + "/" if kind == DIR else entry.rel)
            snapshot.kinds.append(kind)
        snapshot.files = [path for path, kind in zip(snapshot.entries, snapshot.kinds, strict=True) if kind == FILE]
        snapshot.not_whole = _not_whole(snapshot.entries, snapshot.kinds, left_out)
        for directory in directories:
            for path, (mtime, size) in self.ws.ignore.file_keys(directory):
                st = _stat_key(path)
                # the key the rules were built from; an inode we did not see counts as a change
                snapshot.stats[path] = (mtime, size, st[2]) if st is not None else None
                snapshot.ignore_files.setdefault(directory, []).append(path)
        snapshot.order = sorted(snapshot.stats)
        snapshot.directories = directories
        self.walks += 1
        return snapshot


def _not_whole(entries: list[str], kinds: bytearray, left_out: set[str]) -> set[str]:
    """The directories holding, at any depth, something the walk left out or that is not a regular file.

    Backwards through the walk's order, a directory comes after everything below it: its state is
    settled when it is reached, and passed to its parent.
    """
    not_whole = set(left_out)
    for path, kind in zip(reversed(entries), reversed(kinds), strict=True):
        rel = path[:-1] if kind == DIR else path
        if kind in (LINK, OTHER) or (kind == DIR and rel in not_whole):
            not_whole.add(rel.rpartition("/")[0])
    return not_whole
