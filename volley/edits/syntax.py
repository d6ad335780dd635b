"""The syntax errors a change brings into a file: tree-sitter finds one, off the GIL; for Python the
interpreter's own parser confirms and names it (a grammar that lags the language is overruled).

An edit of a file this server checked before costs a fraction of a parse of the whole file:
- Python: only the top-level statements around the change are parsed. A module is a sequence of
  statements, so when the old file was clean and the changed statements parse clean on their own (ending
  at a line end), the new file is clean; anything else is decided by a parse of the whole file.
- other languages: the file's last tree is reparsed incrementally.
"""

from __future__ import annotations

import ast
import bisect
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass

import tree_sitter as ts
from pydantic import BaseModel

from volley.symbols.languages import language_of, load


class SyntaxProblem(BaseModel):
    path: str
    line: int
    column: int
    message: str


@dataclass(frozen=True)
class _Checked:
    """What the last check of a file left: its source, and its tree or (clean Python) the offsets where its
    top-level statements start."""

    source: bytes
    tree: ts.Tree | None
    starts: tuple[int, ...] = ()


_KEPT: OrderedDict[tuple[str, str], _Checked] = OrderedDict()
_KEPT_FILES = 32
_lock = threading.Lock()


def syntax_problem(rel: str, text: str, key: str | None = None) -> SyntaxProblem | None:
    """The first syntax error of ``text`` (None: none); ``key`` names the file, whose last check makes this
    one cheap when ``text`` follows from it."""
    language = language_of(rel)
    if language is None:
        return None
    source = text.encode("utf-8", errors="surrogateescape")
    with _lock:
        last = _KEPT.get((key, language)) if key is not None else None
    if key is not None and last is not None and last.starts and _clean_window(last, source, language, key):
        return None
    tree = _parse(source, language, last)
    if key is not None:
        clean_python = language == "python" and not tree.root_node.has_error
        starts = _statement_starts(source, tree.root_node) if clean_python else ()
        _keep(key, language, _Checked(source, tree, starts))
    node = _first_error(tree.root_node)
    if node is None:
        return None
    if language == "python":
        return _python_problem(rel, text)
    line, column = node.start_point[0] + 1, node.start_point[1] + 1
    if node.is_missing:
        return SyntaxProblem(path=rel, line=line, column=column, message=f"expected `{node.type}`")
    found = source[node.start_byte : node.end_byte].decode(errors="replace").split("\n")[0][:60]
    return SyntaxProblem(path=rel, line=line, column=column, message=f"unexpected `{found}`")


def _clean_window(last: _Checked, source: bytes, language: str, key: str) -> bool:
    """Whether the change from ``last`` leaves the file clean, judged from the statements it touches alone
    (False: undecided)."""
    start, old_end, new_end = _changed_span(last.source, source)
    starts = last.starts
    first = bisect.bisect_right(starts, start) - 1  # the statement the change starts in (starts[0] is 0)
    low = starts[max(first - 1, 0)]  # and the one before: an `else:` added after an `if`
    end = bisect.bisect_left(starts, max(old_end, start + 1))  # the first statement wholly after the change
    old_high = starts[end] if end < len(starts) else len(last.source)
    high = old_high + (new_end - old_end)
    window = source[low:high]
    if high < len(source) and not (window.endswith(b"\n") and not window.endswith(b"\\\n")):
        return False
    root = ts.Parser(load(language).language).parse(window).root_node
    if root.has_error:
        return False
    inner = tuple(low + s for s in _statement_starts(window, root) if s > 0)
    moved = tuple(s + new_end - old_end for s in starts[end:])
    kept = starts[: max(first - 1, 0) + 1]
    _keep(key, language, _Checked(source, None, kept + inner + moved))
    return True


def _statement_starts(source: bytes, root: ts.Node) -> tuple[int, ...]:
    """Offsets of the top-level statements that start a line at its first column (0 among them)."""
    found = [0]
    for child in root.children:
        at = child.start_byte
        if at > 0 and child.start_point[1] == 0 and source[at - 1 : at] == b"\n":
            found.append(at)
    return tuple(found)


def _keep(key: str, language: str, checked: _Checked) -> None:
    with _lock:
        _KEPT[(key, language)] = checked
        _KEPT.move_to_end((key, language))
        while len(_KEPT) > _KEPT_FILES:
            _KEPT.popitem(last=False)


def _parse(source: bytes, language: str, last: _Checked | None) -> ts.Tree:
    """The source's tree, reparsed incrementally from the file's last tree when there is one."""
    parser = ts.Parser(load(language).language)
    if last is None or last.tree is None:
        return parser.parse(source)
    old_tree = last.tree.copy()
    previous = last.source
    start, old_end, new_end = _changed_span(previous, source)
    old_tree.edit(start, old_end, new_end, _point(previous, start), _point(previous, old_end), _point(source, new_end))
    return parser.parse(source, old_tree)


def _python_problem(rel: str, text: str) -> SyntaxProblem | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences and the like are the linter's
            ast.parse(text, rel)
    except SyntaxError as exc:
        return SyntaxProblem(path=rel, line=exc.lineno or 1, column=exc.offset or 1, message=exc.msg)
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, absurd nesting (MemoryError: "Parser
        return SyntaxProblem(path=rel, line=1, column=1, message=str(exc))  # stack overflowed", 20,000 lambdas)
    return None


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
