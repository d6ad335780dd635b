"""A kept walk brought up to date by reading again only what changed.

Events (or, for what is not watched, stats) name the directories whose entries changed, and which
entries. Each such directory is listed again (one scandir); of its entries, those new, named by an
event, replaced (another inode) or no longer directories are walked again with everything below them,
and the others keep what the last walk found. An ignore file created, deleted or edited re-walks its
directory's whole subtree (its rules apply to all of it). The result is what a walk of the whole tree
would give, in the same order; when events were lost, or too much changed, the caller walks it all.
"""

from __future__ import annotations

import os
from bisect import bisect_left
from dataclasses import dataclass, field

from volley.ignore import IGNORE_FILES
from volley.snapshot import DIR, Recorder, Snapshot, subtree_end
from volley.workspace import Workspace

MAX_CHANGED_DIRECTORIES = 500  # beyond, walking the whole tree again costs about as much
_ANY: None = None  # a directory whose entries may all have changed (a stat said so, not an event)


def patched(ws: Workspace, old: Snapshot, include_ignored: bool) -> Snapshot | None:
    """``old`` brought up to date by reading again only the directories that changed; None when the whole
    tree must be walked again (events lost, the root itself changed, too many directories changed)."""
    root = str(ws.root)
    changes = _changes(old, root)
    if changes is None or len(changes[0]) > MAX_CHANGED_DIRECTORIES:
        return None
    named, rules = changes
    if "" in rules:
        return None  # the root's own ignore file: everything again
    if not named:  # only files' contents changed (their events): the listing stands, and what was made from it
        old.superseded = False
        return old
    patch = _Patch(ws, old, include_ignored)
    for rel in sorted(named, key=lambda rel: (rel.count("/"), rel) if rel else (-1, "")):
        if not patch.under_rewalked(rel):
            patch.directory(rel, named[rel], rel in rules)
    return patch.snapshot()


def _changes(old: Snapshot, root: str) -> tuple[dict[str, set[str] | None], set[str]] | None:
    """The directories (relative) whose entries changed, with the names that did (None: any), and those
    whose ignore files changed; None when that cannot be known."""
    named: dict[str, set[str] | None] = {}
    rules: set[str] = set()
    taken = old.take_events()
    if taken is None:
        return None
    for path, names in taken.items():
        rel = _relative(root, path)
        if rel is None:
            return None  # the root deleted or moved
        kept = named.get(rel, set())
        named[rel] = None if kept is None else kept | names
        if names & set(IGNORE_FILES):
            rules.add(rel)
    ignore_files = {path for files in old.ignore_files.values() for path in files}
    for path in old.changed_paths():
        if path in old.rule_files:
            return None
        if path in ignore_files:
            rel = _relative(root, os.path.dirname(path))
            if rel is None:
                return None
            rules.add(rel)
            named.setdefault(rel, set())
        else:
            rel = _relative(root, path)
            if rel is None:
                return None
            named[rel] = _ANY
    return named, rules


def _relative(root: str, path: str) -> str | None:
    if path in (root, root + "/"):
        return ""
    return path[len(root) + 1 :] if path.startswith(root + "/") else None


@dataclass
class _Child:
    start: int
    end: int
    kind: int


