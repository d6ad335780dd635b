"""A file's definitions and the names it uses, read with tree-sitter; kept per file while its stat holds.

Blocking work (tree-sitter releases the GIL while it parses): call it from worker threads.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import sys
import threading
from array import array
from bisect import bisect_right
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import tree_sitter as ts

from volley.exact_open import Moved, NotRegular, open_exact
from volley.stat_keys import StatKey, too_fresh
from volley.stat_keys import key as stat_key_of
from volley.symbols.languages import load

if TYPE_CHECKING:
    from volley.symbols.disk import DiskSymbols

SIGNATURE_CHARS = 200
_COMMENTS = frozenset({"comment", "line_comment", "block_comment"})
_GENERICS = re.compile(r"\s*<.*", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([)\]}])")
_INNER_SPACE = re.compile(r"(?<=[(\[{]) | (?=[)\]}])")
_RECEIVER = re.compile(r"(\w+)\s*(?:\[[^\]]*\])?\s*\)$")


@dataclass(frozen=True, slots=True)
class Definition:
    name: str
    kind: str  # class, function, method, interface, struct, enum, trait, impl, type, module, …
    line: int  # 1-based, the definition's first line (a decorator's line is not its line)
    end_line: int
    signature: str  # its header, whitespace collapsed: 'def filter(self, *args, **kwargs)'
    scope: str  # the qualified name of the definition it is in ('' at the top)
    depth: int

    @property
    def qualified(self) -> str:
        return f"{self.scope}.{self.name}" if self.scope else self.name


@dataclass(frozen=True, slots=True)
class FileSymbols:
    language: str
    definitions: tuple[Definition, ...]
    used: tuple[tuple[str, int], ...] | None  # identifiers used and how often (None: not read yet)
    text_starts: array[int]  # where strings and comments start and end, as position keys (see key())
    text_ends: array[int]

    def in_code(self, line: int, byte_column: int) -> bool:
        """Whether the place (1-based line, 0-based byte column) is code, not a string or a comment."""
        at = key(line - 1, byte_column)
        i = bisect_right(self.text_starts, at) - 1
        return i < 0 or at >= self.text_ends[i]

    def enclosing(self, line: int) -> Definition | None:
        """The innermost definition whose lines hold ``line``."""
        inside = [d for d in self.definitions if d.line <= line <= d.end_line]
        return max(inside, key=lambda d: d.depth) if inside else None


def key(row: int, column: int) -> int:
    return (row << 24) | min(column, (1 << 24) - 1)


def parse(source: bytes, language: str) -> ts.Tree:
    return ts.Parser(load(language).language).parse(source)


def definitions(tree: ts.Tree, source: bytes, language: str) -> tuple[Definition, ...]:
    """Every definition in the file, in source order, each with its enclosing definition's qualified name."""
    loaded = load(language)
    found: list[tuple[ts.Node, str, str]] = []
    for _, match in ts.QueryCursor(loaded.definitions).matches(tree.root_node):
        name_nodes = match.pop("name")
        kind, nodes = next(iter(match.items()))
        name = source[name_nodes[0].start_byte : name_nodes[0].end_byte].decode(errors="replace")
        found.append((nodes[0], kind, _GENERICS.sub("", name) if kind == "impl" else name))
    found.sort(key=lambda f: (f[0].start_byte, -f[0].end_byte))
    stack: list[tuple[int, Definition]] = []  # open definitions: (end byte, definition)
    result = []
    for node, kind, name in found:
        while stack and stack[-1][0] <= node.start_byte:
            stack.pop()
        parent = stack[-1][1] if stack else None
        if kind == "function" and parent is not None and parent.kind in loaded.grammar.scopes:
            kind = "method"
        definition = Definition(
            name=sys.intern(name),
            kind=kind,
            line=node.start_point[0] + 1,
            end_line=node.end_point[0] + 1,
            signature=_signature(node, source),
            scope=parent.qualified if parent else (_receiver(node, source) or ""),
            depth=len(stack),
        )
        result.append(definition)
        stack.append((node.end_byte, definition))
    return tuple(result)


def text_spans(tree: ts.Tree, language: str) -> tuple[array[int], array[int]]:
    """Where the file's strings and comments lie (merged, sorted): a name found there is not code."""
    captures = ts.QueryCursor(load(language).texts).captures(tree.root_node)
    spans = sorted((key(*n.start_point), key(*n.end_point)) for n in captures.get("text", ()))
    starts, ends = array("q"), array("q")
    for start, end in spans:
        if ends and start <= ends[-1]:
            ends[-1] = max(ends[-1], end)
        else:
            starts.append(start)
            ends.append(end)
    return starts, ends


