"""Symbols kept on disk between sessions, as Aider keeps its tags and ctags its tags file.

Every agent session starts a server of its own, and each used to parse again what the last one had
parsed. Here each file's symbols are stored with the (mtime, size, inode, ctime) they were read at, one SQLite
database per workspace under ``$XDG_CACHE_HOME/volley`` (``~/.cache/volley``); a new server takes a
file's symbols from there while its stat holds. Anything that changes what extraction yields (Volley's
extraction code, a query, a grammar's version) changes the database's stamp, and a database with
another stamp is emptied. The cache is an accelerator only: when it cannot be opened, read or written
(a read-only home, a full disk), the server says so once and parses as before.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import sqlite3
import threading
from array import array
from pathlib import Path

import tree_sitter as ts

from volley.cache_dir import cache_home
from volley.stat_keys import StatKey
from volley.symbols import extract, languages
from volley.symbols.extract import Definition, FileSymbols

log = logging.getLogger(__name__)

SCHEMA = 2  # 2: keys hold the ctime


def stamp() -> str:
    """What the stored symbols depend on: the extraction code, the queries and the grammars' versions."""
    digest = hashlib.sha256(f"{SCHEMA} {ts.LANGUAGE_VERSION}".encode())
    for module in (extract, languages):
        digest.update(Path(module.__file__ or "").read_bytes())
    for grammar in languages.GRAMMARS.values():
        try:
            version = importlib.metadata.version(grammar.module.replace("_", "-"))
        except importlib.metadata.PackageNotFoundError:
            version = "?"
        digest.update(f"{grammar.module} {version}".encode())
    return digest.hexdigest()[:24]


class DiskSymbols:
    """One workspace's stored symbols. Thread-safe; every failure turns it off rather than failing a call."""

    def __init__(self, root: str) -> None:
        self.path = cache_home() / f"symbols-{hashlib.sha256(os.fsencode(root)).hexdigest()[:16]}.sqlite3"
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._opened = False

    def get(self, path: str, key: StatKey, with_names: bool) -> FileSymbols | None:
        """The file's stored symbols if they were read at this stat (and hold the names, if asked)."""
        row = self._run(_SELECT, (_stored(path), _key(key)))
        if row is None or (with_names and row[2] is None):
            return None
        try:
            language, defs, used, starts, ends = row
            definitions = tuple(Definition(*d) for d in json.loads(defs))
            names = tuple((name, n) for name, n in json.loads(used)) if used is not None else None
            return FileSymbols(language, definitions, names, array("q", starts), array("q", ends))
        except (ValueError, TypeError, KeyError, IndexError) as exc:  # a row this code did not write: parse
            log.warning("a malformed row in %s for %s (%s): the file is parsed instead", self.path, path, exc)
            return None

    def put(self, rows: list[tuple[str, StatKey, FileSymbols]]) -> None:
        """Store symbols read at these stats, in one transaction."""
        if not rows:
            return
        values = [
            (
                _stored(path),
                _key(key),
                s.language,
                json.dumps([_fields(d) for d in s.definitions]),
                json.dumps(s.used) if s.used is not None else None,
                s.text_starts.tobytes(),
                s.text_ends.tobytes(),
            )
            for path, key, s in rows
        ]
        self._run("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?)", values, many=True)

    def _run(self, sql: str, args: tuple | list, many: bool = False) -> tuple | None:  # type: ignore[type-arg]
        with self._lock:
            db = self._connection()
            if db is None:
                return None
            try:
                if many:
                    with db:
                        db.executemany(sql, args)
                    return None
                return db.execute(sql, args).fetchone()
            except sqlite3.Error as exc:
                self._off(f"{exc}")
                return None

    def _connection(self) -> sqlite3.Connection | None:
        if self._opened:
            return self._db
        self._opened = True
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False, timeout=2)
            db.execute("PRAGMA journal_mode=WAL")  # several servers on one workspace read while one writes
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("CREATE TABLE IF NOT EXISTS meta (stamp TEXT)")
            db.execute(
                "CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, key TEXT, language TEXT, defs TEXT, "
                "used TEXT, starts BLOB, ends BLOB)"
            )
            wanted, found = stamp(), db.execute("SELECT stamp FROM meta").fetchone()
            if found is None or found[0] != wanted:
                with db:
                    db.execute("DELETE FROM files")
                    db.execute("DELETE FROM meta")
                    db.execute("INSERT INTO meta VALUES (?)", (wanted,))
        except (OSError, sqlite3.Error) as exc:
            self._off(f"{exc}")
            return None
        self._db = db
        return db

    def _off(self, why: str) -> None:
        log.warning("symbols are not kept on disk (%s: %s); each session parses files again", self.path, why)
        if self._db is not None:
            self._db.close()
        self._db, self._opened = None, True


_SELECT = "SELECT language, defs, used, starts, ends FROM files WHERE path = ? AND key = ?"


def _stored(path: str) -> str | bytes:
    """The path as the cache keys it: a name whose bytes are not UTF-8 (Python keeps them as surrogates,
    which SQLite's text refuses) by its bytes."""
    try:
        path.encode()
    except UnicodeEncodeError:
        return path.encode("utf-8", "surrogateescape")
    return path


def _fields(d: Definition) -> list[object]:
    return [d.name, d.kind, d.line, d.end_line, d.signature, d.scope, d.depth]  # Definition's order


def _key(key: StatKey) -> str:
    return ":".join(map(str, key))
