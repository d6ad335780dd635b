"""Where Volley keeps what it remembers between sessions (symbols, records of test runs, edit journals)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_home() -> Path:
    """``$VOLLEY_CACHE_DIR``, else ``$XDG_CACHE_HOME/volley``, else ``~/.cache/volley``."""
    if chosen := os.environ.get("VOLLEY_CACHE_DIR"):
        return Path(chosen)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "volley"
