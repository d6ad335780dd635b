"""The full output of recent linter and test runs, kept in temporary files so a model can page it.

One store per process (every workspace's runs, so run_output finds any of them). Its directory is
``$TMPDIR/volley-runs-<pid>-<random>``: removed when the server exits (close(), also at interpreter
exit), and a server that died hard leaves one that the next store to open removes, once its pid is gone.
"""

from __future__ import annotations

import atexit
import itertools
import os
import re
import shutil
import tempfile
import threading
from collections import OrderedDict

from volley.errors import InputError

PREFIX = "volley-runs-"
_OWNED = re.compile(rf"^{PREFIX}(\d+)-")


class RunStore:
    """Keeps the last ``keep`` runs' output; older ones are deleted. ``keeping=False``: none is kept
    (a one-shot ``volley call`` exits with its answer, so no id is offered that nothing could page)."""

    def __init__(self, keep: int = 32, keeping: bool = True) -> None:
        self.keep = keep
        self.keeping = keeping
        self._dir: str | None = None
        self._runs: OrderedDict[str, str] = OrderedDict()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def save(self, output: bytes) -> str | None:
        """Keep a run's output; its id for run_output, or None when this store keeps nothing."""
        if not self.keeping:
            return None
        with self._lock:
            if self._dir is None:
                self._dir = _own_dir()
                atexit.register(self.close)
            run_id = f"run-{next(self._ids)}"
            path = os.path.join(self._dir, run_id)
            with open(path, "wb") as f:
                f.write(output)
            self._runs[run_id] = path
            while len(self._runs) > self.keep:
                _, old = self._runs.popitem(last=False)
                os.unlink(old)
            return run_id

    def lines(self, run_id: str) -> list[str]:
        path = self._runs.get(run_id)
        if path is None:
            if not self.keeping:
                raise InputError("this process keeps no run output (`volley call` exits with its answer)")
            known = ", ".join(self._runs) or "none yet"
            raise InputError(f"no run {run_id!r}: the output of the last {self.keep} runs is kept ({known})")
        with open(path, "rb") as f:
            return f.read().decode("utf-8", errors="replace").splitlines()

    @property
    def directory(self) -> str | None:
        return self._dir

    def close(self) -> None:
        """Delete every kept output and the directory (safe to call more than once)."""
        with self._lock:
            if self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
                self._dir = None
            self._runs.clear()


def _own_dir() -> str:
    """A fresh directory named after this process, after removing those of processes that are gone."""
    base = tempfile.gettempdir()
    sweep_dead(base)
    return tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=base)


def sweep_dead(base: str) -> list[str]:
    """Remove run directories whose owner process no longer exists; the names removed."""
    removed: list[str] = []
    try:
        names = os.listdir(base)
    except OSError:
        return removed
    for name in names:
        owned = _OWNED.match(name)
        if owned and not _alive(int(owned.group(1))):
            shutil.rmtree(os.path.join(base, name), ignore_errors=True)
            removed.append(name)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


_shared: RunStore | None = None


def shared_store() -> RunStore:
    """The process's one store."""
    global _shared
    if _shared is None:
        _shared = RunStore()
    return _shared


def head_and_tail(output: str, chars: int) -> tuple[str, str]:
    """The start and the end of ``output``, each at most ``chars`` long (the tail empty when it all fits)."""
    if len(output) <= 2 * chars:
        return output, ""
    return output[:chars], output[-chars:]
