"""Writing a set of files all or nothing: each file whole (a temporary file beside it, fsync, rename, its mode
kept), and a journal so that a set interrupted by a crash is completed when a server next starts.

A change of several files goes: journal "preparing" (the temporary names) → every temporary file written and
synced → journal "committing" → each rename (or deletion) → journal removed. Recovery finds a journal
"preparing" (nothing changed yet: the temporary files are removed) or "committing" (every temporary file was
whole: the renames and deletions are done again). Readers see each file before or after, never torn.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import stat
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from volley.symbols.disk import cache_home

log = logging.getLogger(__name__)
TEMP_PREFIX = ".volley-edit-"


@dataclass(frozen=True)
class Write:
    path: str  # absolute, links resolved
    content: bytes | None  # None: delete the file
    mode: int | None = None  # a new file's permissions come from the umask


def apply(root: str, writes: list[Write]) -> None:
    """Write every file of ``writes`` or, when one cannot be prepared, none (blocking; raises OSError)."""
    if not writes:
        return
    if len(writes) == 1:  # one rename is all or nothing by itself: no journal
        _apply_one(writes[0])
        return
    token = uuid.uuid4().hex[:12]
    temps = {w.path: _temp_name(w.path, token, n) for n, w in enumerate(writes) if w.content is not None}
    journal = _journal_path(root, token)
    _write_journal(journal, "preparing", root, writes, temps)
    try:
        for w in writes:
            if w.content is not None:
                os.makedirs(os.path.dirname(w.path), exist_ok=True)  # a new file's directories
                _write_synced(temps[w.path], w.content, w.mode)
    except BaseException:
        for temp in temps.values():
            with contextlib.suppress(OSError):
                os.unlink(temp)
        journal.unlink(missing_ok=True)
        raise
    _write_journal(journal, "committing", root, writes, temps)
    _finish(writes, temps)
    journal.unlink(missing_ok=True)


def _apply_one(w: Write) -> None:
    if w.content is None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(w.path)
        return
    os.makedirs(os.path.dirname(w.path), exist_ok=True)
    temp = _temp_name(w.path, uuid.uuid4().hex[:12], 0)
    try:
        _write_synced(temp, w.content, w.mode)
        os.replace(temp, w.path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def recover(root: str) -> list[str]:
    """Complete or undo what a crashed server left for ``root`` (blocking): the files it touched."""
    touched: list[str] = []
    folder = _journal_dir(root)
    for journal in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            record = json.loads(journal.read_text())
            writes = [Write(w["path"], b"" if w["write"] else None) for w in record["writes"]]
            temps = dict(record["temps"])
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("unreadable edit journal %s: left in place", journal)
            continue
        if record.get("state") == "committing":
            _finish(writes, temps, recovering=True)
            log.warning("completed an interrupted edit of %d files in %s", len(writes), root)
        else:
            for temp in temps.values():
                with contextlib.suppress(OSError):
                    os.unlink(temp)
        touched += [w.path for w in writes]
        journal.unlink(missing_ok=True)
    return touched


_locks_guard = threading.Lock()
_locks: dict[str, threading.Lock] = {}


@contextlib.contextmanager
def locked(paths: list[str]) -> Iterator[None]:
    """Hold each path's lock (in one order, so two edits never wait on each other): edits of one file apply
    one after the other."""
    with _locks_guard:
        chosen = [_locks.setdefault(path, threading.Lock()) for path in sorted(set(paths))]
    with contextlib.ExitStack() as stack:
        for lock in chosen:
            stack.enter_context(lock)
        yield


def _finish(writes: list[Write], temps: dict[str, str], recovering: bool = False) -> None:
    for w in writes:
        if w.content is None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(w.path)
        elif not recovering or os.path.exists(temps[w.path]):
            os.replace(temps[w.path], w.path)
    for directory in {os.path.dirname(w.path) for w in writes}:
        _sync_directory(directory)


def _write_synced(path: str, content: bytes, mode: int | None) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        if mode is not None:
            os.fchmod(fd, stat.S_IMODE(mode))
        view = memoryview(content)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_journal(journal: Path, state: str, root: str, writes: list[Write], temps: dict[str, str]) -> None:
    record = {
        "state": state,
        "root": root,
        "writes": [{"path": w.path, "write": w.content is not None} for w in writes],
        "temps": temps,
    }
    journal.parent.mkdir(parents=True, exist_ok=True)
    temp = journal.with_suffix(".tmp")
    _write_synced_replacing(temp, json.dumps(record).encode())
    os.replace(temp, journal)
    _sync_directory(str(journal.parent))


def _write_synced_replacing(path: Path, content: bytes) -> None:
    with open(path, "wb") as f:
        f.write(content)
        f.flush()
        os.fsync(f.fileno())


def _sync_directory(directory: str) -> None:
    if not hasattr(os, "O_DIRECTORY"):
        return  # Windows: a rename is durable once it returns
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _temp_name(path: str, token: str, number: int) -> str:
    return os.path.join(os.path.dirname(path), f"{TEMP_PREFIX}{token}-{number}")


def _journal_dir(root: str) -> Path:
    return cache_home() / "journals" / hashlib.sha256(root.encode()).hexdigest()[:16]


def _journal_path(root: str, token: str) -> Path:
    return _journal_dir(root) / f"{token}.json"
