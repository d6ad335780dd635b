"""The static way for JavaScript and TypeScript: who imports whom among the workspace's script files.

Imports are read from the text (``import … from "x"``, ``import "x"``, ``export … from "x"``, ``require("x")``,
``import("x")``), comments included: a commented-out import only widens a selection. A relative specifier is
resolved as bundlers and TypeScript do (the file, with each extension, ``index.*`` in a folder, ``.js`` written
for a ``.ts`` file); a bare one names a package of the workspace (a package.json's ``name``) or a path alias of
the root's tsconfig.json (``compilerOptions.paths``, ``baseUrl``); anything else is an installed package, outside
the graph. A file whose ``import()`` or ``require()`` is given a computed name may load any file: it is taken
to import every one.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections import defaultdict

from volley.exact_open import read_exact
from volley.workspace import Workspace

SCRIPT_SUFFIXES = (".js", ".jsx", ".ts", ".tsx", ".mjs", ".cjs", ".mts", ".cts")
_TS_FOR_JS = {".js": (".ts", ".tsx"), ".jsx": (".tsx",), ".mjs": (".mts",), ".cjs": (".cts",)}
_SPECIFIER = re.compile(
    r"""(?:\bimport\s*(?:type\s+)?(?:[\w*{}\s,$]+?\s*from\s*)?|\bexport\s+(?:type\s+)?[\w*{}\s,$]+?\s*from\s*"""
    r"""|\brequire\s*\(\s*|\bimport\s*\(\s*)(['"])([^'"\n]+)\1"""
)
_JSONC = re.compile(r'"(?:\\.|[^"\\])*"|//[^\n]*|/\*.*?\*/', re.DOTALL)  # a string, or a comment
_COMPUTED = re.compile(r"""\b(?:require|import)\s*\(\s*(?!['"]|\))""")


def is_script(rel: str) -> bool:
    return rel.endswith(SCRIPT_SUFFIXES) and not rel.endswith(".d.ts")


def is_script_test(rel: str) -> bool:
    """vitest's, jest's and node's test files: ``*.test.*``, ``*.spec.*``, anything under ``__tests__/``."""
    if not is_script(rel):
        return False
    name = rel.rsplit("/", 1)[-1]
    return ".test." in name or ".spec." in name or rel.startswith("__tests__/") or "/__tests__/" in rel


class ScriptGraph:
    """Importers of each script file, and the files that may import anything."""

    def __init__(self, ws: Workspace, files: list[str]) -> None:
        self.ws = ws
        self.scripts = {f for f in files if is_script(f)}
        self.packages = _workspace_packages(ws, files)
        self.aliases = _aliases(ws)
        self.importers: dict[str, set[str]] = defaultdict(set)
        self.anything: set[str] = set()  # files with a computed import: they may load any file
        for rel in self.scripts:
            try:
                text = read_exact(f"{ws.root}/{rel}").decode("utf-8", errors="replace")
            except OSError:
                continue
            if _COMPUTED.search(text):
                self.anything.add(rel)
            for match in _SPECIFIER.finditer(text):
                target = self.resolve(rel, match.group(2))
                if target is not None and target != rel:
                    self.importers[target].add(rel)

    def importers_of(self, rel: str) -> set[str]:
        """Every file that imports ``rel``, directly or through others."""
        seen: set[str] = set()
        stack = [*self.importers.get(rel, ()), *self.anything]
        while stack:
            found = stack.pop()
            if found not in seen and found != rel:
                seen.add(found)
                stack.extend(self.importers.get(found, ()))
        return seen

    def resolve(self, importer: str, specifier: str) -> str | None:
        """The workspace file an import names (None: a package outside it, or nothing)."""
        if specifier.startswith("."):
            return self._file(posixpath.normpath(posixpath.join(posixpath.dirname(importer), specifier)))
        for pattern, targets in self.aliases:
            if (pattern.endswith("*") and specifier.startswith(pattern[:-1])) or specifier == pattern:
                rest = specifier[len(pattern) - 1 :] if pattern.endswith("*") else ""
                for target in targets:
                    found = self._file(posixpath.normpath(target.replace("*", rest)))
                    if found is not None:
                        return found
        parts = specifier.split("/")
        name_parts = 2 if specifier.startswith("@") else 1
        folder = self.packages.get("/".join(parts[:name_parts]))
        if folder is not None:
            inside = "/".join(parts[name_parts:])
            return self._file(posixpath.join(folder, inside or "index")) or self._file(
                posixpath.join(folder, "src/index")
            )
        return None

    def _file(self, base: str) -> str | None:
        if base.startswith("../") or base == "..":
            return None
        stem, suffix = posixpath.splitext(base)
        candidates = [base, *(base + s for s in SCRIPT_SUFFIXES), *(f"{base}/index{s}" for s in SCRIPT_SUFFIXES)]
        candidates += [stem + s for s in _TS_FOR_JS.get(suffix, ())]
        return next((c for c in candidates if c in self.scripts), None)


def _workspace_packages(ws: Workspace, files: list[str]) -> dict[str, str]:
    """package name → its folder, for every package.json in the workspace (npm, pnpm and yarn workspaces)."""
    found = {}
    for rel in files:
        if rel == "package.json" or rel.endswith("/package.json"):
            try:
                name = json.loads(read_exact(f"{ws.root}/{rel}")).get("name")
            except (OSError, ValueError, AttributeError, RecursionError):
                continue
            if isinstance(name, str) and name:
                found[name] = posixpath.dirname(rel)
    return found


def _aliases(ws: Workspace) -> list[tuple[str, list[str]]]:
    """The root tsconfig.json's (or jsconfig.json's) path aliases, as (pattern, workspace-relative targets)."""
    for name in ("tsconfig.json", "jsconfig.json"):
        try:
            text = read_exact(f"{ws.root}/{name}").decode("utf-8", errors="replace")
        except OSError:
            continue
        text = _JSONC.sub(lambda m: m.group(0) if m.group(0).startswith('"') else "", text)  # comments go
        text = re.sub(r",(\s*[}\]])", r"\1", text)  # and trailing commas, as TypeScript allows
        try:
            options = json.loads(text).get("compilerOptions") or {}
        except (ValueError, AttributeError, RecursionError):
            return []
        base = posixpath.normpath(str(options.get("baseUrl") or "."))
        paths = options.get("paths") or {}
        aliases = [
            (pattern, [posixpath.join(base, t) for t in targets if isinstance(t, str)])
            for pattern, targets in paths.items()
            if isinstance(targets, list)
        ]
        if options.get("baseUrl"):
            aliases.append(("*", [posixpath.join(base, "*")]))  # bare names from baseUrl, after the paths
        return aliases
    return []
