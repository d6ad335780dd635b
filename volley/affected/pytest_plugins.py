"""How a pytest run Volley makes loads its plugins (``plugin/``: put on PYTHONPATH, nothing installed into the
project's environment): the recorder (``recorded.py``) and the choice of tests for a change (``volley_select``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

PLUGIN_DIR = str(Path(__file__).parent / "plugin")
CHOICE = "VOLLEY_SELECT"  # the file naming the chosen tests (it differs from run to run)


def with_plugin(
    argv: list[str], env: dict[str, str], plugin: str, extra: dict[str, str]
) -> tuple[list[str], dict[str, str]]:
    """pytest's argv and environment with ``plugin`` loaded (``-p``; its folder on PYTHONPATH once)."""
    current = env.get("PYTHONPATH") or os.environ.get("PYTHONPATH") or ""
    parts = [p for p in current.split(os.pathsep) if p]
    path = os.pathsep.join(parts if PLUGIN_DIR in parts else [PLUGIN_DIR, *parts])
    at = argv.index("--") if "--" in argv else len(argv)
    return [*argv[:at], "-p", plugin, *argv[at:]], {**env, **extra, "PYTHONPATH": path}


def choosing(
    argv: list[str], env: dict[str, str], home: str, chosen: list[str], scratch: str
) -> tuple[list[str], dict[str, str]]:
    """pytest's argv (given no path) and environment to run the ``chosen`` test files and node ids (relative to
    ``home``, pytest's folder) as part of the suite: what the project's suite leaves out stays out."""
    files: list[str] = []
    tests: dict[str, list[str]] = {}
    for target in chosen:
        path, _, inside = target.partition("::")
        absolute = os.path.normpath(os.path.join(home, path))
        if inside:
            tests.setdefault(absolute, []).append(inside)
        else:
            files.append(absolute)
    tests = {path: names for path, names in tests.items() if path not in files}
    choice = os.path.join(scratch, "chosen.json")
    with open(choice, "w") as f:
        json.dump({"files": files, "tests": tests}, f)
    return with_plugin(argv, env, "volley_select", {CHOICE: choice})
