"""A walk of the workspace as the index keeps it, what proves it current, and what a walk records.

A snapshot records, before each directory is read, that directory's stat, and the stat of every
ignore and rule file that shaped the walk. Creating, deleting or renaming an entry changes its
directory's mtime; editing an ignore or config file changes that file's. So re-stating the
snapshot proves the list is still exact. A directory watched by inotify from before it was read
needs no stat: while no event has come, its listing stands (inotify.py), so a warm proof is one poll
plus the stats of what is not watched.
"""

from __future__ import annotations

import os
import stat
import time
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import compress

from volley.ignore import IGNORE_FILES, Decision
from volley.inotify import DirectoryEvents
from volley.stat_keys import RACY_NS, StatKey
from volley.stat_keys import key as _key
from volley.workspace import Entry, Target, Workspace

FILE, DIR, LINK, OTHER = 0, 1, 2, 3  # kinds of entries
_FILES_ONLY = bytes.maketrans(b"\x00\x01\x02\x03", b"\x01\x00\x00\x00")
UNSEEN: StatKey = (-1, -1, -1, -1)  # never a real stat: a path the walk did not record proves nothing


@dataclass
class Listing:
    """Entries below a directory in walk order: paths with '/' after directories, their kinds, and what
    ignore rules hid (not entered)."""

    paths: list[str]
    kinds: bytearray
    hidden: list[str]


