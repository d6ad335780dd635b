"""The tests a change can break, found the static way: the workspace's import graph (Python here; JavaScript
and TypeScript in javascript.py), walked backwards from each changed module to the test files that import it
(directly or through other modules).

Safe by default: what the graph cannot attribute widens the selection and says why: a conftest.py (every
test below it), configuration or a file that is not code (the whole suite), a changed module no file
imports (imported dynamically, perhaps: the whole suite). Prose (.md, .rst, .txt) and what lies under docs/
and .github/ selects nothing. Changed test files are selected themselves, and
so are the files of tests that failed in the last run.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from volley.affected.javascript import ScriptGraph, is_script, is_script_test
from volley.affected.suite import Suite
from volley.cache_dir import cache_home
from volley.concurrency import abandoned
from volley.errors import InputError
from volley.exact_open import read_exact
from volley.index import visible_files
from volley.process import run_blocking
from volley.workspace import Workspace

CONFIG_FILES = {"pyproject.toml", "setup.cfg", "setup.py", "tox.ini", "pytest.ini", "noxfile.py", "requirements.txt"}
INERT_SUFFIXES = (".md", ".rst", ".txt", ".toml.orig")  # prose: no test reads it (README, CHANGES)
INERT_DIRS = ("docs/", "doc/", ".github/")


@dataclass
class Selection:
    tests: list[str]  # test files, relative to the root
    total: int  # test files in the suite
    whole_suite: bool
    reasons: list[str] = field(default_factory=list)
    way: str = "static"  # or "recorded": the tests each test ran, from earlier runs
    test_ids: int = 0  # of ``tests``, how many are single tests (the rest are files)
    note: str = ""  # why the recorded way was not taken


NO_KNOWN_TESTS = (
    "no file here is named as a test runner names its tests (pytest's python_files, test_*.py by default; "
    "*.test.*, *.spec.*): the whole suite, as the runner finds it"
)


def changed_files(ws: Workspace, since: str | None) -> list[str]:
    """Files changed in the working tree against ``since`` (default HEAD), untracked ones included (blocking)."""
    base = since or "HEAD"
    if base.startswith("-"):
        raise InputError(f"since must be a commit, not an option: {base!r}")

    def git(*args: str) -> list[str]:
        try:  # the process runner's: killed as soon as nobody waits for the call
            done = run_blocking(["git", "-C", str(ws.root), *args], abandoned)
        except OSError as exc:
            raise InputError(f"affected tests need git: {exc}") from None
        if done.returncode != 0:
            stderr = done.stderr.decode(errors="replace").strip()[:300]
            raise InputError(f"affected tests need git history: git {args[0]} failed: {stderr}")
        return [line for line in done.stdout.decode(errors="surrogateescape").splitlines() if line]

    changed = git("diff", "--name-only", "--relative", base, "--")  # both from the workspace's root, where it is a
    untracked = git("ls-files", "--others", "--exclude-standard")  # folder of its repository too
    return sorted({*changed, *outside_environments(untracked)})


def outside_environments(files: list[str]) -> list[str]:
    """``files`` less those in a virtual environment (a folder whose pyvenv.cfg is among them; `python -m venv`
    before 3.13 writes no .gitignore into it): an environment is the project's tools, not its code, data or
    tests (pytest does not collect one either). Known from the list alone: no stat per folder."""
    environments = {rel[: -len("/pyvenv.cfg")] for rel in files if rel.endswith("/pyvenv.cfg")}
    if not environments:
        return files
    inside: dict[str, bool] = {}

    def within(folder: str) -> bool:
        if not folder:
            return False
        if folder not in inside:
            inside[folder] = folder in environments or within(folder.rpartition("/")[0])
        return inside[folder]

    return [rel for rel in files if not within(rel.rpartition("/")[0])]


def select(ws: Workspace, changed: list[str], failed_before: list[str]) -> Selection:
    """The test files ``changed`` can affect, the static way (blocking)."""
    static = Static(ws)
    if not static.tests and changed:
        return Selection([], 0, True, [NO_KNOWN_TESTS])
    chosen: set[str] = set()
    reasons: list[str] = []
    for rel in changed:
        group, whole, why = static.of(rel)
        if whole:
            return Selection(static.tests, len(static.tests), True, [*reasons, whole])
        chosen |= group
        reasons += [why] if why else []
    return with_failures(Selection(sorted(chosen), len(static.tests), False, reasons), failed_before, static.tests)


def with_failures(selection: Selection, failed_before: list[str], tests: list[str]) -> Selection:
    """The selection with the test files that failed in the last run."""
    if selection.whole_suite:
        return selection
    if "*" in failed_before:
        why = "the last run had failures it did not list: the whole suite"
        return Selection(tests, len(tests), True, [*selection.reasons, why])
    again = [t for t in failed_before if t in tests and t not in selection.tests]
    if again:
        selection.tests = sorted({*selection.tests, *again})
        selection.reasons.append(f"{plural(len(again), 'test file')} that failed in the last run")
    return selection


class Static:
    """The static way, one changed file at a time: the workspace's files, its test files, its import graph."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.files = outside_environments(visible_files(ws, ws.resolve(".")))
        self.suite = Suite(ws.root, self.files)
        self.tests = sorted(f for f in self.files if self.suite.holds(f))
        self._suite = set(self.tests)
        self._graph: _ImportGraph | None = None
        self._script_graph: ScriptGraph | None = None

    def of(self, rel: str) -> tuple[set[str], str | None, str | None]:
        """(the test files a change of ``rel`` can affect, why the whole suite when it must be, why these)."""
        name = rel.rsplit("/", 1)[-1]
        if rel.startswith(INERT_DIRS) and not self.suite.holds(rel):
            return set(), None, None  # documentation and CI: no test imports or reads it
        if name in CONFIG_FILES:
            return set(), f"{rel} is configuration: the whole suite", None
        if is_script(rel) and not is_script_test(rel):
            return self._reached(rel, self._scripts())
        if not rel.endswith(".py") and not is_script(rel):
            if rel.endswith(INERT_SUFFIXES):
                return set(), None, None
            return set(), f"{rel} is not code (data or fixtures a test may read): the whole suite", None
        if name == "conftest.py":
            below = os.path.dirname(rel)
            group = {t for t in self.tests if not below or t.startswith(below + "/")}
            return group, None, f"{rel}: every test below {below or 'the root'} ({len(group)} files)"
        if self.suite.holds(rel) and not self.suite.doctests(rel):
            return ({rel} if rel in self.tests else set()), None, None
        if not os.path.exists(f"{self.ws.root}/{rel}"):
            return set(), f"{rel} was deleted: the whole suite", None
        if self._graph is None:
            self._graph = _ImportGraph(self.ws, [f for f in self.files if f.endswith(".py")])
        return self._reached(rel, self._graph)

    def _scripts(self) -> ScriptGraph:
        if self._script_graph is None:
            self._script_graph = ScriptGraph(self.ws, self.files)
        return self._script_graph

    def _reached(self, rel: str, graph: _ImportGraph | ScriptGraph) -> tuple[set[str], str | None, str | None]:
        reached = graph.importers_of(rel)
        if not reached:
            return set(), f"{rel}: no file imports it (a dynamic import, perhaps): the whole suite", None
        group = {t for t in reached if t in self._suite}
        imports = "imports" if len(group) == 1 else "import"
        why = f"{rel}: {plural(len(group), 'test file')} {imports} it, directly or through other modules"
        if rel in self._suite:  # a module collected for its doctests
            group.add(rel)
            why += ", and its doctests"
        return group, None, why


