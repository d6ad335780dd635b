"""The Python test files of a project's suite as pytest collects it when given no path: below the ``testpaths``
of the configuration file that governs them (the nearest folder with one: pytest.ini, .pytest.ini,
pyproject.toml, tox.ini, setup.cfg, in pytest's order), else wherever they are. A test file outside them (a
benchmark named test_*.py) is not the project's suite, and naming it to pytest would run it."""

from __future__ import annotations

import configparser
import fnmatch
import posixpath
import tomllib
from pathlib import Path

from volley.exact_open import read_exact

_INI_SECTIONS = {"pytest.ini": "pytest", ".pytest.ini": "pytest", "tox.ini": "pytest", "setup.cfg": "tool:pytest"}
_NAMES = ("pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg")


def in_suites(root: Path, tests: list[str]) -> list[str]:
    """``tests`` (relative to ``root``) less the .py files outside their configuration's ``testpaths``."""
    found: dict[str, tuple[bool, list[str] | None]] = {}

    def governing(folder: str) -> tuple[str, list[str] | None]:
        while True:
            if folder not in found:
                found[folder] = _testpaths(root / folder if folder else root)
            configured, paths = found[folder]
            if configured or not folder:
                return folder, paths
            folder = posixpath.dirname(folder)

    kept = []
    for rel in tests:
        if not rel.endswith(".py"):
            kept.append(rel)
            continue
        folder, paths = governing(posixpath.dirname(rel))
        inner = posixpath.relpath(rel, folder) if folder else rel
        if paths is None or any(_below(inner, path) for path in paths):
            kept.append(rel)
    return kept


def _below(rel: str, testpath: str) -> bool:
    """Whether ``rel`` is ``testpath`` or lies below it (a glob, as pytest expands it)."""
    pattern = posixpath.normpath(testpath.replace("\\", "/")).removeprefix("./")
    if pattern == ".":
        return True
    parts = rel.split("/")
    return any(fnmatch.fnmatchcase("/".join(parts[:end]), pattern) for end in range(1, len(parts) + 1))


def _testpaths(folder: Path) -> tuple[bool, list[str] | None]:
    """Whether ``folder`` holds a pytest configuration, and its ``testpaths`` (None when it sets none)."""
    for name in _NAMES:
        try:
            text = read_exact(str(folder / name)).decode("utf-8", "replace")
        except OSError:
            continue
        if name == "pyproject.toml":
            try:
                tool = tomllib.loads(text).get("tool", {}).get("pytest")
            except tomllib.TOMLDecodeError:
                continue
            if not isinstance(tool, dict):
                continue
            options = tool.get("ini_options", tool)  # pytest 9 also reads [tool.pytest] itself
            value = options.get("testpaths") if isinstance(options, dict) else None
            return True, [str(v) for v in value] if isinstance(value, list) else str(value).split() if value else None
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(text)
        except configparser.Error:
            continue
        section = _INI_SECTIONS[name]
        if parser.has_section(section):
            return True, parser.get(section, "testpaths", fallback="").split() or None
        if name in ("pytest.ini", ".pytest.ini"):
            return True, None  # it is pytest's configuration even without its section
    return False, None
