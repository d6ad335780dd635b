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
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from volley.cache_dir import cache_home
from volley.exact_open import open_directory

log = logging.getLogger(__name__)
TEMP_PREFIX = ".volley-edit-"


@dataclass(frozen=True)
class Write:
    path: str  # absolute, links resolved
    content: bytes | None  # None: delete the file
    mode: int | None = None  # a new file's permissions come from the umask
    new: bool = False  # a file created: its missing directories are made


def apply(root: str, writes: list[Write]) -> None:
    """Write every file of ``writes`` or, when one cannot be prepared, none (blocking; raises OSError).

    Every name is written, renamed and removed inside its directory's descriptor, opened with no link
    followed on the way: a directory swapped for a link after the sandbox's check cannot send a write out."""
    if not writes:
        return
    token = uuid.uuid4().hex[:12]
    temps = {w.path: _temp_name(w.path, token, n) for n, w in enumerate(writes) if w.content is not None}
    with _Directories(create={os.path.dirname(w.path) for w in writes if w.new}) as dirs:
        if len(writes) == 1:  # one rename is all or nothing by itself: no journal
            _prepare(dirs, writes, temps)
            _finish(dirs, writes, temps)
            return
        journal = _journal_path(root, token)
        _write_journal(journal, "preparing", root, writes, temps)
        _prepare(dirs, writes, temps, journal)
        _write_journal(journal, "committing", root, writes, temps)
        _finish(dirs, writes, temps)
        journal.unlink(missing_ok=True)


def interrupted(root: str) -> bool:
    """Whether a crashed server left an edit of ``root`` for ``recover`` to complete (its files are not yet what
    they will be)."""
    folder = _journal_dir(root)
    return folder.is_dir() and any(folder.glob("*.json"))


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
        try:
            with _Directories(create=set()) as dirs:
                if record.get("state") == "committing":
                    _finish(dirs, writes, temps, recovering=True)
                    log.warning("completed an interrupted edit of %d files in %s", len(writes), root)
                else:
                    for temp in temps.values():
                        dirs.unlink(temp)
        except OSError as exc:
            log.warning("an interrupted edit in %s could not be completed (%s): journal %s kept", root, exc, journal)
            continue
        touched += [w.path for w in writes]
        journal.unlink(missing_ok=True)
    return touched


class _Directories:
    """Descriptors of the directories written in, each opened once (exact_open.open_directory)."""

    def __init__(self, create: set[str]) -> None:
        self.create = create  # the directories that may be made (a new file's)
        self.fds: dict[str, int | None] = {}

    def __enter__(self) -> _Directories:
        return self

    def __exit__(self, *exc: object) -> None:
        for fd in self.fds.values():
            if fd is not None:
                os.close(fd)

    def at(self, path: str) -> tuple[int | None, str]:
        directory, name = os.path.split(path)
        if directory not in self.fds:
            self.fds[directory] = open_directory(directory, create=directory in self.create)
        fd = self.fds[directory]
        return fd, name if fd is not None else path

    def write(self, path: str, content: bytes, mode: int | None) -> None:
        fd, name = self.at(path)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
        out = os.open(name, flags, 0o666, dir_fd=fd)
        try:
            if mode is not None and sys.platform != "win32":  # Windows keeps only a read-only flag
                os.fchmod(out, stat.S_IMODE(mode))
            view = memoryview(content)
            while view:
                view = view[os.write(out, view) :]
            os.fsync(out)
        finally:
            os.close(out)

    def rename(self, source: str, target: str) -> None:
        fd, source_name = self.at(source)
        _, target_name = self.at(target)
        os.replace(source_name, target_name, src_dir_fd=fd, dst_dir_fd=fd)

    def unlink(self, path: str) -> None:
        fd, name = self.at(path)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=fd)

    def exists(self, path: str) -> bool:
        fd, name = self.at(path)
        try:
            os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        return True

    def sync(self) -> None:
        for fd in self.fds.values():
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.fsync(fd)


def _prepare(dirs: _Directories, writes: list[Write], temps: dict[str, str], journal: Path | None = None) -> None:
    """Every new content written whole to its temporary file; on failure none is left (nor the journal)."""
    try:
        for w in writes:
            if w.content is not None:
                dirs.write(temps[w.path], w.content, w.mode)
    except BaseException:
        for temp in temps.values():
            with contextlib.suppress(OSError):
                dirs.unlink(temp)
        if journal is not None:
            journal.unlink(missing_ok=True)
        raise


def _finish(dirs: _Directories, writes: list[Write], temps: dict[str, str], recovering: bool = False) -> None:
    for w in writes:
        if w.content is None:
            dirs.unlink(w.path)
        elif not recovering or dirs.exists(temps[w.path]):
            dirs.rename(temps[w.path], w.path)
    dirs.sync()


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
    return cache_home() / "journals" / hashlib.sha256(os.fsencode(root)).hexdigest()[:16]


def _journal_path(root: str, token: str) -> Path:
    return _journal_dir(root) / f"{token}.json"
