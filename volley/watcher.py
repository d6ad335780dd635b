"""Watches the workspace so the file index is rebuilt in the background after changes.

Correctness never rests on it: the index proves itself current by stat before every use. The
watcher makes the next call cheap. If watching fails (inotify limits, a network filesystem),
that is logged once and the server goes on with stat checks alone.
"""

from __future__ import annotations

import logging
import threading

from volley.index import index_of
from volley.stat_keys import RACY_NS
from volley.workspace import Workspace

log = logging.getLogger(__name__)


class Watcher:
    """Refreshes one workspace's index after each burst of changes, from a daemon thread of its own.

    It watches the directories the index walked, each on its own (not recursively): nothing inside an
    ignored or denied directory takes a watch (a node_modules/ used tens of thousands of the user's
    inotify watches), and no tree walk runs inside watchfiles, which holds the GIL while it sets up
    (157 ms of stalled event loop on django, measured, for a recursive watch). When the set of visible
    directories changes, the watch is set up again for the new set.
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
