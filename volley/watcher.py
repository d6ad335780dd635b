"""Watches the workspace so the file index is brought up to date in the background after changes.

On Linux (local filesystems), the index's own inotify watches, one per visible directory added before it
was read, prove its list at each call (index.py, inotify.py); this thread waits on them and, after a
burst of changes, has the index read again what changed, so the next call finds the list ready.
Elsewhere, watchfiles tells it when to refresh, and the index proves itself by stat. If watching fails
(the user's inotify limit, a network filesystem), that is logged once and the server goes on with stat
proofs alone.
"""

from __future__ import annotations

import logging
import threading

from volley.index import index_of
from volley.platform import INOTIFY
from volley.stat_keys import RACY_NS
from volley.workspace import Workspace

log = logging.getLogger(__name__)


class Watcher:
    """Refreshes one workspace's index after each burst of changes, from a daemon thread of its own.

    Only the directories the index walked are watched, each on its own (not recursively): nothing inside an
    ignored or denied directory takes a watch (a node_modules/ used tens of thousands of the user's
    inotify watches), at most ``watch_max_directories`` and a quarter of the user's limit (the rest are
    proven by stat), and no tree walk runs inside watchfiles, which holds the GIL while it sets up (157 ms
    of stalled event loop on django, measured, for a recursive watch).
    """

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"volley-watch-{ws.root.name}", daemon=True)
        self.watched = 0  # directories under watch (for logs and tests)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop within one polling step (50 ms); a refresh under way finishes first."""
        self._stop.set()

    def _run(self) -> None:
        if self.ws.config.watch_max_directories <= 0:
            return
        index = index_of(self.ws)
        why_not = index.watch(self.ws.config.watch_max_directories)
        if why_not is None:
            try:
                self._refresh_on_events()
            except Exception as exc:  # watching is an optimisation: never let it take the server down
                log.warning("watching %s failed (%s); falling back to stat checks", self.ws.root, exc)
            finally:
                index.unwatch()
            return
        if INOTIFY:
            log.info("not watching %s with inotify: %s; listings are proven by stat", self.ws.root, why_not)
            return
        self._run_watchfiles()

    def _refresh_on_events(self) -> None:
        """Linux: the index's own inotify watches prove its list at each call; here, after a burst of events,
        it is brought up to date in the background (the directories that changed are read again), so the
        next call finds it ready."""
        index = index_of(self.ws)
        while not self._stop.is_set():
            index.refresh()  # reads again what changed, watching new directories
            events = index.events()
            self.watched = events.watched if events is not None else 0
            if events is None:
                log.warning("not watching %s: no directory could be watched; listings are proven by stat", self.ws.root)
                return
            log.debug("watching %d directories of %s", events.watched, self.ws.root)
            while not self._stop.is_set() and not events.pending(timeout=0.05):
                pass
            log.debug("changes in %s", self.ws.root)
            if self._stop.wait(0.2):  # let a burst of changes end before walking again
                return

    def _run_watchfiles(self) -> None:
        try:
            while not self._stop.is_set():
                directories = index_of(self.ws).visible_directories()
                cap = self.ws.config.watch_max_directories
                if len(directories) > cap:
                    log.warning(
                        "not watching %s: %d visible directories, more than watch_max_directories (%d); "
                        "listings are proven by stat alone (raise the limit to watch it)",
                        self.ws.root,
                        len(directories),
                        cap,
                    )
                    self.watched = 0
                    return
                self.watched = len(directories)
                log.debug("watching %d directories of %s", len(directories), self.ws.root)
                self._watch(directories)
        except Exception as exc:  # watching is an optimisation: never let it take the server down
            log.warning("watching %s failed (%s); falling back to stat checks", self.ws.root, exc)

    def _watch(self, directories: list[str]) -> None:
        """Watch these directories until the set of visible directories changes (or the watcher stops)."""
        from watchfiles import watch

        root = str(self.ws.root)
        for changes in watch(
            *directories, recursive=False, stop_event=self._stop, debounce=200, step=50, raise_interrupt=False
        ):
            log.debug("%d changes in %s", len(changes), root)
            if self._stop.wait(RACY_NS / 1e9):  # let timestamps settle so the new snapshot can be trusted
                return
            index_of(self.ws).refresh()
            if index_of(self.ws).visible_directories() != directories:
                return  # directories came or went, or ignore rules changed: watch the new set
