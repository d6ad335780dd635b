"""A pytest plugin Volley loads (``-p volley_select``) to run the tests it chose for a change.

Named on pytest's command line, a test file is collected whatever the project says of it: a conftest's
``collect_ignore`` (a file for a newer Python only), ``--ignore`` in its options. So pytest is given no path, as
when the project runs its suite, and this plugin leaves out the rest: files and folders holding nothing chosen are
not collected (pytest 7+), and of a file chosen for some of its tests (``file::test``) only those run (the others
deselected, as ``-k`` would). The choice is a JSON file named by ``VOLLEY_SELECT``: ``{"files": [absolute paths],
"tests": {absolute path: [the node id's part after the file, e.g. "TestX::test_y"]}}``. It runs inside the
project's own interpreter and imports nothing of Volley's.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import pytest

_files: set[str] = set()  # chosen whole
_tests: dict[str, list[str]] = {}  # chosen for some of their tests
_folders: set[str] = set()  # the folders above a chosen file


def _chosen(path: object) -> bool:
    name = os.path.normpath(str(path))
    return _known(name) or _known(_real(name))


def _known(name: str) -> bool:
    return name in _files or name in _tests or name in _folders


@functools.lru_cache(maxsize=4096)
def _real(name: str) -> str:
    return os.path.realpath(name)


class _Pruning:
    @pytest.hookimpl(tryfirst=True)
    def pytest_ignore_collect(self, collection_path: Path) -> bool | None:
        return None if _chosen(collection_path) else True  # None: the project's own rules decide


def pytest_configure(config: pytest.Config) -> None:
    chosen = os.environ.get("VOLLEY_SELECT")
    if not chosen:
        return
    with open(chosen) as f:
        asked = json.load(f)
    _files.update(_real(p) for p in asked["files"])
    _tests.update({_real(p): names for p, names in asked["tests"].items()})
    for path in (*_files, *_tests):
        folder = os.path.dirname(path)
        while folder not in _folders and folder != os.path.dirname(folder):
            _folders.add(folder)
            folder = os.path.dirname(folder)
    if hasattr(pytest, "version_tuple"):  # pytest 7+ (collection_path); before, everything is collected
        config.pluginmanager.register(_Pruning(), "volley_select_pruning")


def _wanted(item: pytest.Item) -> bool:
    path = os.path.normpath(str(getattr(item, "path", None) or item.fspath))
    if path not in _files and path not in _tests:
        path = _real(path)
    if path in _files:
        return True
    names = _tests.get(path)
    if names is None:
        return False
    inside = item.nodeid.split("::", 1)[1] if "::" in item.nodeid else ""
    return any(inside == n or inside.startswith((n + "::", n + "[")) for n in names)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not (_files or _tests):
        return
    kept = [item for item in items if _wanted(item)]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if not _wanted(item)])
        items[:] = kept