@dataclass
class Snapshot:
    entries: list[str]  # every entry walked, in walk order ('/' after a directory)
    kinds: bytearray
    hidden: list[str]  # entries ignore rules hid ('/' after a directory)
    stats: dict[str, StatKey | None]  # every path that shaped the walk
    rule_files: list[str]  # config and outer ignore files: they shape everything
    ignore_files: dict[str, list[str]]  # directory -> its ignore files
    racy: set[str]  # directories changed too recently for their mtime to prove anything
    directories: list[str]  # every directory the walk read (none inside ignored ones)
    left_out: set[str]  # directories (relative) from which the walk left out anything they hold
    events: DirectoryEvents | None = None  # inotify watches on directories, added before each was read
    watched: set[str] = field(default_factory=set)  # the directories those watches vouch for: never stated
    since_ns: int = 0  # when the oldest of its stats was taken (a stat of a path changed after it may be racy)
    files: list[str] = field(init=False)
    superseded: bool = False  # its events were taken to make a newer one: it proves nothing any more
    _order: list[str] | None = None
    _not_whole: set[str] | None = None
    _by_stat: list[str] | None = None
    _cover: list[str] | None = None
    _sorted_files: list[str] | None = None
    _less: dict[tuple[str, int], list[str] | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.files = list(compress(self.entries, self.kinds.translate(_FILES_ONLY)))

    @property
    def order(self) -> list[str]:
        """The paths of ``stats``, sorted, to find a subtree's (made at first use)."""
        if self._order is None:
            self._order = sorted(self.stats)
        return self._order

    @property
    def not_whole(self) -> set[str]:
        """Directories (relative, '' the root) holding anything not a visible regular file at any depth: left
        out by a rule, a link, a device; the others can be searched whole (made at first use)."""
        if self._not_whole is None:
            self._not_whole = _not_whole(self.entries, self.kinds, self.left_out)
        return self._not_whole

    def cover(self) -> list[str]:
        """The fewest paths that hold exactly the visible files: whole directories, and files elsewhere."""
        if self._cover is None:
            not_whole = self.not_whole
            if "" not in not_whole:
                self._cover = [""]
            else:
                cover, inside = [], None
                for path, kind in zip(self.entries, self.kinds, strict=True):
                    if inside is not None and path.startswith(inside):
                        continue
                    inside = None
                    if kind == DIR and path[:-1] not in not_whole:
                        cover.append(path[:-1])
                        inside = path
                    elif kind == FILE:
                        cover.append(path)
                self._cover = cover
        return self._cover

    def left_out_below(self, root: str, rel: str, most: int) -> list[str] | None:
        """What a walk of the directory ``rel`` meets that is not a visible regular file (relative paths: what
        rules left out, listed at first use, and links and special files), so that a walk of ``rel`` less these
        holds exactly its visible files (blocking); None when there are more than ``most``."""
        if (rel, most) not in self._less:
            self._less[rel, most] = self._left_out_below(root, rel, most)
        return self._less[rel, most]

    def _left_out_below(self, root: str, rel: str, most: int) -> list[str] | None:
        prefix = rel + "/" if rel else ""
        start, end = self.subtree(rel)
        found = [p for p, k in zip(self.entries[start:end], self.kinds[start:end], strict=True) if k in (LINK, OTHER)]
        listed = None
        for folder in sorted(d for d in self.left_out if d == rel or d.startswith(prefix) or not rel):
            if len(found) > most:
                return None
            if listed is None:
                listed = set(self.entries[start:end])
            base = f"{folder}/" if folder else ""
            try:
                names = os.listdir(f"{root}/{folder}" if folder else root)
            except OSError:
                found.append(folder)  # unreadable: nothing in it is visible
                continue
            found += [base + n for n in names if base + n not in listed and base + n + "/" not in listed]
        return found if len(found) <= most else None

    def holds(self, rel: str) -> bool:
        """Whether ``rel`` is one of the visible files (a sorted copy of the list, made at first use)."""
        if self._sorted_files is None:
            self._sorted_files = sorted(self.files)
        i = bisect_left(self._sorted_files, rel)
        return i < len(self._sorted_files) and self._sorted_files[i] == rel

    def subtree(self, rel: str) -> tuple[int, int]:
        """Where the entries below the directory ``rel`` lie in the walk order (contiguous: it is depth-first),
        found with one search for the directory and a bisection for the end; (0, 0) when it is not listed."""
        if not rel:
            return 0, len(self.entries)
        try:
            start = self.entries.index(rel + "/") + 1
        except ValueError:
            return 0, 0
        return start, subtree_end(self.entries, start, rel + "/")

    def files_below(self, rel: str) -> list[str]:
        """The regular files below the directory ``rel``, in walk order."""
        if not rel:
            return self.files
        start, end = self.subtree(rel)
        return list(compress(self.entries[start:end], self.kinds[start:end].translate(_FILES_ONLY)))

    def by_stat(self) -> list[str]:
        """The paths proven by a stat: all but the watched directories and the ignore files in them, whose
        content changes their watches report (``listed``): 1,000 stats at each proof of the 1M tree, else."""
        if self._by_stat is None:
            self._by_stat = [path for path in self.stats if not self._watched(path)]
        return self._by_stat

    def _watched(self, path: str) -> bool:
        if path in self.watched:
            return True
        directory, _, name = path.rpartition("/")
        if name not in IGNORE_FILES or directory not in self.watched or path in self.racy or path in self.rule_files:
            return False  # (racy: changed before the watch began)
        try:  # a link's target, or another name of the file, changes with no event here
            st = os.lstat(path)
        except OSError:
            return False
        return stat.S_ISREG(st.st_mode) and st.st_nlink == 1

    def still_valid(self, paths: list[str] | None = None) -> bool:
        """Whether ``paths`` (default: all) have the stats they had when the walk was made.

        A watched directory is proven by the absence of events (one poll for all), every other path by a
        stat (27,000 directories at 200k files: ~65 ms unwatched)."""
        if self.superseded or (self.events is not None and self.events.pending()):
            return False
        return next(self._changed(paths), None) is None

    def changed_paths(self) -> list[str]:
        """The paths proven by stat whose stat differs now, or too fresh to prove anything."""
        return list(self._changed(None))

    def restated(self, device: int) -> tuple[list[str], set[str]]:
        """Every path proven by stat stated once: those whose stat differs now (or too fresh to prove anything),
        and the directories on another device than ``device`` (one stat for both: a million files' tree has a
        quarter of a million directories)."""
        changed: list[str] = []
        elsewhere: set[str] = set()
        racy, stat_of = self.racy, os.stat
        for path, expected in self.stats.items():
            try:
                st = stat_of(path)
            except OSError:
                if expected is not None or path in racy:
                    changed.append(path)
                continue
            if st.st_dev != device:
                elsewhere.add(path)
            if path in racy or expected is None or _key(st) != expected:
                changed.append(path)
        return changed, elsewhere

    def take_events(self) -> dict[str, set[str]] | None:
        """The entries events named since the walk (inotify.py's ``take``), this snapshot marked superseded
        first: a reader proving it without the index's lock must not trust it once they are taken."""
        self.superseded = True
        return self.events.take() if self.events is not None else {}

    def _changed(self, paths: list[str] | None) -> Iterator[str]:
        """The paths (default: all but the watched directories) whose stat is not the one recorded, in a plain
        loop: this is most of a warm proof where nothing is watched."""
        stats, racy, stat_of = self.stats, self.racy, os.stat
        if self.events is not None:
            paths = self.by_stat() if paths is None else [path for path in paths if path not in self.watched]
        items = stats.items() if paths is None else ((path, stats.get(path, UNSEEN)) for path in paths)
        for path, expected in items:
            if racy and path in racy:
                yield path
                continue
            try:
                st = stat_of(path)
            except OSError:
                if expected is not None:
                    yield path
                continue
            if expected is None or _key(st) != expected:
                yield path

    def shaping(self, directory: str, above: list[str]) -> list[str]:
        """What shaped the files below ``directory``, given the directories ``above`` it."""
        order = self.order
        lo, hi = bisect_left(order, directory + "/"), bisect_left(order, directory + "0")
        paths = [*self.rule_files, directory, *order[lo:hi]]
        for ancestor in above:
            paths.append(ancestor)
            paths.extend(self.ignore_files.get(ancestor, ()))
        return paths


class Recorder:
    """The hooks of a walk, of the whole tree or of the parts a change touched, and what they record.

    Each directory is watched (when ``events`` is given, on the root's device) before it is read, so a
    change after shows as an event; an unwatched one is marked racy when its mtime is too fresh to prove.
    """

    def __init__(self, ws: Workspace, include_ignored: bool, events: DirectoryEvents | None) -> None:
        self.ws, self.include_ignored, self.events = ws, include_ignored, events
        self._root = str(ws.root)
        try:
            self._root_dev = os.stat(self._root).st_dev
        except OSError:  # the root gone: the walk finds nothing, and nothing is watched
            self._root_dev = -1
        self._started = time.time_ns()
        self.hidden: list[str] = []
        self.stats: dict[str, StatKey | None] = {}
        self.directories: list[str] = []
        self.racy: set[str] = set()
        self.watched: set[str] = set()
        self.left_out: set[str] = set()
        self.ignore_files: dict[str, list[str]] = {}

    def walk(self, rel: str, max_depth: int | None = None) -> tuple[list[str], bytearray]:
        """The entries below the directory ``rel`` ('' the root) as Workspace.walk yields them, and their kinds
        (what shaped them is recorded here)."""
        target = Target(rel, os.path.join(self._root, rel) if rel else self._root, True)
        entries, kinds = [], bytearray()
        for entry in self.ws.walk(
            target,
            max_depth=max_depth,
            include_ignored=self.include_ignored,
            on_hidden=self._on_hidden,
            on_dir=self._on_dir,
            on_left_out=self.left_out.add,
        ):
            if entry.is_symlink:
                kind = LINK
            elif entry.is_dir:
                kind = DIR
            else:
                kind = FILE if entry.dirent.is_file(follow_symlinks=False) else OTHER
            entries.append(entry.rel + "/" if kind == DIR else entry.rel)
            kinds.append(kind)
        return entries, kinds

    def record_ignore_files(self) -> None:
        """Record the stat of the ignore files in every directory read (once the walks are done)."""
        for directory in self.directories:
            for path, loaded in self.ws.ignore.file_keys(directory):
                try:
                    st = os.stat(path)
                except OSError:
                    st = None  # proven absent: creating it shows even where its directory's mtime does not
                if st is not None and stat.S_ISDIR(st.st_mode):
                    continue  # a directory now, where an ignore file was read once: not a rule file
                # the key the rules were built from; an inode we did not see counts as a change
                self.stats[path] = loaded if st is not None else None
                self.ignore_files.setdefault(directory, []).append(path)

    def _on_dir(self, path: str, st: os.stat_result) -> None:
        self.directories.append(path)
        self.stats[path] = _key(st)
        if self.events is not None and st.st_dev == self._root_dev and self.events.add(path):
            self.watched.add(path)  # watched before it is read: a change after shows as an event
        elif self._started - st.st_mtime_ns < RACY_NS:  # (a directory's ctime is in its key, not here)
            self.racy.add(path)

    def _on_hidden(self, entry: Entry, _: Decision) -> None:
        self.hidden.append(entry.rel + "/" if entry.is_dir else entry.rel)


def subtree_end(entries: list[str], start: int, prefix: str) -> int:
    """The end of the run of entries from ``start`` that begin with ``prefix`` (a directory's, '/' at its end):
    below a directory the walk order is contiguous, so a bisection finds it."""
    end, hi = start, len(entries)
    while end < hi:
        middle = (end + hi) // 2
        if entries[middle].startswith(prefix):
            end = middle + 1
        else:
            hi = middle
    return end


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
