"""Watches the workspace so the file index is rebuilt in the background after changes.

Correctness never rests on it: the index proves itself current by stat before every use. The
watcher makes the next call cheap. If watching fails (inotify limits, a network filesystem),
that is logged once and the server goes on with stat checks alone.
"""

from __future__ import annotations

import logging
import os

import anyio
import anyio.to_thread

from volley.index import RACY_NS
from volley.workspace import Workspace

log = logging.getLogger(__name__)


async def watch(ws: Workspace, stop: anyio.Event) -> None:
    """Refresh the index after each burst of changes, until ``stop`` is set."""
    from watchfiles import awatch

    root = str(ws.root)

    def relevant(_: object, path: str) -> bool:
        rel = os.path.relpath(path, root)
        return not (rel == ".git" or rel.startswith(".git" + os.sep))

    try:
        async for changes in awatch(root, watch_filter=relevant, stop_event=stop, debounce=200, step=50):
            log.debug("%d changes in the workspace", len(changes))
            await anyio.sleep(RACY_NS / 1e9)  # let timestamps settle so the rebuilt snapshot can be trusted
            await anyio.to_thread.run_sync(ws.index.refresh, abandon_on_cancel=True)
    except Exception as exc:  # watching is an optimisation: never let it take the server down
        log.warning("watching %s failed (%s); falling back to stat checks", root, exc)
