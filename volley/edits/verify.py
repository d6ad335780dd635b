"""What a change broke: syntax errors it brought into a file, and the diagnostics it introduced.

Introduced diagnostics are the difference of the linter's own runs before and after, per (file, code,
message): as many are listed as the after run has more of them than the before run. Which ones are listed
is decided by position: a before-diagnostic is carried to its line in the new text through the diff, and
the after-diagnostics left without one at their line are the new ones.
"""

from __future__ import annotations

import ast
import difflib
import threading
import warnings
from collections import OrderedDict, defaultdict
from collections.abc import Callable

import tree_sitter as ts
from pydantic import BaseModel

from volley.parsers.common import Diagnostic
from volley.symbols.languages import language_of, load

LineMap = Callable[[int], int | None]


class SyntaxProblem(BaseModel):
    path: str
    line: int
    column: int
    message: str


def syntax_problem(rel: str, text: str, key: str | None = None) -> SyntaxProblem | None:
    """The first syntax error of ``text``: tree-sitter finds one (off the GIL; ``key`` names the file, whose
    last tree is reparsed incrementally when ``text`` follows from it); for Python, the interpreter's own
    parser then confirms it and names it (a grammar that lags the language is overruled)."""
    language = language_of(rel)
    if language is None:
        return None
    source = text.encode("utf-8", errors="surrogateescape")
    node = _first_error(_parsed(key, source, language).root_node)
    if node is None:
        return None
    if language == "python":
        return _python_problem(rel, text)
    line, column = node.start_point[0] + 1, node.start_point[1] + 1
    if node.is_missing:
        return SyntaxProblem(path=rel, line=line, column=column, message=f"expected `{node.type}`")
    found = source[node.start_byte : node.end_byte].decode(errors="replace").split("\n")[0][:60]
    return SyntaxProblem(path=rel, line=line, column=column, message=f"unexpected `{found}`")


def _python_problem(rel: str, text: str) -> SyntaxProblem | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences and the like are the linter's
            ast.parse(text, rel)
    except SyntaxError as exc:
        return SyntaxProblem(path=rel, line=exc.lineno or 1, column=exc.offset or 1, message=exc.msg)
    except (ValueError, RecursionError) as exc:  # null bytes, absurd nesting
        return SyntaxProblem(path=rel, line=1, column=1, message=str(exc))
    return None


_TREES: OrderedDict[tuple[str, str], tuple[bytes, ts.Tree]] = OrderedDict()
_TREES_KEPT = 32
_trees_lock = threading.Lock()


def _parsed(key: str | None, source: bytes, language: str) -> ts.Tree:
    """The source's tree; an edit of the file this server parsed last is reparsed from that tree (an edit of
    a 100 KB file costs ~1 ms instead of ~20)."""
    with _trees_lock:
        kept = _TREES.get((key, language)) if key is not None else None
    old_tree = None
    if kept is not None:
        previous, old_tree = kept
        old_tree = old_tree.copy()
        start, old_end, new_end = _changed_span(previous, source)
        old_tree.edit(
            start, old_end, new_end, _point(previous, start), _point(previous, old_end), _point(source, new_end)
        )
    parser = ts.Parser(load(language).language)
    tree = parser.parse(source, old_tree) if old_tree is not None else parser.parse(source)
    if key is not None:
        with _trees_lock:
            _TREES[(key, language)] = (source, tree)
            _TREES.move_to_end((key, language))
            while len(_TREES) > _TREES_KEPT:
                _TREES.popitem(last=False)
    return tree


def _changed_span(old: bytes, new: bytes) -> tuple[int, int, int]:
    """(start, old end, new end) of the one span that covers every difference: common prefix and suffix found
    by halving (slice comparisons run at memcmp speed)."""
    low, high = 0, min(len(old), len(new))
    while low < high:
        middle = (low + high + 1) // 2
        if old[:middle] == new[:middle]:
            low = middle
        else:
            high = middle - 1
    prefix = low
    low, high = 0, min(len(old), len(new)) - prefix
    while low < high:
        middle = (low + high + 1) // 2
        if old[len(old) - middle :] == new[len(new) - middle :]:
            low = middle
        else:
            high = middle - 1
    return prefix, len(old) - low, len(new) - low


def _point(source: bytes, offset: int) -> tuple[int, int]:
    row = source.count(b"\n", 0, offset)
    return row, offset - (source.rfind(b"\n", 0, offset) + 1)


def _first_error(node):  # type: ignore[no-untyped-def]
    if not node.has_error:
        return None
    for child in node.children:
        if child.is_missing or child.type == "ERROR":
            return child
        inner = _first_error(child)
        if inner is not None:
            return inner
    return node if node.type == "ERROR" else None


def line_map(old: str, new: str) -> LineMap:
    """Where each line of ``old`` stands in ``new`` (None: changed or removed)."""
    matcher = difflib.SequenceMatcher(None, old.splitlines(), new.splitlines(), autojunk=False)
    moved: dict[int, int] = {}
    for tag, i1, i2, j1, _ in matcher.get_opcodes():
        if tag == "equal":
            for k in range(i2 - i1):
                moved[i1 + k + 1] = j1 + k + 1
    return moved.get


def introduced(
    before: list[Diagnostic], after: list[Diagnostic], maps: dict[str, LineMap]
) -> tuple[list[Diagnostic], int, int]:
    """(the diagnostics the change introduced, how many of the after run's were there before, how many of the
    before run's are gone)."""
    groups: dict[tuple[str, str | None, str], list[Diagnostic]] = defaultdict(list)
    for d in after:
        groups[(d.path, d.code, d.message)].append(d)
    old_lines: dict[tuple[str, str | None, str], list[int | None]] = defaultdict(list)
    for d in before:
        carry = maps.get(d.path)
        old_lines[(d.path, d.code, d.message)].append(carry(d.line) if carry else d.line)
    new: list[Diagnostic] = []
    kept = fixed = 0
    for key in groups.keys() | old_lines.keys():
        now, was = groups.get(key, []), list(old_lines.get(key, []))
        extra = len(now) - len(was)
        if extra <= 0:
            kept += len(now)
            fixed -= extra
            continue
        kept += len(was)
        unmatched = []
        for d in now:
            if d.line in was:
                was.remove(d.line)
            else:
                unmatched.append(d)
        new += (unmatched + [d for d in now if d not in unmatched])[:extra]
    new.sort(key=lambda d: (d.path, d.line, d.column))
    return new, kept, fixed
