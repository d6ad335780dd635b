"""A Python file as the recorded way sees it: its functions' bodies, each with a fingerprint, and the rest.

A test that runs a line of a function's body depends on that function; a change of the body, or of its
signature (parameters, defaults, annotations: only a caller, which runs the body, sees them), can alter only
the tests that ran it. Everything else (imports, constants, class bodies, the names and decorators of
functions: a new method may override an inherited one, a decorator may register) runs when the module is
imported, outside any test: its fingerprint is the file's skeleton, and a change there is followed by the
names it binds (``bindings``).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import warnings
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from volley.affected.bindings import Unit, mentions_of, units_of, writes_of

MODULE = "<module>"  # the lines outside every function body
Function = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass(frozen=True)
class Blocks:
    skeleton: str  # fingerprint of the text outside the function bodies
    bodies: dict[str, str]  # qualified name → fingerprint of its body (nested functions included)
    spans: list[tuple[int, int, str]]  # (first line, last line, name) of each body, innermost last
    units: list[Unit] = field(default_factory=list)  # the import-time statements
    mentions: dict[str, frozenset[str]] = field(default_factory=dict)  # body → the names it may see anywhere
    reads: dict[str, frozenset[str]] = field(default_factory=dict)  # body → the bare names it reads (its module's)
    writes: dict[str, frozenset[str]] = field(default_factory=dict)  # body → what it changes outside itself

    @functools.cached_property
    def by_line(self) -> list[str]:
        """Each line's innermost block (the module's outside every body), by line number."""
        names = [MODULE] * (max((last for _, last, _ in self.spans), default=0) + 1)
        for first, last, name in self.spans:  # by start, outer first: an inner body overwrites its lines
            names[first : last + 1] = [name] * (last + 1 - first)
        return names


def blocks_of(text: str, local: Collection[str] | None = None) -> Blocks | None:
    """The file's blocks (None: it does not parse, or nests deeper than Python's recursion limit lets a tree be
    walked). Fingerprints are of the syntax tree, so comments, blank lines and formatting change none of them.
    ``local``: the names of the workspace's modules (``local_names``; None: any module may be one). The same
    text is parsed once: every recording run reads each file it ran, mostly unchanged since the last."""
    return _blocks_of(text, None if local is None else frozenset(local))


@functools.lru_cache(maxsize=512)
def _blocks_of(text: str, local: frozenset[str] | None) -> Blocks | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _blocks(ast.parse(text), local)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def local_names(paths: Iterable[str]) -> frozenset[str]:
    """Every name a module or package of these files may be imported by (each folder and each module's name)."""
    found: set[str] = set()
    for rel in paths:
        if rel.endswith(".py"):
            found.update(rel[:-3].split("/"))
    return frozenset(found)


def _blocks(tree: ast.Module, local: Collection[str] | None) -> Blocks:
    for branch in ast.walk(tree):
        if isinstance(branch, ast.If) and _type_checking(branch.test):
            branch.body = [ast.Pass()]  # never runs: only a type checker reads it
    found: list[tuple[int, int, str, Function]] = []
    _walk(tree, "", found)
    found.sort(key=lambda s: (s[0], -s[1]))
    units = units_of(tree, local)
    bodies: dict[str, str] = {}
    mentions: dict[str, frozenset[str]] = {}
    reads: dict[str, frozenset[str]] = {}
    writes: dict[str, frozenset[str]] = {}
    for _, _, name, node in found:
        signature = ast.dump(node.args) + (ast.dump(node.returns) if node.returns else "")
        shape = bodies.get(name, "") + signature + "".join(ast.dump(statement) for statement in node.body)
        bodies[name] = _digest(shape)  # a name defined twice: both bodies
        parts = [node.args, *([node.returns] if node.returns else []), *node.body]
        said = [mentions_of(part, local) for part in parts]
        own = frozenset(name.replace(".<locals>", "").split("."))  # a test mentions itself and its class
        reads[name] = reads.get(name, frozenset()).union(own, *(r for r, _ in said))
        mentions[name] = mentions.get(name, frozenset()).union(*(m for _, m in said))
        writes[name] = writes.get(name, frozenset()) | writes_of(node)
    for _, _, _, node in found:  # what is left runs at import: names and decorators of functions, classes, …
        node.body = [ast.Pass()]
        node.args = ast.arguments(posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[], defaults=[])
        node.returns = None
    spans = [(first, last, name) for first, last, name, node in found if not _overload(node)]
    return Blocks(_digest(ast.dump(tree)), bodies, spans, units, mentions, reads, writes)


def _overload(node: Function) -> bool:
    """``@overload`` (``typing.overload``): the body never runs (the name is bound to the last definition), and
    its ``...`` shares a line with the signature, which runs at import: that line is the module's."""
    return any((d.id if isinstance(d, ast.Name) else getattr(d, "attr", "")) == "overload" for d in node.decorator_list)


def _type_checking(test: ast.expr) -> bool:
    """``TYPE_CHECKING`` or ``typing.TYPE_CHECKING`` (under any module name)."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode(errors="surrogateescape")).hexdigest()[:16]


def names_of_lines(blocks: Blocks, lines: Iterable[int]) -> set[str]:
    """The blocks the given line numbers lie in: the innermost function body, or the module."""
    by_line = blocks.by_line
    return {by_line[line] if 0 <= line < len(by_line) else MODULE for line in lines}


def changed_bodies(old: Blocks, new: Blocks) -> set[str]:
    """The function bodies that differ between two versions of a file (added and removed ones included)."""
    return {name for name in old.bodies.keys() | new.bodies.keys() if old.bodies.get(name) != new.bodies.get(name)}


def _walk(node: ast.AST, prefix: str, found: list[tuple[int, int, str, Function]]) -> None:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, Function):
            name = f"{prefix}{child.name}"
            first = child.body[0]  # from its decorators, when the body begins with a decorated definition
            start = min([first.lineno, *(d.lineno for d in getattr(first, "decorator_list", []))])
            found.append((start, child.end_lineno or child.body[-1].lineno, name, child))
            _walk(child, f"{name}.<locals>.", found)
        elif isinstance(child, ast.ClassDef):
            _walk(child, f"{prefix}{child.name}.", found)
        else:
            _walk(child, prefix, found)
