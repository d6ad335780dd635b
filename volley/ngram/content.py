"""grep's content index of one workspace: built in the background, kept on disk, trusted no further than it
can prove.

The first grep of a large workspace starts the build on a daemon thread (tantivy writes on one thread of its
own); the build takes the file index's visible files, each read once, its stat key recorded from before the
read. A grep then searches the candidates the index names, plus every file the index cannot vouch for, which
are searched directly and taken in again once no search has marked a file for a moment (REFRESH_QUIET_S):
- where the file index's inotify watches run (Linux), the files events named since the index read them
  (inotify.py records content changes too), and by a stat the files of directories beyond the watch cap;
  when events were lost, or the watches were made anew, every file is stated once again (a sweep);
- elsewhere, every file by a stat: one whose stat key differs from the one recorded, one the index has not
  taken in, one whose timestamps were too fresh when it was read (a second change in the same clock tick
  could keep its key: git's racy rule).
Files too large (but for binary ones: rg shows nothing past a NUL byte) or unreadable are always searched directly.
So an answer never misses what reading every file finds. A new server resumes the store and table kept on disk at
its handshake (and sweeps them once before it serves). A second server on the workspace cannot take the store's
writer lock: it follows the store the first writes, taking up the table that one saves (each file proven by a stat
as ever), and writes it once the first has left.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from volley.cache_dir import cache_home
from volley.exact_open import changed_since, open_exact
from volley.heap import settle
from volley.index import index_of, visible_files
from volley.journal import Journal
from volley.ngram.grams import Extractor, indexed
from volley.ngram.plan import UTF16_MARKS, Query
from volley.ngram.store import FORMAT, Store
from volley.ngram.table import DIRECT, RACY, Table
from volley.stat_keys import StatKey, key, stat_key, too_fresh
from volley.workspace import Workspace

if TYPE_CHECKING:
    import tantivy

    from volley.inotify import DirectoryEvents
    from volley.snapshot import Snapshot

log = logging.getLogger(__name__)

MAX_BYTES = 32 << 20  # a larger file is searched directly, every time, unless it is binary (the largest text
# file of Linux 6.1 is a 24 MB register header; 34 of 4-24 MB searched at every grep cost 30 ms of a 43 ms one):
BINARY_PEEK = 64 << 10  # a NUL byte in this many first bytes (rg shows nothing of a file past its first NUL)
COMMIT_BYTES = 64 << 20  # text taken in between commits while building
BATCH_BYTES = 1 << 20  # text read before its trigrams are found (a batch of small files: grams.py)
_QUICK = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
AUTO_MIN_FILES = 2_000  # grep_index = "auto" builds for workspaces with at least this many visible files
_NO_KEY: StatKey = (0, 0, 0, 0)  # the key of a file that could not be opened (racy as well: never vouched for)
SAVE_EVERY_S = 30.0  # the table is written at most this often after changes (and after a build)
REFRESH_QUIET_S = 0.5  # files are taken in again once no search has marked any for this long (a refresh, 10-20
# ms of reading and a commit, then runs in a model's turn, not beside the searches of a burst of edits),
REFRESH_WITHIN_S = 3.0  # and at most this long after the first mark; until then they are searched directly

_indexes: dict[str, ContentIndex] = {}
_indexes_lock = threading.Lock()


def content_index(ws: Workspace, file_count: int) -> ContentIndex | None:
    """The workspace's content index (started by the first search of ``file_count`` files that warrants one;
    then used by every search of the workspace, a folder's too), or None when it does not keep one."""
    mode = ws.config.grep_index
    if mode == "off":
        return None
    with _indexes_lock:
        index = _indexes.get(str(ws.root))
        if index is None or index.ws is not ws:
            if mode == "auto" and file_count < AUTO_MIN_FILES:
                return None
            index = _indexes[str(ws.root)] = ContentIndex(ws)
            index.start()
        return index


def kept_index(ws: Workspace) -> ContentIndex | None:
    """The workspace's content index if one was started (never starts one)."""
    index = _indexes.get(str(ws.root))
    return index if index is not None and index.ws is ws else None


def resume(ws: Workspace) -> None:
    """Start the workspace's content index now if a former server kept one (a new session's first grep then
    finds it loaded and swept); nothing otherwise: the first grep decides."""
    if ws.config.grep_index != "off" and (_directory_of(str(ws.root)) / "table").is_file():
        content_index(ws, AUTO_MIN_FILES)