class _ImportGraph:
    """Who imports whom among the workspace's Python files, by module name (every dotted suffix of a file's
    path names it: `src/pkg/mod.py` is `pkg.mod` and `src.pkg.mod`; a match on either is a dependency)."""

    def __init__(self, ws: Workspace, python: list[str]) -> None:
        self.ws = ws
        self.by_name: dict[str, set[str]] = defaultdict(set)
        for rel in python:
            for name in _names(rel):
                self.by_name[name].add(rel)
        self.importers: dict[str, set[str]] = defaultdict(set)
        for rel in python:
            for target in self._imports(rel):
                if target != rel:
                    self.importers[target].add(rel)

    def importers_of(self, rel: str) -> set[str]:
        """Every file that imports ``rel`` directly or through others (or imports a name it defined, when
        it was deleted)."""
        start = {rel} if rel in self.importers or os.path.exists(f"{self.ws.root}/{rel}") else set()
        start |= {f for name in _names(rel) for f in self.by_name.get(name, ())}
        seen: set[str] = set()
        stack = [importer for f in start | {rel} for importer in self.importers.get(f, ())]
        while stack:
            f = stack.pop()
            if f not in seen:
                seen.add(f)
                stack.extend(self.importers.get(f, ()))
        return seen

    def _imports(self, rel: str) -> set[str]:
        try:
            data = read_exact(f"{self.ws.root}/{rel}")
        except OSError:
            return set()
        key = (hashlib.sha1(data).digest(), rel)
        if (names := _IMPORTS.get(key)) is None:
            names = _IMPORTS[key] = _dotted_imports(data, rel)
            if len(_IMPORTS) > 20_000:  # (a workspace's Python files, a few times over: names, not texts)
                _IMPORTS.clear()
        return {f for dotted in names for f in self._files(dotted)}

    def _files(self, dotted: str) -> set[str]:
        """The files a module name loads: the module and every package on its way (their __init__)."""
        parts = dotted.split(".")
        found: set[str] = set()
        for end in range(1, len(parts) + 1):
            found |= self.by_name.get(".".join(parts[:end]), set())
        return found