@dataclass
class _Patch:
    ws: Workspace
    old: Snapshot
    include_ignored: bool
    entries: list[str] = field(init=False)
    kinds: bytearray = field(init=False)
    recorder: Recorder = field(init=False)
    rescanned: set[str] = field(default_factory=set)  # directories listed again (relative)
    gone: set[str] = field(default_factory=set)  # directories whose old subtree is dropped (relative)

    def __post_init__(self) -> None:
        self.entries, self.kinds = list(self.old.entries), bytearray(self.old.kinds)
        self.recorder = Recorder(self.ws, self.include_ignored, self.old.events)
        self._root = str(self.ws.root)

    def under_rewalked(self, rel: str) -> bool:
        """Whether ``rel`` was read again whole, or dropped, already (by an ancestor's patch)."""
        if not self.gone:
            return False
        parts = rel.split("/") if rel else []
        return any("/".join(parts[:i]) in self.gone for i in range(1, len(parts) + 1))

    def directory(self, rel: str, names: set[str] | None, rules_changed: bool) -> None:
        """List ``rel`` again, walk again its entries that changed, keep the others' subtrees."""
        prefix = rel + "/" if rel else ""
        try:
            position = self.entries.index(prefix) if rel else -1
        except ValueError:
            return  # no longer in the listing (its parent's patch dropped it), or never was
        end, children = self._children(position, prefix)
        listing, kinds = self.recorder.walk(rel, max_depth=1)
        self.rescanned.add(rel)
        new_names = {path[len(prefix) :].rstrip("/") for path in listing}
        new_names |= {path[len(prefix) :].rstrip("/") for path in self.recorder.hidden if _parent(path) == rel}
        had = {os.path.basename(path) for path in self.old.ignore_files.get(os.path.join(self._root, rel), ())}
        if names is _ANY and had != new_names & set(IGNORE_FILES):
            rules_changed = True  # an ignore file came or went, unnamed
        content, content_kinds = [], bytearray()
        for path, kind in zip(listing, kinds, strict=True):
            name = path[len(prefix) :].rstrip("/")
            child = children.pop(name, None)
            if kind == DIR and child is not None and self._keeps(rel, name, child, names, rules_changed):
                content += self.entries[child.start : child.end]
                content_kinds += self.kinds[child.start : child.end]
                continue
            if child is not None and child.kind == DIR:
                self.gone.add(prefix + name)
            content.append(path)
            content_kinds.append(kind)
            if kind == DIR:
                self.gone.add(prefix + name)
                below, below_kinds = self.recorder.walk(prefix + name)
                content += below
                content_kinds += below_kinds
        for name, child in children.items():
            if child.kind == DIR:
                self.gone.add(prefix + name)
        self.entries[position + 1 : end] = content
        self.kinds[position + 1 : end] = content_kinds

    def _children(self, position: int, prefix: str) -> tuple[int, dict[str, _Child]]:
        """Where the directory's subtree ends in the walk order, and its entries' ranges there by name.

        A subdirectory's subtree is contiguous and every path in it starts with the subdirectory's, so its
        end is found by bisection: the cost grows with the directory's own entries, not with its subtree."""
        children: dict[str, _Child] = {}
        entries, kinds, size, k = self.entries, self.kinds, len(prefix), position + 1
        while k < len(entries) and entries[k].startswith(prefix):
            path = entries[k]
            end = subtree_end(entries, k + 1, path) if kinds[k] == DIR else k + 1
            children[path[size:].rstrip("/")] = _Child(k, end, kinds[k])
            k = end
        return k, children

    def _keeps(self, rel: str, name: str, child: _Child, names: set[str] | None, rules_changed: bool) -> bool:
        """Whether a directory that is still there keeps what the last walk found below it."""
        if child.kind != DIR or rules_changed:
            return False
        if names is not _ANY:
            return name not in names  # its own watch or stat vouches for what is below
        path = os.path.join(self._root, rel, name)
        kept = self.old.stats.get(path)
        try:
            return kept is not None and os.stat(path, follow_symlinks=False).st_ino == kept[2]
        except OSError:
            return False

    def snapshot(self) -> Snapshot:
        """The patched snapshot (the old one is left as it was: readers may hold it)."""
        old, recorder, root = self.old, self.recorder, self._root
        recorder.record_ignore_files()
        gone_abs = {os.path.join(root, rel) for rel in self.gone}
        dropped: set[str] = set(gone_abs)  # old paths that shaped what is gone: directories, their ignore files
        order = old.order
        for path in gone_abs:
            dropped.update(order[bisect_left(order, path + "/") : bisect_left(order, path + "0")])
        for rel in self.rescanned:
            dropped.update(old.ignore_files.get(os.path.join(root, rel), ()))
        stats = {path: key for path, key in old.stats.items() if path not in dropped}
        stats.update(recorder.stats)
        ignore_files = {d: files for d, files in old.ignore_files.items() if d not in dropped}
        for rel in self.rescanned:
            ignore_files.pop(os.path.join(root, rel), None)
        ignore_files.update(recorder.ignore_files)
        directories = [d for d in old.directories if d not in dropped]
        known = set(directories)
        directories += [d for d in recorder.directories if d not in known]
        return Snapshot(
            entries=self.entries,
            kinds=self.kinds,
            hidden=[h for h in old.hidden if not self._replaced(h)] + recorder.hidden,
            stats=stats,
            rule_files=old.rule_files,
            ignore_files=ignore_files,
            racy=(old.racy - dropped - {os.path.join(root, rel) for rel in self.rescanned}) | recorder.racy,
            directories=directories,
            left_out={rel for rel in old.left_out if rel not in self.rescanned and not self._inside_gone(rel)}
            | recorder.left_out,
            events=old.events,
            watched=(old.watched - dropped) | recorder.watched,
            since_ns=old.since_ns,
        )

    def _replaced(self, hidden: str) -> bool:
        """Whether a hidden entry of the old walk was read again (its directory listed again, or dropped)."""
        parent = _parent(hidden)
        return parent in self.rescanned or self._inside_gone(parent) or hidden.rstrip("/") in self.gone

    def _inside_gone(self, rel: str) -> bool:
        return rel in self.gone or self.under_rewalked(rel)


def _parent(path: str) -> str:
    return path.rstrip("/").rpartition("/")[0]
