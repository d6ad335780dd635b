"""grep's content index of one workspace: built in the background, kept on disk, trusted no further than a stat.

The first grep of a large workspace starts the build on a daemon thread (tantivy writes on one thread of its
own); the build takes the file index's visible files, each read once, its stat key recorded from before the
read. A grep then searches only the candidates the index names, plus every file the index cannot vouch for:
one it has not taken in (new, too large, unreadable), one whose stat key differs from the one recorded (edited
since), one whose timestamps were too fresh when it was read (a second change in the same clock tick could
keep its key; git's racy rule). Those files are searched directly, so an answer never misses what rg would
find, and taken in again behind the search. A new server starts from the store and table kept on disk.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import threading
from typing import TYPE_CHECKING

from volley.cache_dir import cache_home
from volley.exact_open import read_exact
from volley.index import visible_files
from volley.ngram.plan import Query, searched_text
from volley.ngram.store import FORMAT, Store
from volley.stat_keys import key, stat_key, too_fresh
from volley.workspace import Workspace

if TYPE_CHECKING:
    import tantivy

log = logging.getLogger(__name__)

MAX_BYTES = 4 << 20  # a larger file is searched directly, every time
COMMIT_BYTES = 64 << 20  # text taken in between commits while building
DIRECT = -1  # the number of a file searched directly
AUTO_MIN_FILES = 2_000  # grep_index = "auto" builds for workspaces with at least this many visible files

Entry = list[int]  # number, mtime_ns, size, inode, ctime_ns, racy (1: read while too fresh to trust)

_indexes: dict[str, ContentIndex] = {}
_indexes_lock = threading.Lock()


def content_index(ws: Workspace, file_count: int) -> ContentIndex | None:
    """The workspace's content index (started at first use), or None when it does not keep one."""
    mode = ws.config.grep_index
    if mode == "off" or (mode == "auto" and file_count < AUTO_MIN_FILES):
        return None
    with _indexes_lock:
        index = _indexes.get(str(ws.root))
        if index is None or index.ws is not ws:
            index = _indexes[str(ws.root)] = ContentIndex(ws)
            index.start()
        return index


class ContentIndex:
    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.root = str(ws.root)
        self.directory = cache_home() / f"ngram-{hashlib.sha256(self.root.encode()).hexdigest()[:16]}"
        self.state = "new"  # building, ready, failed
        self.why = ""
        self.store: Store | None = None
        self.ready = threading.Event()
        self._table: dict[str, Entry] = {}  # replaced whole, never changed in place (readers take it unlocked)
        self._next = 0
        self._stale: set[str] = set()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._writer: tantivy.IndexWriter | None = None  # one for the index's life: it holds the store's lock
        self._thread = threading.Thread(target=self._run, name=f"volley-ngram-{ws.root.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def status(self) -> str:
        """What the index is doing, for the log and the answer."""
        if self.state == "ready":
            size = sum(f.stat().st_size for f in self.directory.rglob("*") if f.is_file())
            return f"ready: {len(self._table):,} files, {size / 1e6:.1f} MB on disk"
        return f"{self.state}{': ' + self.why if self.why else ''}"

    def narrowed(self, files: list[str], query: Query) -> list[str] | None:
        """The files among ``files`` a match of ``query`` may be in: the index's candidates and every file it
        cannot vouch for (blocking); None while it is not ready. An eager index waits until it is."""
        if self.ws.config.grep_index == "eager":
            self.ready.wait()
        if self.state != "ready" or self.store is None:
            return None
        table = self._table  # before the store's answer: a refresh commits first, then swaps the table
        numbers = self.store.numbers(query)
        keep: list[str] = []
        stale: list[str] = []
        for rel in files:
            entry = table.get(rel)
            if entry is not None and (entry[0] == DIRECT or entry[0] in numbers):
                keep.append(rel)
            elif entry is None or entry[5] or stat_key(f"{self.root}/{rel}") != tuple(entry[1:5]):
                keep.append(rel)
                stale.append(rel)
        if stale:
            with self._lock:
                self._stale.update(stale)
            self._wake.set()
        return keep

    def _run(self) -> None:
        try:
            self.state = "building"
            self.store = Store(self.directory)
            self._writer = self.store.writer()
            if not self._load():
                self._build()
            self.state = "ready"
            log.info("content index of %s %s", self.root, self.status())
        except Exception as exc:  # an accelerator: grep goes on reading every file
            self.state, self.why = "failed", f"{type(exc).__name__}: {exc}"
            log.warning("content index of %s failed (%s): grep reads every file", self.root, self.why)
            return
        finally:
            self.ready.set()
        while True:
            self._wake.wait()
            self._wake.clear()
            try:
                self._refresh()
            except Exception as exc:
                self.state, self.why = "failed", f"{type(exc).__name__}: {exc}"
                log.warning("content index of %s failed (%s): grep reads every file", self.root, self.why)
                return

    def _build(self) -> None:
        assert self._writer is not None
        files = visible_files(self.ws, self.ws.resolve("."))
        writer = self._writer
        writer.delete_all_documents()
        table: dict[str, Entry] = {}
        pending = 0
        for number, rel in enumerate(files):
            entry, taken = self._take(writer, rel, number)
            if entry is not None:
                table[rel] = entry
            pending += taken
            if pending >= COMMIT_BYTES:
                writer.commit()
                pending = 0
        writer.commit()
        self._table, self._next = table, len(files)
        self._save()

    def _refresh(self) -> None:
        """Take in again the files a search found the index could not vouch for."""
        assert self._writer is not None
        with self._lock:
            stale, self._stale = self._stale, set()
        table = dict(self._table)
        writer = self._writer
        for rel in sorted(stale):
            old = table.pop(rel, None)
            if old is not None and old[0] != DIRECT:
                Store.remove(writer, old[0])
            entry, _ = self._take(writer, rel, self._next)
            self._next += 1
            if entry is not None:
                table[rel] = entry
        writer.commit()
        self._table = table
        self._save()

    def _take(self, writer: tantivy.IndexWriter, rel: str, number: int) -> tuple[Entry | None, int]:
        """A file's entry, its text put in the store (None: gone); and the bytes taken in."""
        path = f"{self.root}/{rel}"
        try:
            st = os.stat(path)
        except OSError:
            return None, 0
        fresh = int(too_fresh(st))
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_BYTES:
            return [DIRECT, *key(st), fresh], 0
        try:
            data = read_exact(path)
        except OSError:
            return [DIRECT, *key(st), fresh], 0
        Store.put(writer, number, searched_text(data))
        return [number, *key(st), fresh], len(data)

    def _save(self) -> None:
        body = json.dumps({"format": FORMAT, "root": self.root, "next": self._next, "files": self._table})
        temporary = self.directory / "files.json.new"
        temporary.write_text(body)
        os.replace(temporary, self.directory / "files.json")

    def _load(self) -> bool:
        try:
            kept = json.loads((self.directory / "files.json").read_text())
        except (OSError, ValueError):
            return False
        if kept.get("format") != FORMAT or kept.get("root") != self.root:
            return False
        self._table, self._next = kept["files"], kept["next"]
        return True