_IMPORTS: dict[tuple[bytes, str], tuple[str, ...]] = {}  # (content's digest, path) → what it imports: each file
# is parsed once for its content, though the graph is made again at every selection


def _dotted_imports(data: bytes, rel: str) -> tuple[str, ...]:
    """The module names a file's import statements name, relative ones resolved from its folder."""
    try:
        tree = ast.parse(data, rel)
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # (MemoryError: the parser's stack overflowed;
        return ()  # Python cannot import such a file either)
    package = rel.rsplit("/", 1)[0].replace("/", ".") if "/" in rel else ""
    found: list[str] = []
    for node in _statements(list(tree.body)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".") if package else []
                parts = parts[: len(parts) - (node.level - 1)] if node.level > 1 else parts
                base = ".".join([*parts, *([base] if base else [])])
            found.append(base)
            found += [f"{base}.{alias.name}" if base else alias.name for alias in node.names]
    return tuple(found)


def _statements(body: list[ast.AST]) -> Iterator[ast.AST]:
    """Every statement, nested ones too, without walking expressions (an import is a statement)."""
    for node in body:
        yield node
        for name in ("body", "orelse", "finalbody", "handlers", "cases"):
            inner = getattr(node, name, None)
            if isinstance(inner, list):
                yield from _statements(inner)


def _names(rel: str) -> list[str]:
    """Every dotted name a file may be imported by: each suffix of its path as a module name."""
    if rel.endswith("/__init__.py"):
        parts = rel[: -len("/__init__.py")].split("/")
    elif rel.endswith(".py"):
        parts = rel[:-3].split("/")
    else:
        return []
    if not all(p.isidentifier() for p in parts[-1:]):
        return []
    return [".".join(parts[i:]) for i in range(len(parts)) if all(p.isidentifier() for p in parts[i:])]


def plural(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def describe(selection: Selection | None) -> str | None:
    if selection is None:
        return None
    way = "recorded: the code each test ran" if selection.way == "recorded" else "static: the import graph"
    if selection.whole_suite:
        head = f"affected ({way}): the whole suite" + (f" ({selection.total} test files)" if selection.total else "")
    elif selection.test_ids:
        files = len(selection.tests) - selection.test_ids
        head = f"affected ({way}): {plural(selection.test_ids, 'test')}"
        head += f" and {plural(files, 'test file')}" if files else ""
        head += f" (the suite has {selection.total} test files)"
    else:
        head = f"affected ({way}): {len(selection.tests)} of {selection.total} test files"
    why = "; ".join(selection.reasons) if selection.reasons else "no change since the base touches the code"
    return f"{head}: {why}" + (f" [{selection.note}]" if selection.note else "")


_failed: dict[str, set[str]] = {}  # where the cache directory cannot keep them


def remember_failures(root: str, paths: list[str], targets: list[str] | None, unlisted: int) -> None:
    """The test files that failed in the last run over them (a whole-suite run replaces all), kept beside the
    workspace's record, so that a later session runs them again too (blocking)."""
    before = set(last_failures(root))
    failed = set(before)
    if not targets:
        failed.clear()
    else:
        failed.difference_update(t.split("::", 1)[0] for t in targets)
    failed.update(paths)
    if unlisted:
        failed.add("*")  # failures not listed: their files are unknown
    if failed == before:
        return
    _failed[root] = failed
    path = _failures_path(root)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as out:
            out.write(json.dumps(sorted(failed)))
        os.replace(out.name, path)
    except OSError:
        pass  # (this server still knows them)


def last_failures(root: str) -> list[str]:
    try:
        kept = json.loads(_failures_path(root).read_text())
    except (OSError, ValueError):
        return sorted(_failed.get(root, set()))
    return sorted(str(rel) for rel in kept) if isinstance(kept, list) else []


def _failures_path(root: str) -> Path:
    return cache_home() / "affected" / f"{hashlib.sha256(root.encode()).hexdigest()[:16]}.failed.json"
