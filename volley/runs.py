"""The full output of recent linter and test runs, kept in temporary files so a model can page it."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import threading
from collections import OrderedDict

from volley.errors import InputError


class RunStore:
    """Keeps the last ``keep`` runs' output; older ones are deleted."""

    def __init__(self, keep: int = 32) -> None:
        self.keep = keep
        self._dir: str | None = None
        self._runs: OrderedDict[str, str] = OrderedDict()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def save(self, output: bytes) -> str:
        with self._lock:
            if self._dir is None:
                self._dir = tempfile.mkdtemp(prefix="volley-runs-")
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
            known = ", ".join(self._runs) or "none yet"
            raise InputError(f"no run {run_id!r}: the output of the last {self.keep} runs is kept ({known})")
        with open(path, "rb") as f:
            return f.read().decode("utf-8", errors="replace").splitlines()

    def close(self) -> None:
        with self._lock:
            if self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
                self._dir = None
            self._runs.clear()


def head_and_tail(output: str, chars: int) -> tuple[str, str]:
    """The start and the end of ``output``, each at most ``chars`` long (the tail empty when it all fits)."""
    if len(output) <= 2 * chars:
        return output, ""
    return output[:chars], output[-chars:]