def used_names(tree: ts.Tree, source: bytes, language: str) -> tuple[tuple[str, int], ...]:
    """The names the file uses (calls, types, base classes: see languages.py) and how often."""
    captures = ts.QueryCursor(load(language).references).captures(tree.root_node)
    counts = Counter(source[n.start_byte : n.end_byte] for n in captures.get("id", ()))
    return tuple((sys.intern(name.decode(errors="replace")), n) for name, n in counts.items())


def _signature(node: ts.Node, source: bytes) -> str:
    """The definition's header: its text up to its body (comments left out), whitespace collapsed."""
    body = node.child_by_field_name("body")
    if body is None and (value := node.child_by_field_name("value")) is not None:
        body = value.child_by_field_name("body")  # const f = (a) => …
    if body is None or body.parent is None:
        text = source[node.start_byte : node.end_byte].split(b"{", 1)[0]  # a type, a signature without body
    else:
        head = [c.end_byte for c in body.parent.children if c.end_byte <= body.start_byte and c.type not in _COMMENTS]
        text = source[node.start_byte : max(head, default=body.start_byte)]
    line = " ".join(text.decode(errors="replace").split()).rstrip(":{; ").removesuffix("=>").rstrip()
    line = _INNER_SPACE.sub("", _TRAILING_COMMA.sub(r"\1", line))  # '( self, a, )' -> '(self, a)'
    return line if len(line) <= SIGNATURE_CHARS else line[: SIGNATURE_CHARS - 1] + "…"


def _receiver(node: ts.Node, source: bytes) -> str | None:
    """A Go method's receiver type: `func (p *Point) Move()` is Point.Move."""
    receiver = node.child_by_field_name("receiver") if node.type == "method_declaration" else None
    if receiver is None:
        return None
    found = _RECEIVER.search(source[receiver.start_byte : receiver.end_byte].decode(errors="replace"))
    return found[1] if found else None


class SymbolCache:
    """Per-file symbols, reused while the file's (mtime, size, inode, ctime) holds: a one-file edit costs one parse.

    With ``disk``, symbols missing here are looked up there first, and those parsed are stored there by
    ``save()`` (so the next session's server does not parse them again).
    """

    def __init__(self, max_files: int = 50_000, disk: DiskSymbols | None = None) -> None:
        self._files: OrderedDict[str, tuple[StatKey, FileSymbols]] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_files
        self.disk = disk
        self._unsaved: list[tuple[str, StatKey, FileSymbols]] = []
        self.parsed = 0  # files parsed since start (the rest came from the caches)

    def get(
        self,
        path: str,
        language: str,
        *,
        with_names: bool = False,
        max_bytes: int | None = None,
        refused: Callable[[os.stat_result], bool] | None = None,
    ) -> FileSymbols:
        """``path``'s symbols (absolute, links resolved: a link met on the way is never followed). ``refused``
        says which files are not to be read (a hard link to a denied file): Refused."""
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegular(errno.EINVAL, "not a regular file", path)  # a FIFO named x.py never blocks a worker
        if refused is not None and refused(st):
            raise Refused(errno.EACCES, "denied", path)
        key = stat_key_of(st)
        with self._lock:
            kept = self._files.get(path)
            if kept is not None and kept[0] == key and (kept[1].used is not None or not with_names):
                self._files.move_to_end(path)
                return kept[1]
        if self.disk is not None and (stored := self.disk.get(path, key, with_names)) is not None:
            self._keep(path, key, stored)
            return stored
        if max_bytes is not None and st.st_size > max_bytes:
            raise FileTooLarge(path, st.st_size)
        with open(open_exact(path), "rb") as f:
            opened = os.fstat(f.fileno())
            if (opened.st_dev, opened.st_ino) != (st.st_dev, st.st_ino):
                raise Moved(errno.ESTALE, "replaced since its stat", path)
            source = f.read()
        tree = parse(source, language)
        symbols = FileSymbols(
            language,
            definitions(tree, source, language),
            used_names(tree, source, language) if with_names else None,
            *text_spans(tree, language),
        )
        with self._lock:
            self.parsed += 1
        if too_fresh(st):
            return symbols  # too fresh for its stat to prove a later read unchanged (git's racy rule): not kept
        self._keep(path, key, symbols)
        if self.disk is not None:
            with self._lock:
                self._unsaved.append((path, key, symbols))
        return symbols

    def save(self) -> None:
        """Store on disk what was parsed since the last save (blocking; one transaction)."""
        with self._lock:
            rows, self._unsaved = self._unsaved, []
        if self.disk is not None:
            self.disk.put(rows)

    def _keep(self, path: str, key: StatKey, symbols: FileSymbols) -> None:
        with self._lock:
            self._files[path] = (key, symbols)
            self._files.move_to_end(path)
            while len(self._files) > self._max:
                self._files.popitem(last=False)


class Refused(OSError):
    """A file the workspace's rules keep from being read under this name."""


class FileTooLarge(Exception):
    def __init__(self, path: str, size: int) -> None:
        super().__init__(path)
        self.size = size
