"""The file index: the walk's list of visible files, kept between calls and never served stale.

A snapshot records, before each directory is read, that directory's stat, and the stat of every
ignore and rule file that shaped the walk. Creating, deleting or renaming an entry changes its
directory's mtime; editing an ignore or config file changes that file's. So re-stating the
snapshot (a few milliseconds for thousands of directories) proves the list is still exact; if
anything differs, the index walks again. A call on a subtree re-stats only what shaped that
subtree: the rule files, the directories above it with their ignore files, and everything the
walk recorded inside it. Where the watcher runs on Linux, a directory watched by inotify from before it
was read needs no stat: while no event has come, its listing is exact (inotify.py), so a warm proof is
one poll plus the stats of what is not watched. The watcher also rebuilds in the background after a
change; it is never what correctness rests on.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field
from weakref import WeakKeyDictionary

from volley.ignore import Decision
from volley.inotify import LOCAL_FILESYSTEMS, DirectoryEvents, filesystem_of, user_watch_limit
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
    events: DirectoryEvents | None = None  # inotify watches on directories, added before each was read
    watched: set[str] = field(default_factory=set)  # the directories those watches vouch for: never stated
    _by_stat: list[str] | None = None
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

        A watched directory is proven by the absence of events (one poll for all), every other path by a
        stat, in a plain loop (27,000 directories at 200k files: ~65 ms unwatched)."""
        stats, racy, stat = self.stats, self.racy, os.stat
        if self.events is not None:
            if self.events.changed():
                return False
            if paths is None:
                if self._by_stat is None:
                    self._by_stat = [path for path in stats if path not in self.watched]
                paths = self._by_stat
            else:
                paths = [path for path in paths if path not in self.watched]
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
        self._watch_cap = 0  # inotify watches the visible list may take (0: proven by stat alone)
        self._said_full = False

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

    def watch(self, cap: int) -> str | None:
        """From now on, prove the visible list by inotify for up to ``cap`` directories (the rest by stat);
        the reason when it cannot be (blocking: the next proof registers the watches)."""
        if cap <= 0:
            return "watch_max_directories is 0"
        if sys.platform != "linux":
            return "inotify is Linux's"
        kind = filesystem_of(self._root)
        if kind not in LOCAL_FILESYSTEMS:
            return f"{kind or 'an unknown'} filesystem, whose changes made elsewhere inotify may not see"
        with self._lock:
            self._watch_cap = min(cap, (user_watch_limit() or 8192) // 4)
        return None

    def unwatch(self) -> None:
        """Stop proving by inotify and release the watches (a watched list is dropped: it kept no racy marks)."""
        with self._lock:
            self._watch_cap = 0
            snapshot = self._snapshots.get(False)
            if snapshot is not None and snapshot.events is not None:
                snapshot.events.close()
                del self._snapshots[False]

    def events(self) -> DirectoryEvents | None:
        """The watches vouching for the visible list now kept (None: it is proven by stat alone)."""
        snapshot = self._snapshots.get(False)
        return snapshot.events if snapshot is not None else None

    def visible_directories(self) -> list[str]:
        """The directories the visible files live in (absolute paths), current as ``files`` is (blocking)."""
        return self._current(False).directories

    def refresh(self) -> None:
        """Bring the visible list, and the one with ignored files if kept, up to date now (the watcher)."""
        for include_ignored in sorted({False, *self._snapshots}):
            self._current(include_ignored)

    def _current(self, include_ignored: bool) -> _Snapshot:
        with self._lock:
            snapshot = self._snapshots.get(include_ignored)
            if snapshot is not None and snapshot.still_valid():
                if self._watch_cap and not include_ignored and snapshot.events is None:
                    self._attach_events(snapshot)
                return snapshot
            if snapshot is not None and not self._rule_files_unchanged(snapshot):
                log.info("configuration or ignore rules outside the tree changed: reloading")
                self.ws.reload()
                for kept in self._snapshots.values():
                    if kept.events is not None:
                        kept.events.close()
                self._snapshots.clear()
            elif snapshot is not None and snapshot.events is not None:
                snapshot.events.close()
            snapshot = self._walk(include_ignored)
            self._snapshots[include_ignored] = snapshot
            return snapshot

    def _attach_events(self, snapshot: _Snapshot) -> None:
        """Watch a snapshot walked before watching began: valid if a stat proof holds once they are set."""
        events = self._new_events()
        if events is None:
            return
        root_dev = os.stat(self._root).st_dev
        watched = {path for path in snapshot.directories if _same_device(path, root_dev) and events.add(path)}
        if watched and snapshot.still_valid():  # no change since the walk (racy directories fail this)
            snapshot.events, snapshot.watched = events, watched
            self._say_if_full(events, len(snapshot.directories))
        else:
            events.close()

    def _shaping(self, snapshot: _Snapshot, rel: str) -> list[str]:
        parts = rel.split("/")
        above = [os.path.join(self._root, "/".join(parts[:i])) for i in range(len(parts))]
        return snapshot.shaping(os.path.join(self._root, rel), above)

    def _new_events(self) -> DirectoryEvents | None:
        try:
            return DirectoryEvents(self._watch_cap)
        except OSError as exc:  # the user's inotify instances used up (fs.inotify.max_user_instances)
            if not self._said_full:
                self._said_full = True
                log.warning("cannot watch %s (%s): listings are proven by stat", self._root, exc)
            return None

    def _say_if_full(self, events: DirectoryEvents, directories: int) -> None:
        if events.full is not None and not self._said_full:
            self._said_full = True
            log.warning(
                "watching %d of %d visible directories of %s: %s reached; the others are proven by stat at each "
                "call (raise the limit to watch them all)",
                events.watched,
                directories,
                self._root,
                events.full,
            )

    def _rule_files_unchanged(self, snapshot: _Snapshot) -> bool:
        return all(_stat_key(str(p)) == snapshot.stats.get(str(p)) for p in self.ws.rule_files())

    def _walk(self, include_ignored: bool) -> _Snapshot:
        snapshot = _Snapshot(files=[], rule_files=[str(path) for path in self.ws.rule_files()])
        for path in snapshot.rule_files:
            snapshot.stats[path] = _stat_key(path)
        directories: list[str] = []
        started = time.time_ns()
        events = self._new_events() if self._watch_cap and not include_ignored else None
        root_dev = os.stat(self._root).st_dev

        def on_dir(path: str, st: os.stat_result) -> None:
            directories.append(path)
            snapshot.stats[path] = _key(st)
            if events is not None and st.st_dev == root_dev and events.add(path):
                snapshot.watched.add(path)  # watched before it is read: a change after shows as an event
            elif started - st.st_mtime_ns < RACY_NS:
                snapshot.racy.add(path)

        def on_hidden(entry: Entry, _: Decision) -> None:
            snapshot.hidden.append(entry.rel + "/" if entry.is_dir else entry.rel)

        left_out: set[str] = set()
        try:
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
        except BaseException:
            if events is not None:
                events.close()
            raise
        if events is not None and snapshot.watched:
            snapshot.events = events
            self._say_if_full(events, len(directories))
        elif events is not None:
            events.close()
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


def _same_device(path: str, device: int) -> bool:
    try:
        return os.stat(path).st_dev == device
    except OSError:
        return False


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
