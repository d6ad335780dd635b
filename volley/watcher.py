"""Watches the workspace so the file index is rebuilt in the background after changes.

Correctness never rests on it: the index proves itself current by stat before every use. The
watcher makes the next call cheap. If watching fails (inotify limits, a network filesystem),
that is logged once and the server goes on with stat checks alone.
"""

from __future__ import annotations

import logging
import os
import threading

from volley.index import RACY_NS
from volley.workspace import Workspace

log = logging.getLogger(__name__)


class Watcher:
    """Refreshes one workspace's index after each burst of changes, from a daemon thread of its own.

    Setting up the watch walks the whole tree (inotify wants one watch per directory), which can take
    a good part of a second on a large tree: in this thread it never holds up the event loop, nor the
    client's first requests.
    """

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"volley-watch-{ws.root.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop within one polling step (50 ms); a refresh under way finishes first."""
        self._stop.set()

    def _run(self) -> None:
        from watchfiles import watch

        root = str(self.ws.root)

        def relevant(_: object, path: str) -> bool:
            rel = os.path.relpath(path, root)
            return not (rel == ".git" or rel.startswith(".git" + os.sep))

        try:
            for changes in watch(
                root, watch_filter=relevant, stop_event=self._stop, debounce=200, step=50, raise_interrupt=False
            ):
                log.debug("%d changes in %s", len(changes), root)
                if self._stop.wait(RACY_NS / 1e9):  # let timestamps settle so the new snapshot can be trusted
                    return
                self.ws.index.refresh()
        except Exception as exc:  # watching is an optimisation: never let it take the server down
            log.warning("watching %s failed (%s); falling back to stat checks", root, exc)
