"""The Python test files of a project's suite as pytest collects it when given no path: files named as the
``python_files`` of the configuration that governs them says (the nearest folder with one: pytest.ini,
.pytest.ini, pyproject.toml, tox.ini, setup.cfg, in pytest's order; by default ``test_*.py`` and ``*_test.py``;
Django's ``tests.py``; with ``--doctest-modules`` in its addopts, every module), below its ``testpaths``, else
wherever they are. A test file outside them (a benchmark named test_*.py) is not the project's suite, and naming
it to pytest would run it."""

from __future__ import annotations

import configparser
import fnmatch
import functools
import os
import posixpath
import re
import shlex
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from volley.affected.javascript import is_script_test
from volley.exact_open import read_exact

_INI_SECTIONS = {"pytest.ini": "pytest", ".pytest.ini": "pytest", "tox.ini": "pytest", "setup.cfg": "tool:pytest"}
_NAMES = ("pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg")
PYTHON_FILES = ["test_*.py", "*_test.py"]  # pytest's default
_NO_DOCTESTS = ("conftest.py", "setup.py", "__main__.py")  # what --doctest-modules does not collect


@dataclass(frozen=True)
class _Config:
    found: bool  # a pytest configuration file is here
    testpaths: list[str] | None = None
    python_files: tuple[str, ...] = tuple(PYTHON_FILES)
    doctest_modules: bool = False  # its addopts has --doctest-modules: every module is collected for its doctests

    @functools.cached_property
    def _patterns(self) -> tuple[re.Pattern[str] | None, re.Pattern[str] | None]:
        """The ``python_files`` a file's name must match, and those its path must (the patterns with a slash),
        as pytest matches them (fnmatch: without regard to case on Windows)."""
        names = [fnmatch.translate(p) for p in self.python_files if "/" not in p]
        paths = [fnmatch.translate("*/" + p.lstrip("/")) for p in self.python_files if "/" in p]
        return _one_pattern(names), _one_pattern(paths)

    def named(self, rel: str) -> bool:
        """Whether ``rel`` is named as a test file (pytest's ``python_files``)."""
        names, paths = self._patterns
        return bool(names and names.match(rel.rsplit("/", 1)[-1])) or bool(paths and paths.match("/" + rel))


class Suite:
    """Which of the workspace's ``files`` are test files of a suite (JavaScript's and TypeScript's by their
    names); the configuration files read are those the list holds (not five opens per folder)."""

    def __init__(self, root: Path, files: list[str]) -> None:
        self.root = root
        self._holding = {posixpath.dirname(f) for f in files if f.rsplit("/", 1)[-1] in _NAMES}
        self._governs: dict[str, tuple[str, _Config]] = {}

    def holds(self, rel: str) -> bool:
        """Whether ``rel`` is a test file of a suite (a module collected for its doctests too)."""
        if not rel.endswith(".py"):
            return is_script_test(rel)
        folder, config = self._governing(posixpath.dirname(rel))
        if not (self._doctests(rel, config) or config.named(rel)):
            return False
        inner = posixpath.relpath(rel, folder) if folder else rel
        return config.testpaths is None or any(_below(inner, path) for path in config.testpaths)

    def doctests(self, rel: str) -> bool:
        """Whether ``rel`` is a module of a suite collected for its doctests alone (code others import)."""
        if not rel.endswith(".py") or not self.holds(rel):
            return False
        config = self._governing(posixpath.dirname(rel))[1]
        return self._doctests(rel, config) and not config.named(rel)

    @staticmethod
    def _doctests(rel: str, config: _Config) -> bool:
        return config.doctest_modules and rel.rsplit("/", 1)[-1] not in _NO_DOCTESTS

    def _governing(self, folder: str) -> tuple[str, _Config]:
        """The nearest folder at or above ``folder`` with a pytest configuration (else the root), and it."""
        governs = self._governs.get(folder)
        if governs is None:
            here = _config(self.root / folder) if folder in self._holding or not folder else _Config(False)
            governs = (folder, here) if here.found or not folder else self._governing(posixpath.dirname(folder))
            self._governs[folder] = governs
        return governs


def _one_pattern(translated: list[str]) -> re.Pattern[str] | None:
    """One regular expression for any of ``translated`` (None: none), without regard to case on Windows."""
    return re.compile("|".join(translated), re.IGNORECASE if os.name == "nt" else 0) if translated else None


def _below(rel: str, testpath: str) -> bool:
    """Whether ``rel`` is ``testpath`` or lies below it (a glob, as pytest expands it)."""
    pattern = posixpath.normpath(testpath.replace("\\", "/")).removeprefix("./")
    if pattern == ".":
        return True
    parts = rel.split("/")
    return any(fnmatch.fnmatchcase("/".join(parts[:end]), pattern) for end in range(1, len(parts) + 1))


def _words(value: object, split: Callable[[str], list[str]] = str.split) -> list[str] | None:
    """An option given as a list (TOML) or as words (ini and a TOML string); None when not given."""
    if isinstance(value, list):
        return [str(v) for v in value]
    return split(str(value)) or None if value else None


def _arguments(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def _made(testpaths: object, python_files: object, addopts: object) -> _Config:
    files = _words(python_files)
    doctests = "--doctest-modules" in (_words(addopts, _arguments) or [])
    return _Config(True, _words(testpaths), tuple(files or PYTHON_FILES), doctests)


def _config(folder: Path) -> _Config:
    """The pytest configuration ``folder`` holds, if any."""
    for name in _NAMES:
        try:
            text = read_exact(str(folder / name)).decode("utf-8", "replace")
        except OSError:
            continue
        if name == "pyproject.toml":
            try:
                tool = tomllib.loads(text).get("tool", {}).get("pytest")
            except (tomllib.TOMLDecodeError, RecursionError):
                continue
            if not isinstance(tool, dict):
                continue
            options = tool.get("ini_options", tool)  # pytest 9 also reads [tool.pytest] itself
            if not isinstance(options, dict):
                return _Config(True)
            return _made(options.get("testpaths"), options.get("python_files"), options.get("addopts"))
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(text)
        except configparser.Error:
            continue
        section = _INI_SECTIONS[name]
        if parser.has_section(section):
            options = {key: parser.get(section, key, fallback="") for key in ("testpaths", "python_files", "addopts")}
            return _made(options["testpaths"], options["python_files"], options["addopts"])
        if name in ("pytest.ini", ".pytest.ini"):
            return _Config(True)  # it is pytest's configuration even without its section
    return _Config(False)
