"""What the recording plugin will import, imported ahead by a spare interpreter (volley/spare) waiting for a
recording run: coverage.py where the plugin records with it (before Python 3.12, or ``VOLLEY_RECORD_WITH``), so
a spare imports what a cold start of the run would, and no more."""

import contextlib
import os

from volley_monitor import Monitor  # type: ignore[import-not-found]  # beside it on PYTHONPATH, not in volley

if os.environ.get("VOLLEY_RECORD_WITH") == "coverage" or not Monitor.available():
    with contextlib.suppress(ImportError):
        import coverage  # noqa: F401