def _put(writer: tantivy.IndexWriter, extractor: Extractor, files: list[tuple[int, bytes]]) -> None:
    """Each of ``files`` (row, bytes) in the store as document ``row``."""
    for (row, _), text in zip(files, extractor.texts([data for _, data in files]), strict=True):
        Store.put(writer, row, text)


def _directory_of(root: str) -> Path:
    return cache_home() / f"ngram-{hashlib.sha256(os.fsencode(root)).hexdigest()[:16]}"


def on_disk(ws: Workspace) -> str:
    """What the cache directory holds of the workspace's content index (for `volley config`)."""
    directory = _directory_of(str(ws.root))
    mode = ws.config.grep_index
    when = {"auto": f"at the first grep, {AUTO_MIN_FILES:,} visible files or more", "eager": "at the first grep"}
    try:
        files = int((directory / "summary").read_text())
    except (OSError, ValueError):
        return f"none yet in {directory}" + (f" (built {when[mode]})" if mode in when else " (grep_index is off)")
    size = sum(f.stat().st_size for f in directory.rglob("*") if f.is_file())
    journal = Journal.of(str(ws.root))
    proof = f"watchman's journal (it watches {journal.watch})" if journal else "a stat per file (no watchman on it)"
    found = f"{files:,} files, {size / 1e6:.1f} MB in {directory}; a new server proves it by {proof}"
    return found + ("" if mode in when else " (grep_index is off)")


