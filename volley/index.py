"""The file index: the walk's list of visible files, kept between calls and never served stale.

Before every use the kept walk proves itself current (snapshot.py: by inotify where the watcher runs on
Linux, else by re-stating what shaped it); a call on a subtree proves only what shaped that subtree.
When something changed, only the directories that changed are read again (index_patch.py); the whole
tree is walked again only when that cannot be known (events lost, rule files changed). The watcher
makes the next call cheaper; it is never what correctness rests on.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from weakref import WeakKeyDictionary

from volley import index_disk
from volley.exact_open import changed_since
from volley.ignore import IGNORE_FILES
from volley.index_patch import patched
from volley.inotify import LOCAL_FILESYSTEMS, DirectoryEvents, filesystem_of, user_watch_limit
from volley.platform import INOTIFY
from volley.snapshot import Listing, Recorder, Snapshot
from volley.stat_keys import stat_key as _stat_key
from volley.workspace import Target, Workspace

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


def hard_link_to_denied(ws: Workspace, st: os.stat_result) -> bool:
    """Whether this file (with more than one name) is a denied file's content under another name; the whole
    tree is walked first (the kept index: once), so every denied file it holds has been met (blocking)."""
    if st.st_nlink <= 1:
        return False
    index_of(ws).files(ws.resolve("."), False)
    return ws.links_to_denied_content(st)


_SAME, _UNKNOWN, _CHANGED = 0, 1, 2  # what ``changed_since`` knows of a directory on a file's way


@dataclass(frozen=True)
class Since:
    """When a reader started (``FileIndex.since``): the time, and a mark in the events of the watches then kept."""

    ns: int
    events: DirectoryEvents | None
    mark: int


@dataclass(frozen=True)
class Cover:
    """The visible regular files below a directory as a search that walks them itself meets them: whole
    directories and files elsewhere (``paths``), or the one path of ``paths`` walked less ``less`` (relative to
    it); ``count`` files; ``holds``: whether a file (relative to the workspace) is one of them."""

    paths: list[str]
    count: int
    holds: Callable[[str], bool]
    less: list[str] | None = None


class FileIndex:
    """Visible files of the whole workspace, one list with and one without ignored files."""

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace
        self._root = str(workspace.root)
        self._snapshots: dict[bool, Snapshot] = {}
        self._lock = threading.Lock()
        self.walks = 0  # how many times the tree was walked (for tests and logs)
        self.patches = 0  # how many times only what changed was read again
        self.loads = 0  # how many times a walk kept by a former server was taken up (at most once)
        self._looked_on_disk = False
        self._watch_cap = 0  # inotify watches the visible list may take (0: proven by stat alone)
        self._cap_said = ""  # what sets that cap, for the log
        self._said_full = False

    def files(self, start: Target, include_ignored: bool) -> list[str]:
        """The regular files below ``start`` that list_dir shows (blocking: call from a worker thread)."""
        if start.rel and self.ws.ignored(start.rel, is_dir=True) is not None:
            return self.ws.walk_files(start, include_ignored)  # inside an ignored tree: walk it directly
        return self._proven(start, include_ignored).files_below(start.rel)

    def cover(
        self, start: Target, most: int = 0, sayable: Callable[[list[str]], bool] = lambda less: False
    ) -> Cover | None:
        """The visible files below ``start`` as a search that walks directories itself meets them, with no rule
        of its own (blocking; proven once): ``start`` walked less what it holds that is not one of them (at
        most ``most`` paths, when ``sayable`` says the search can be told them), else the fewest paths that hold
        exactly them (whole directories, files elsewhere); None inside an ignored directory."""
        if start.rel and self.ws.ignored(start.rel, is_dir=True) is not None:
            return None
        snapshot = self._proven(start, False)
        count = len(snapshot.files) if not start.rel else len(snapshot.files_below(start.rel))
        excluded = snapshot.left_out_below(str(self.ws.root), start.rel, most) if most else None
        if excluded is not None:
            cut = len(start.rel) + 1 if start.rel else 0
            less = [rel[cut:] for rel in excluded]
            if sayable(less):
                return Cover([start.rel], count, snapshot.holds, less)
        whole = snapshot.cover()
        if not start.rel:
            return Cover(whole, count, snapshot.holds)
        prefix = start.rel + "/"
        if any(start.rel == path or start.rel.startswith(path + "/") for path in whole if path) or whole == [""]:
            return Cover([start.rel], count, snapshot.holds)  # inside a whole directory
        return Cover([path for path in whole if path.startswith(prefix)], count, snapshot.holds)

    def snapshot(self, start: Target) -> Snapshot | None:
        """The visible list's walk, proven current for ``start`` (blocking); None inside an ignored directory."""
        if start.rel and self.ws.ignored(start.rel, is_dir=True) is not None:
            return None
        return self._proven(start, False)

    def listing(self, start: Target, include_ignored: bool) -> Listing | None:
        """Every entry below ``start`` as the walk yields it, proven current (blocking); None inside an
        ignored directory, which the index does not hold."""
        if start.rel and self.ws.ignored(start.rel, is_dir=True) is not None:
            return None
        snapshot = self._proven(start, include_ignored)
        if not start.rel:
            return Listing(snapshot.entries, snapshot.kinds, snapshot.hidden)
        prefix = start.rel + "/"
        first, end = snapshot.subtree(start.rel)
        return Listing(
            snapshot.entries[first:end], snapshot.kinds[first:end], [h for h in snapshot.hidden if h.startswith(prefix)]
        )

    def _proven(self, start: Target, include_ignored: bool) -> Snapshot:
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
        if not INOTIFY:
            return "inotify is Linux's" if sys.platform != "linux" else "portable mode (VOLLEY_PORTABLE=1)"
        kind = filesystem_of(self._root)
        if kind not in LOCAL_FILESYSTEMS:
            return f"{kind or 'an unknown'} filesystem, whose changes made elsewhere inotify may not see"
        limit = user_watch_limit() or 8192
        with self._lock:
            self._watch_cap = min(cap, limit // 4)
            self._cap_said = (
                f"watch_max_directories ({cap:,})"
                if cap <= limit // 4
                else f"a quarter of the user's inotify watch limit ({limit // 4:,} of fs.inotify.max_user_watches "
                f"{limit:,})"
            )
        return None

    def unwatch(self) -> None:
        """Stop proving by inotify and release the watches (a watched list is dropped: it kept no racy marks)."""
        with self._lock:
            self._watch_cap = 0
            snapshot = self._snapshots.get(False)
            if snapshot is not None and snapshot.events is not None:
                self._keep(False, None)

    def events(self) -> DirectoryEvents | None:
        """The watches vouching for the visible list now kept (None: it is proven by stat alone)."""
        snapshot = self._snapshots.get(False)
        return snapshot.events if snapshot is not None else None

    def since(self) -> Since:
        """Now, for ``changed_since``: take it before the list a reader reads from is proven."""
        events = self.events()
        return Since(time.time_ns(), events, events.mark() if events is not None else 0)

    def changed_since(self, since: Since, rels: list[str]) -> set[str]:
        """Which of ``rels`` (files) may not be what a reader that started at ``since`` found: a directory on
        the way is not one any more, or its entries changed. Told by the watches' events for the directories
        they vouch for, by a stat (``exact_open.changed_since``) for a file with any other on its way (blocking:
        a stat per directory was 17 ms of a 54 ms grep at 1M files)."""
        snapshot = self._snapshots.get(False)
        events = since.events
        if events is None or snapshot is None or snapshot.events is not events:
            return changed_since(self._root, rels, since.ns)
        changed = events.changed_since(since.mark)
        if changed is None:  # events lost meanwhile
            return changed_since(self._root, rels, since.ns)
        watched, root = snapshot.watched, self._root
        own = _SAME if root in watched or root + "/" in watched else _UNKNOWN
        verdicts = {root: _CHANGED if root in changed else own}  # a directory -> what is known of its way
        found: set[str] = set()
        unknown: list[str] = []
        for rel in rels:
            directory = f"{root}/{rel}".rpartition("/")[0]
            verdict = verdicts.get(directory)
            if verdict is None:  # the directories on its way up to one already judged, then each judged
                way, at = [], directory
                while (verdict := verdicts.get(at)) is None:
                    way.append(at)
                    at = at.rpartition("/")[0]
                    if len(at) < len(root):  # (not below the root)
                        verdict = _UNKNOWN
                        break
                for path in reversed(way):
                    own = _CHANGED if path in changed else _SAME if path in watched else _UNKNOWN
                    verdict = verdicts[path] = max(verdict, own)
            if verdict == _CHANGED:
                found.add(rel)
            elif verdict == _UNKNOWN:
                unknown.append(rel)
        return found | (changed_since(root, unknown, since.ns) if unknown else set())

    def visible_directories(self) -> list[str]:
        """The directories the visible files live in (absolute paths), current as ``files`` is (blocking)."""
        return self._current(False).directories

    def refresh(self) -> None:
        """Bring the visible list, and the one with ignored files if kept, up to date now (the watcher)."""
        for include_ignored in sorted({False, *self._snapshots}):
            self._current(include_ignored)

    def _current(self, include_ignored: bool) -> Snapshot:
        with self._lock:
            snapshot = self._snapshots.get(include_ignored)
            loaded = snapshot is None and not include_ignored and self._load()
            if loaded:
                snapshot = self._snapshots[False]
            if snapshot is not None and snapshot.events is None and self._watch_cap and not include_ignored:
                self._watch_from_now(snapshot)
            if snapshot is not None and snapshot.still_valid():
                return snapshot
            update = None
            if snapshot is not None and not self._rule_files_unchanged(snapshot):
                log.info("configuration or ignore rules outside the tree changed: reloading")
                self.ws.reload()
                for other in [key for key in self._snapshots if key != include_ignored]:
                    self._keep(other, None)
            elif snapshot is not None:
                try:
                    update = patched(self.ws, snapshot, include_ignored)
                except Exception:  # the events it took are lost with it: walk everything again
                    log.warning("reading only what changed in %s failed: walking it all", self._root, exc_info=True)
                if update is not None:
                    self.patches += 1
            kept = update or self._walk(include_ignored)
            self._keep(include_ignored, kept)
            if not include_ignored and (update is None or loaded):  # a walk, or what the last server left patched
                index_disk.save(self.ws, kept)
            return kept

    def _load(self) -> bool:
        """Take up the visible list a former server kept (once; still to be proven, as any kept walk)."""
        if self._looked_on_disk:
            return False
        self._looked_on_disk = True
        snapshot = index_disk.load(self.ws)
        if snapshot is None:
            return False
        self.loads += 1
        self._keep(False, snapshot)
        return True

    def _keep(self, include_ignored: bool, snapshot: Snapshot | None) -> None:
        """Keep ``snapshot`` (None: drop the list), releasing the watches of the one it replaces unless shared."""
        old = self._snapshots.pop(include_ignored, None)
        if old is not None and old.events is not None and (snapshot is None or snapshot.events is not old.events):
            old.events.close()
        if snapshot is not None:
            self._snapshots[include_ignored] = snapshot

    def _watch_from_now(self, snapshot: Snapshot) -> None:
        """Watch a list walked before watching began (or by a former server): each directory is watched, then
        stated; one whose stat differs (or too fresh to prove anything) is marked racy and left to the stat
        proof, so the next proof reads it again (watched from then on), and events vouch for the others."""
        events = self._new_events()
        if events is None:
            return
        try:
            root_dev = os.stat(self._root).st_dev
        except OSError:
            events.close()
            return
        watched = {path for path in snapshot.directories if events.add(path)}
        if not watched:
            events.close()
            return
        changed, elsewhere = snapshot.restated(root_dev)  # stated after the watches were added
        snapshot.racy |= set(changed)
        # before the events: a reader that sees them sees these; another device's watches are not trusted
        snapshot.watched = watched - snapshot.racy - elsewhere
        snapshot.events = events
        self._say_if_full(events, len(snapshot.directories))

    def _shaping(self, snapshot: Snapshot, rel: str) -> list[str]:
        parts = rel.split("/")
        above = [os.path.join(self._root, "/".join(parts[:i])) for i in range(len(parts))]
        return snapshot.shaping(os.path.join(self._root, rel), above)

    def _new_events(self) -> DirectoryEvents | None:
        try:
            return DirectoryEvents(self._watch_cap, self._cap_said, listed=frozenset(IGNORE_FILES))
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

    def _rule_files_unchanged(self, snapshot: Snapshot) -> bool:
        return all(_stat_key(str(p)) == snapshot.stats.get(str(p)) for p in self.ws.rule_files())

    def _walk(self, include_ignored: bool) -> Snapshot:
        started = time.time_ns()
        rule_files = [str(path) for path in self.ws.rule_files()]
        stats = {path: _stat_key(path) for path in rule_files}  # before the walk: a change during it shows
        events = self._new_events() if self._watch_cap and not include_ignored else None
        recorder = Recorder(self.ws, include_ignored, events)
        try:
            entries, kinds = recorder.walk("")
        except BaseException:
            if events is not None:
                events.close()
            raise
        if events is not None and not recorder.watched:
            events.close()
            events = None
        if events is not None:
            self._say_if_full(events, len(recorder.directories))
        recorder.record_ignore_files()
        stats.update(recorder.stats)
        self.walks += 1
        return Snapshot(
            entries=entries,
            kinds=kinds,
            hidden=recorder.hidden,
            stats=stats,
            rule_files=rule_files,
            ignore_files=recorder.ignore_files,
            racy=recorder.racy,
            directories=recorder.directories,
            left_out=recorder.left_out,
            events=events,
            watched=recorder.watched,
            since_ns=started,
        )
