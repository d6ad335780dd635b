"""What the content index knows of each file: its row (the store's document number), the stat key it was read
at, whether that key was too fresh to prove anything (racy) and whether the file is searched directly (too
large, unreadable: no document). Columns of machine integers, not an object per file: at 1M files a dict of
lists took ~400 MB. Kept on disk as one file, read back in one pass.

Readers use it without a lock while the index's thread changes it: each step is atomic, a row's key may be
seen half-changed only while its file is among those searched directly anyway (the dirty ones, which
readers take first), and a half-changed key only ever fails to match a stat (the file is then searched).
"""

from __future__ import annotations

import json
import os
import re
import sys
from array import array
from collections.abc import Iterable, Mapping
from pathlib import Path

from volley.stat_keys import StatKey
from volley.text import has_lone_surrogates

RACY, DIRECT = 1, 2  # flags of a row
_RACY_ROWS = re.compile(b"[" + bytes(f for f in range(4) if f & RACY) + b"]")  # a racy row's flags
_COLUMNS = ("mtime", "size", "inode", "ctime")


class Table:
    def __init__(self) -> None:
        self.rows: dict[str, int] = {}  # file -> row
        self.names: list[str | None] = []  # row -> file (None: a free row)
        self.mtime, self.size, self.inode, self.ctime = array("q"), array("q"), array("Q"), array("q")
        self.flags = bytearray()
        self.direct: set[str] = set()  # the files searched directly
        self._free: list[int] = []
        self.undecodable: list[str] = []  # the names of a table read from disk that are not UTF-8

    def __len__(self) -> int:
        return len(self.rows)

    def name(self, row: int) -> str | None:
        return self.names[row] if 0 <= row < len(self.names) else None

    def vouches(self, rel: str, now: StatKey | None) -> bool:
        """Whether the file's row was read at the stat key ``now`` (and not while too fresh)."""
        row = self.rows.get(rel)
        if row is None or now is None or self.flags[row] & RACY:
            return False
        return (self.mtime[row], self.size[row], self.inode[row], self.ctime[row]) == now

    def share(self, rels: list[str]) -> list[str]:
        """Name each row by the string of ``rels`` (the file index's) equal to its own, so a table read from
        disk holds no second copy of every path (~100 MB at 1M files). Readers may use it meanwhile: each name
        is replaced by an equal string; a row missing for a moment makes its file searched, as a changed one.
        In place, each old name freed as it goes (a new dict beside the old one, which held them all, was
        70 MB more at the peak at 1M files). Returns the files of ``rels`` that have no row."""
        rows, names, missing = self.rows, self.names, []
        for rel in rels:
            row = rows.pop(rel, None)
            if row is None:
                missing.append(rel)
            else:
                names[row] = rel
                rows[rel] = row
        self.rows = dict(rows)  # compacted (what was popped left room behind), keys shared
        self.direct = {name for name in (names[rows[rel]] for rel in self.direct) if name is not None}
        return missing

    def racy(self) -> list[str]:
        """The files whose rows vouch for nothing (read too fresh, or changed since they were read), and those
        named by bytes that are not UTF-8 (a journal may name them otherwise): searched until read again."""
        names = self.names
        found = [names[m.start()] for m in _RACY_ROWS.finditer(self.flags)]
        return [name for name in found if name is not None] + self.undecodable

    def distrust_others(self, rels: list[str], with_rows: int | None = None) -> None:
        """Mark racy the rows of files not among ``rels`` (the visible ones): out of sight, no watch or proof
        follows them, so each is read again before it is trusted if it comes back into sight (a rule changed),
        here or in a later server. ``with_rows``: how many of ``rels`` have a row, if known."""
        if with_rows is None:
            with_rows = sum(1 for rel in rels if rel in self.rows)
        if with_rows == len(self.rows):
            return
        listed, flags = set(rels), self.flags
        for rel, row in list(self.rows.items()):
            if rel not in listed:
                flags[row] |= RACY

    def unproven(self, prefix: str, rels: list[str]) -> list[str]:
        """The files of ``rels`` (paths after ``prefix``) whose stat now is not the key of their row, in a plain
        loop: a new server states every file once (0.8 s at 200k files)."""
        rows, flags, stat_of, stale = self.rows, self.flags, os.stat, []
        mtime, size, inode, ctime = self.mtime, self.size, self.inode, self.ctime
        for rel in rels:
            row = rows.get(rel)
            if row is None or flags[row] & RACY:
                stale.append(rel)
                continue
            try:
                st = stat_of(prefix + rel)
            except OSError:
                stale.append(rel)
                continue
            now = st.st_mtime_ns, st.st_size, st.st_ino, st.st_ctime_ns
            if now != (mtime[row], size[row], inode[row], ctime[row]):
                stale.append(rel)
        return stale

    def row_for(self, rel: str) -> int:
        """The file's row, or a free one for a file taken in for the first time (not yet named: ``put``)."""
        row = self.rows.get(rel)
        if row is not None:
            return row
        if self._free:
            return self._free.pop()
        self.names.append(None)
        for column in (self.mtime, self.size, self.inode, self.ctime):
            column.append(0)
        self.flags.append(0)
        return len(self.names) - 1

    def add(self, rel: str, key: StatKey, flags: int) -> int:
        """A file in a new row (a build's table, which has no free rows), read at ``key``; its row."""
        row = len(self.names)
        self.names.append(rel)
        self.rows[rel] = row
        mtime, size, inode, ctime = key
        self.mtime.append(mtime)
        self.size.append(size)
        self.inode.append(inode)
        self.ctime.append(ctime)
        self.flags.append(flags)
        if flags & DIRECT:
            self.direct.add(rel)
        return row

    def put(self, rel: str, row: int, key: StatKey, flags: int) -> None:
        """The file at ``row`` (from ``row_for``), read at ``key``."""
        self.mtime[row], self.size[row], self.inode[row], self.ctime[row] = key
        self.flags[row] = flags
        if flags & DIRECT:
            self.direct.add(rel)
        else:
            self.direct.discard(rel)
        self.names[row] = rel
        self.rows[rel] = row

    def drop(self, rel: str, row: int) -> None:
        """The file gone (its document removed), or a row from ``row_for`` not used after all."""
        if self.rows.get(rel) == row:
            del self.rows[rel]
            self.direct.discard(rel)
            self.names[row] = None
        if self.names[row] is None:
            self.flags[row] = 0
            self._free.append(row)

    def save(self, path: Path, header: Mapping[str, object], unvouched: Iterable[str] = ()) -> None:
        """Written whole to a new file, then moved over the old one; the rows of ``unvouched`` marked racy (files
        known to have changed since they were read: a new server searches and reads them again)."""
        names = "\0".join(name or "" for name in self.names).encode("utf-8", "surrogateescape")
        flags = self.flags
        if unvouched:
            flags = bytearray(flags)
            for rel in unvouched:
                row = self.rows.get(rel)
                if row is not None:
                    flags[row] |= RACY
        head = {**header, "rows": len(self.names), "names_bytes": len(names), "byteorder": sys.byteorder}
        temporary = path.with_name(f"{path.name}.{os.getpid()}.new")
        with open(temporary, "wb") as f:
            f.write(json.dumps(head).encode() + b"\n")
            f.write(names)
            for column in (self.mtime, self.size, self.inode, self.ctime):
                f.write(column.tobytes())
            f.write(flags)
        os.replace(temporary, path)

    @classmethod
    def load(cls, path: Path) -> tuple[Table, dict[str, object]]:
        """The table kept at ``path`` and its header (OSError, ValueError: not readable as one). Read part by
        part, each freed before the next is made: the names' bytes, their text, then the list of names (a
        copy of the whole file beside them was 100 MB more at the peak at 1M files)."""
        with open(path, "rb") as f:
            line = f.readline(65536)  # the header: a line of JSON
            if not line.endswith(b"\n"):
                raise ValueError("no header")
            head = json.loads(line)
            if not isinstance(head, dict) or head.get("byteorder") != sys.byteorder:
                raise ValueError("not a table of this machine")
            count, size = int(head["rows"]), int(head["names_bytes"])
            if os.fstat(f.fileno()).st_size - len(line) != size + count * (8 * len(_COLUMNS) + 1):
                raise ValueError("a table cut short")
            table = cls()
            text = str(f.read(size), "utf-8", "surrogateescape")
            names: list[str | None] = [n or None for n in text.split("\0")]
            if has_lone_surrogates(text):
                table.undecodable = [n for n in names if n is not None and has_lone_surrogates(n)]
            del text
            table.names = names if count else []
            try:
                for column in (table.mtime, table.size, table.inode, table.ctime):
                    column.fromfile(f, count)
            except EOFError:
                raise ValueError("a table cut short") from None
            table.flags = bytearray(f.read(count))
        if len(table.names) != count:
            raise ValueError("a table whose names do not match its rows")
        for row, name in enumerate(table.names):
            if name is None:
                table._free.append(row)
            else:
                table.rows[name] = row
                if table.flags[row] & DIRECT:
                    table.direct.add(name)
        return table, head