class ContentIndex:
    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.root = str(ws.root)
        self.directory = _directory_of(self.root)
        self.state = "new"  # building, ready, failed
        self.why = ""
        self.store: Store | None = None
        self.ready = threading.Event()
        # taken up from what a former server kept: searches wait for it (a stat per file); False once loading it
        # failed, before ``_loaded`` is set
        self.resumed = (self.directory / "table").is_file()
        self._loaded = threading.Event()
        self._table = Table()
        self._built = ""  # how this server built the store (empty: taken up from disk)
        self._saved_at = float("-inf")
        self._unsaved = False
        self._dirty: dict[str, int] = {}  # searched directly until taken in again → the change's generation
        self._generation = 0
        self._events: DirectoryEvents | None = None  # the watches last followed
        self._unwatched: list[str] = []  # files of directories the watches do not cover: proven by a stat
        self._seen: Snapshot | None = None  # the file index's walk they were listed from
        self._wake = threading.Event()
        self._followed = 0  # the mtime of the table taken up last, while another server writes the store
        self._lock = threading.Lock()
        self._following = threading.Lock()
        self._writer: tantivy.IndexWriter | None = None  # one for the index's life: it holds the store's lock
        self._journal: Journal | None = None  # a watchman daemon watching the root, if one does
        self._clock: str | None = None  # its clock before the last proof of every row (a build, a sweep)
        # a table taken up from disk: the listing it was named by and the files of it with no row
        self._missing: tuple[Snapshot, list[str]] | None = None
        self._thread = threading.Thread(target=self._run, name=f"volley-ngram-{ws.root.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def status(self) -> str:
        """What the index is doing, for the log."""
        if self.state == "ready":
            size = sum(f.stat().st_size for f in self.directory.rglob("*") if f.is_file())
            return f"ready: {len(self._table):,} files, {size / 1e6:.1f} MB on disk{self._built}"
        return f"{self.state}{': ' + self.why if self.why else ''}"

    def serves(self) -> bool:
        """Whether searches will go through the index (ready, or waited for), not before it."""
        waited = self.ws.config.grep_index == "eager" or self.resumed
        return self.state != "failed" and (self.state == "ready" or waited)

    def _usable(self) -> bool:
        """Whether a search may use the index: once ready; eager, or taken up from disk (as quick as one stat
        per file, quicker than reading them: a new session's first grep waits), a search waits for it."""
        if self.ws.config.grep_index == "eager" or (self._loaded.wait() and self.resumed):
            self.ready.wait()
        return self.state == "ready" and self.store is not None

    def candidates(self, query: Query) -> set[str] | None:
        """The files a match of ``query`` may be in, without looking at every file: the index's candidates and
        what it cannot vouch for (blocking; the file index proven first). None where no watches follow the
        tree (use ``narrowed``) or while the index is not ready."""
        if not self._usable() or not self._follow():
            return None
        assert self.store is not None
        with self._lock:  # first the dirty, then the table, then the store: a refresh commits, updates the
            found = set(self._dirty)  # table, then clears what it took in, so each file is in one of them
        table = self._table
        numbers = self.store.numbers(query)
        found |= {rel for n in numbers if (rel := table.name(n)) is not None} | table.direct
        changed = [rel for rel in self._unwatched if self._changed(rel)]
        if changed:
            self._mark(changed)
        return found | set(changed)

    def narrowed(self, files: list[str], query: Query) -> list[str] | None:
        """The files among ``files`` a match of ``query`` may be in, each proven by a stat (blocking); None
        while the index is not ready."""
        if not self._usable():
            return None
        assert self.store is not None
        with self._lock:  # (in this order: see ``candidates``)
            dirty = set(self._dirty)
        table = self._table
        numbers = self.store.numbers(query)
        keep: list[str] = []
        stale: list[str] = []
        rows, direct = table.rows, table.direct
        for rel in files:
            if rows.get(rel, -1) in numbers or rel in direct or rel in dirty:
                keep.append(rel)
            elif self._changed(rel):
                keep.append(rel)
                stale.append(rel)
        if stale:
            self._mark(stale)
        return keep

    def _changed(self, rel: str) -> bool:
        return not self._table.vouches(rel, stat_key(f"{self.root}/{rel}"))

    def _mark(self, rels: list[str]) -> None:
        with self._lock:
            self._generation += 1
            for rel in rels:
                self._dirty[rel] = self._generation
        self._wake.set()

    def _follow(self) -> bool:
        """Bring the files to search directly up to date from the watches' events (the file index takes them
        while proving its list, here first); False where no watches run."""
        with self._following:  # one at a time: a search must not pass a sweep under way
            return self._follow_events()

    def _follow_events(self) -> bool:
        files = index_of(self.ws)
        if files.events() is None:
            return False
        snapshot = files.snapshot(self.ws.resolve("."))
        events = files.events()
        if events is None or snapshot is None:
            return False
        with self._lock:
            known = events is self._events
            self._events = events
        touched, lost = events.drain()
        if snapshot is not self._seen:  # directories beyond the watch cap: their files are proven by a stat
            self._seen = snapshot
            watched = snapshot.watched
            every = len(watched) >= len(snapshot.directories)
            self._unwatched = [] if every else [r for r in snapshot.files if self._directory(r) not in watched]
        if lost or (not known and not self._proven_by_journal(snapshot)):
            self._sweep(snapshot)
        prefix = len(self.root) + 1
        rels = [path[prefix:] for path in touched if path.startswith(self.root + "/")]
        for rel in list(rels):
            if os.path.isdir(f"{self.root}/{rel}"):
                rels += snapshot.files_below(rel)  # made or moved here whole: no event named what it holds
        if rels:
            self._mark(rels)
        return True

    def _directory(self, rel: str) -> str:
        return f"{self.root}/{rel}".rpartition("/")[0]

    def _sweep(self, snapshot: Snapshot) -> None:
        """Every visible file stated against the table once (new watches, or lost events)."""
        clock = self._journal.clock() if self._journal is not None else None  # (before the stats: the journal
        if clock is not None:  # names any later change)
            self._clock, self._unsaved = clock, True
        self._mark(self._table.unproven(self.root + "/", snapshot.files))
        self._table.distrust_others(snapshot.files)

    def _proven_by_journal(self, snapshot: Snapshot) -> bool:
        """Prove the table taken up from disk by the journal instead of a stat per file (once, as the watches
        are first followed): the files changed since the clock it was kept with, those it has no row for and
        its racy rows are searched until read again; the watches' events name what changes from then on.
        False when there is no journal, it cannot say, or it names more than a tenth of the files (a sweep
        then, with a new clock)."""
        shared, self._missing = self._missing, None
        if shared is None or self._journal is None or self._clock is None:
            return False
        listed, missing = shared
        changed = self._journal.since(self._clock)  # (after the events drained: they hold what follows)
        if changed is None or len(changed) > len(self._table) // 10:
            log.info("watchman's journal cannot prove the content index of %s: every file is stated", self.root)
            return False
        table = self._table  # rows of files out of sight: read again if they come back
        table.distrust_others(snapshot.files, len(listed.files) - len(missing) if snapshot is listed else None)
        rows = table.rows  # (a changed file with no row is out of sight, or new: among ``missing`` or the events)
        unproven = missing + table.racy() + [rel for rel in changed if rel in rows]
        self._mark(unproven)
        log.info("watchman's journal proved the content index of %s: %d files to read again", self.root, len(unproven))
        return True

    def _run(self) -> None:
        try:
            self.state = "building"
            self.store = Store(self.directory)
            self._writer = self._free_writer()
            listed = None  # a resume takes up the file index's walk first: with the table at once, 652 MB at the
            if self.resumed:  # peak at 1M files, 489 one after the other
                listed = index_of(self.ws).snapshot(self.ws.resolve("."))
            self._journal = Journal.of(self.root)
            self.resumed = self._load()
            self._loaded.set()
            if not self.resumed and self._writer is None:
                self._await_table()
            if not self.resumed:
                self._build()
            if not self.resumed or listed is None:  # (proven where they run, watches attached)
                listed = index_of(self.ws).snapshot(self.ws.resolve("."))
            if self.resumed and listed is not None:
                self._missing = listed, self._table.share(listed.files)
            self._follow()  # so every file is stated against the table (unless the journal said) before a search
            if listed is not None:
                listed.holds("")  # what the first search would make (a sorted copy of the list: 0.2 s at 1M)
            settle("the content index")  # (the table and the listing: else the next full collection is a grep's)
            self.state = "ready"
            log.info("content index of %s %s", self.root, self.status())
            if self._writer is None:
                log.info("another server writes the content index of %s: this one follows it", self.root)
        except Exception as exc:  # an accelerator: grep goes on reading every file
            self.state, self.why = "failed", f"{type(exc).__name__}: {exc}"
            log.warning("content index of %s failed (%s): grep reads every file", self.root, self.why)
            return
        finally:
            self._loaded.set()
            self.ready.set()
        while True:
            woken = self._wake.wait(SAVE_EVERY_S)
            self._wake.clear()
            try:
                if self._writer is None:
                    self._follow_writer()
                elif woken:
                    self._quiet_spell()
                    self._refresh()
                elif self._unsaved:
                    self._save()
            except Exception as exc:
                self.state, self.why = "failed", f"{type(exc).__name__}: {exc}"
                log.warning("content index of %s failed (%s): grep reads every file", self.root, self.why)
                return

    def _quiet_spell(self) -> None:
        """Wait until no search has marked files for REFRESH_QUIET_S (at most REFRESH_WITHIN_S)."""
        until = time.monotonic() + REFRESH_WITHIN_S
        while (left := until - time.monotonic()) > 0 and self._wake.wait(min(REFRESH_QUIET_S, left)):
            self._wake.clear()

    def _await_table(self) -> None:
        """Another server is building the store: searches read every file until it has kept its table (taken up
        then) or left (the store is this server's to build); checked at each wake and every SAVE_EVERY_S."""
        log.info("another server is building the content index of %s: grep reads every file meanwhile", self.root)
        while True:
            self._wake.wait(SAVE_EVERY_S)
            self._wake.clear()
            self._writer = self._free_writer()
            if self._load():
                self.resumed = True  # (searches wait for its sweep from now on)
                return
            if self._writer is not None:
                return

    def _free_writer(self) -> tantivy.IndexWriter | None:
        """The store's writer, or None while another server holds it (tantivy's lock on the directory)."""
        assert self.store is not None
        try:
            return self.store.writer()
        except ValueError as exc:
            if "LockBusy" not in str(exc):
                raise
            return None

    def _follow_writer(self) -> None:
        """While another server writes the store: take the writer once it is free (that server left), else take
        up the table it last saved (at most every SAVE_EVERY_S) and stop searching directly the files it
        vouches for now. Sound as the table is: a row it names at a file's current key holds that content in
        every later state of the store (a change of the file changes its key)."""
        writer = self._free_writer()
        if writer is not None:
            self._writer = writer
            log.info("the content index of %s is this server's to write now", self.root)
            self._refresh()
            return
        path = self.directory / "table"
        try:
            saved = path.stat().st_mtime_ns
        except OSError:
            return
        if saved == self._followed or time.monotonic() - self._saved_at < SAVE_EVERY_S:
            return
        if not self._load():
            return
        listed = index_of(self.ws).snapshot(self.ws.resolve("."))
        if listed is not None:
            self._table.share(listed.files)
        self._followed = saved
        with self._lock:
            taking = dict(self._dirty)
        vouched = [rel for rel in taking if not self._changed(rel)]
        with self._lock:
            for rel in vouched:
                if self._dirty.get(rel) == taking[rel]:
                    del self._dirty[rel]

    def _build(self) -> None:
        assert self._writer is not None
        files = visible_files(self.ws, self.ws.resolve("."))
        writer = self._writer
        writer.delete_all_documents()
        table = Table()
        extractor = Extractor()
        pending: list[tuple[int, bytes]] = []  # (row, bytes) read, not yet in the store
        total = put = committed = 0  # bytes read, put in the store, committed
        started = time.time_ns()
        self._clock = self._journal.clock() if self._journal is not None else None  # before any file is read
        for rel in files:
            taken = self._read(rel, quick=True)
            if taken is None:
                continue
            row = table.add(rel, taken[0], taken[1])
            if taken[2] is not None:
                pending.append((row, taken[2]))
                total += len(taken[2])
            if total - put >= BATCH_BYTES:
                _put(writer, extractor, pending)
                pending, put = [], total
            if put - committed >= COMMIT_BYTES:
                writer.commit()
                committed = put
        _put(writer, extractor, pending)
        writer.commit()
        self._table = table
        self._save()
        self._built = f", built in {(time.time_ns() - started) / 1e9:.1f} s from {total / 1e6:.0f} MB of text"
        moved = changed_since(self.root, files, started)  # a directory on the way swapped while reading
        if moved:
            self._mark(sorted(moved))  # searched directly, and read again through open_exact

    def _refresh(self) -> None:
        """Take in again the files the index could not vouch for; each stays searched directly if it changed
        again meanwhile (a newer generation)."""
        assert self._writer is not None
        with self._lock:
            taking = dict(self._dirty)
        table, writer, taken = self._table, self._writer, {}
        pending: list[tuple[int, bytes]] = []
        for rel in sorted(taking):
            row = table.row_for(rel)
            Store.remove(writer, row)  # what the row held (nothing for a new one: a free row's was removed)
            read = self._read(rel)
            taken[rel] = row, read
            if read is not None and read[2] is not None:
                pending.append((row, read[2]))
        if pending:  # (numpy imported only for text to take in)
            _put(writer, Extractor(), pending)
        writer.commit()
        for rel, (row, took) in taken.items():  # after the commit: a row is named once the store holds it
            if took is None:
                table.drop(rel, row)
            else:
                table.put(rel, row, took[0], took[1])
        self._unsaved = True
        with self._lock:
            for rel, generation in taking.items():
                if self._dirty.get(rel) == generation:
                    del self._dirty[rel]
        self._save(at_most_every=SAVE_EVERY_S)

    def _read(self, rel: str, quick: bool = False) -> tuple[StatKey, int, bytes | None] | None:
        """A file's stat key (the opened file's, from before the read), its flags and its bytes as the index
        reads them (``indexed``; None: searched directly); None when it is gone. ``quick``: opened without its
        path checked at every depth (the build checks the directories afterwards, ``changed_since``), else
        through ``open_exact``."""
        path = f"{self.root}/{rel}"
        try:
            fd = os.open(path, _QUICK) if quick else open_exact(path)
        except FileNotFoundError:
            return None
        except OSError:  # unreadable now (permissions, a link swapped in, no descriptors left): searched directly
            return _NO_KEY, DIRECT | RACY, None
        try:
            st = os.fstat(fd)
            fresh = RACY if too_fresh(st) else 0
            if not stat.S_ISREG(st.st_mode):
                return key(st), DIRECT | fresh, None
            if st.st_size > MAX_BYTES:  # a binary one is taken in to its first NUL, all rg shows of it
                data = os.read(fd, BINARY_PEEK)
                if b"\x00" not in data or data.startswith(UTF16_MARKS):
                    return key(st), DIRECT | fresh, None
            else:
                data = os.read(fd, st.st_size + 1)  # a regular file reads short only at its end
                if len(data) > st.st_size:  # it grew meanwhile
                    while chunk := os.read(fd, 1 << 20):
                        data += chunk
        except OSError:
            return _NO_KEY, DIRECT | RACY, None
        finally:
            os.close(fd)
        return key(st), fresh, indexed(data)

    def _save(self, at_most_every: float = 0) -> None:
        """The table on disk (at most every ``at_most_every`` seconds). A table older than the store is safe: a
        row the store has changed since belongs to a file whose stat key has changed too (or that is gone),
        so a new server's sweep searches it directly and takes it in again."""
        if time.monotonic() - self._saved_at < at_most_every:
            self._unsaved = True
            return
        with self._lock:
            unvouched = list(self._dirty)  # (their rows are older than their files)
        head = {"format": FORMAT, "root": self.root, "clock": self._clock}
        self._table.save(self.directory / "table", head, unvouched)
        (self.directory / "summary").write_text(f"{len(self._table)}\n")
        self._saved_at, self._unsaved = time.monotonic(), False

    def _load(self) -> bool:
        try:
            table, head = Table.load(self.directory / "table")
        except (OSError, ValueError, KeyError, TypeError):
            return False
        if head.get("format") != FORMAT or head.get("root") != self.root:
            return False
        self._table = table
        clock = head.get("clock")
        self._clock = clock if isinstance(clock, str) else None
        self._saved_at = time.monotonic()  # as it is on disk: the first refresh need not write it again
        return True
