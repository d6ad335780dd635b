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
import bisect
import hashlib
import warnings
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
    mentions: dict[str, frozenset[str]] = field(default_factory=dict)  # body → the names it mentions
    writes: dict[str, frozenset[str]] = field(default_factory=dict)  # body → what it changes outside itself


def blocks_of(text: str) -> Blocks | None:
    """The file's blocks (None: it does not parse, or nests deeper than Python's recursion limit lets a tree be
    walked). Fingerprints are of the syntax tree, so comments, blank lines and formatting change none of them."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _blocks(ast.parse(text))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _blocks(tree: ast.Module) -> Blocks:
    for branch in ast.walk(tree):
        if isinstance(branch, ast.If) and _type_checking(branch.test):
            branch.body = [ast.Pass()]  # never runs: only a type checker reads it
    found: list[tuple[int, int, str, Function]] = []
    _walk(tree, "", found)
    found.sort(key=lambda s: (s[0], -s[1]))
    units = units_of(tree)
    bodies: dict[str, str] = {}
    mentions: dict[str, frozenset[str]] = {}
    writes: dict[str, frozenset[str]] = {}
    for _, _, name, node in found:
        signature = ast.dump(node.args) + (ast.dump(node.returns) if node.returns else "")
        shape = bodies.get(name, "") + signature + "".join(ast.dump(statement) for statement in node.body)
        bodies[name] = _digest(shape)  # a name defined twice: both bodies
        parts = [node.args, *([node.returns] if node.returns else []), *node.body]
        own = frozenset(name.replace(".<locals>", "").split("."))  # a test mentions itself and its class
        mentions[name] = mentions.get(name, frozenset()).union(own, *(mentions_of(part) for part in parts))
        writes[name] = writes.get(name, frozenset()) | writes_of(node)
    for _, _, _, node in found:  # what is left runs at import: names and decorators of functions, classes, …
        node.body = [ast.Pass()]
        node.args = ast.arguments(posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[], defaults=[])
        node.returns = None
    spans = [(first, last, name) for first, last, name, _ in found]
    return Blocks(_digest(ast.dump(tree)), bodies, spans, units, mentions, writes)


def _type_checking(test: ast.expr) -> bool:
    """``TYPE_CHECKING`` or ``typing.TYPE_CHECKING`` (under any module name)."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode(errors="surrogateescape")).hexdigest()[:16]


def names_of_lines(blocks: Blocks, lines: list[int]) -> set[str]:
    """The blocks the given line numbers lie in: the innermost function body, or the module."""
    starts = [first for first, _, _ in blocks.spans]
    found: set[str] = set()
    for line in lines:
        name = MODULE
        at = bisect.bisect_right(starts, line)
        for first, last, candidate in reversed(blocks.spans[:at]):  # innermost: the latest start containing it
            if first <= line <= last:
                name = candidate
                break
        found.add(name)
    return found


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
