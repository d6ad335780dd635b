"""Where Volley keeps what it remembers between sessions (symbols, records of test runs, edit journals, the
handshake's answers): the user's cache directory as each platform names it."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path


def cache_home(platform: str = sys.platform, env: Mapping[str, str] | None = None, home: Path | None = None) -> Path:
    """``$VOLLEY_CACHE_DIR``; else ``$XDG_CACHE_HOME/volley`` where it is set; else the platform's own:
    ``~/Library/Caches/volley`` (macOS), ``%LOCALAPPDATA%\\volley\\Cache`` (Windows), ``~/.cache/volley``."""
    env = os.environ if env is None else env
    if chosen := env.get("VOLLEY_CACHE_DIR"):
        return Path(chosen)
    if xdg := env.get("XDG_CACHE_HOME"):
        return Path(xdg) / "volley"
    home = Path.home() if home is None else home
    if platform == "darwin":
        return home / "Library" / "Caches" / "volley"
    if platform == "win32":
        return Path(env.get("LOCALAPPDATA") or home / "AppData" / "Local") / "volley" / "Cache"
    return home / ".cache" / "volley"
