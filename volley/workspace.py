"""The workspace: its root, the sandbox every path passes through, and the ignore and deny rules.

No tool resolves a path or walks a directory itself; they ask the workspace, so none can forget
the sandbox or the rules.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from volley.client_paths import client_path
from volley.config import CONFIG_FILE, Config, load_config
from volley.errors import DeniedError, EscapeError, InputError, NotFoundError
from volley.ignore import (
    IGNORE_FILES,
    Chain,
    Decision,
    DenyRules,
    IgnoreRules,
    ignores_case,
    matchable,
    posix_rel,
)

MAX_PATH_CHARS = 4096
MAX_NAME_BYTES = 255
_CONTROL = {chr(c) for c in range(32)} | {"\x7f"}

Kind = Literal["file", "dir", "any"]


@dataclass(frozen=True, slots=True)
class Target:
    """A path the sandbox accepted: ``rel`` is relative to the root ('' is the root itself)."""

    rel: str
    abs: str
    is_dir: bool

    @property
    def shown(self) -> str:
        return self.rel or "."


@dataclass(frozen=True, slots=True)
class Entry:
    """One walked directory entry."""

    rel: str
    name: str
    depth: int
    is_dir: bool
    is_symlink: bool
    dirent: os.DirEntry[str]


class Workspace:
    """A directory served to clients, with its configuration and rules."""

    def __init__(self, root: str | Path, config: Config | None = None, flags: dict[str, Any] | None = None) -> None:
        real = os.path.realpath(root)
        if not os.path.isdir(real):
            raise NotFoundError(f"workspace is not a directory: {root}")
        self.root = Path(real)
        self._root_str = real
        self._fixed_config = config
        self.flags = flags or {}
        self.denied_inodes: set[tuple[int, int]] = set()  # (device, inode) of denied files the walks met
        self.reload()
        from volley.runs import shared_store  # its imports wait until a workspace is served

        self.runs = shared_store()  # one per process: run_output finds a run of any workspace

    def reload(self) -> None:
        """(Re)read the configuration and the rule files that are not cached per directory."""
        if self._fixed_config is None:
            loaded = load_config(self.root, self.flags)
            config, self.config_path, self.config_sources = loaded.config, loaded.path, loaded.sources
            self.config_refused = loaded.refused
        else:
            config, self.config_path, self.config_sources = self._fixed_config, None, {}
            self.config_refused = ()
        self.config = config
        self.ignore = IgnoreRules(self.root, list(config.ignore), fold=ignores_case(self.root))
        self.deny = DenyRules(list(config.deny))

    def rule_files(self) -> list[Path]:
        """Files whose change means reload(): the config files, and ignore files outside the tree."""
        return [self.root / CONFIG_FILE, self.root / "pyproject.toml", *self.ignore.outer_paths]

    # -- the sandbox -------------------------------------------------------------------------

    def resolve(self, path: str, kind: Kind = "any") -> Target:
        """Resolve a client's path (relative to the root, or absolute inside it) to an existing target.

        Symbolic links are resolved at every depth before containment is checked; a denied path,
        or a link to one, is refused.
        """
        _check_syntax(path)
        path = self._as_named(client_path(path))
        rel, real, mode, known_as = self._plain(path) or self._followed(path)
        is_dir = stat.S_ISDIR(mode)
        for name in known_as:
            if name and not name.startswith("../"):
                self.check_denied(name, is_dir, path)
        if kind == "file" and is_dir:
            raise NotFoundError(f"'{path}' is a directory, not a file: use list_dir to see what it holds")
        if kind == "file" and not stat.S_ISREG(mode):
            raise NotFoundError(f"'{path}' is not a regular file (a FIFO, socket or device): it cannot be read")
        if kind == "dir" and not is_dir:
            raise NotFoundError(f"'{path}' is a file, not a directory: use read_file to read it")
        return Target(rel, real, is_dir)

    def resolve_for_write(self, path: str, *, new: bool) -> Target:
        """Where a write to ``path`` goes: an existing regular file (``new``: a path with nothing there, below
        an existing directory, whose missing directories are created by the writer). Links are resolved (an
        edit through a link changes its target); denied and ignored paths are refused, as for reading."""
        _check_syntax(path)
        path = client_path(path)
        if not new:
            target = self.resolve(path, "file")
        else:
            candidate = os.path.normpath(path if os.path.isabs(path) else os.path.join(self._root_str, path))
            if os.path.lexists(candidate):
                raise InputError(f"'{path}' already exists: to replace its content use overwrite")
            parent, missing = candidate, []
            while not os.path.lexists(parent):
                parent, name = os.path.split(parent)
                missing.append(name)
            if not self._contains(parent) and not self._contains(candidate):
                raise EscapeError(f"path escapes the workspace: '{path}'; give a path relative to the workspace root")
            base = self.resolve(parent, "dir")
            rel = "/".join([base.rel, *reversed(missing)] if base.rel else reversed(missing))
            self.check_denied(rel, False, path)
            target = Target(rel, f"{base.abs}/{'/'.join(reversed(missing))}", False)
        decision = self.ignored(target.rel, False)
        if decision is not None:
            raise DeniedError(
                f"'{path}' is ignored (`{decision.pattern}` in {decision.source}): edit does not write files the "
                "read tools do not show; change the ignore rules first if this file is meant to be edited"
            )
        return target

    def _as_named(self, path: str) -> str:
        """A relative path as answers show it (a name's bytes that are not UTF-8 as U+FFFD: answers are JSON) as
        the file is named: each such part is the one entry of its directory that is shown so, if one is."""
        if "\ufffd" not in path or path.startswith("/") or os.path.lexists(os.path.join(self._root_str, path)):
            return path
        real, named = self._root_str, []
        for part in path.split("/"):
            if "\ufffd" in part and not os.path.lexists(f"{real}/{part}"):
                try:
                    fits = [name for name in os.listdir(real) if matchable(name) == part]
                except OSError:
                    return path
                if len(fits) != 1:
                    return path
                part = fits[0]
            named.append(part)
            real = f"{real}/{part}"
        return "/".join(named)

    def _plain(self, path: str) -> tuple[str, str, int, set[str]] | None:
        """The common case, cheaply: a relative path of plain names, no link on the way, every part there.

        Returns what ``_followed`` returns, or None to take that general route.
        """
        if path.startswith("/") or "\\" in path:
            return None
        real = self._root_str
        st = None
        for part in path.split("/"):
            if part in ("", ".", ".."):
                return None
            real = f"{real}/{part}"
            try:
                st = os.lstat(real)
            except OSError:
                return None
            if stat.S_ISLNK(st.st_mode):
                return None
        return (path, real, st.st_mode, {path}) if st is not None else None

    def _followed(self, path: str) -> tuple[str, str, int, set[str]]:
        """Any path, links resolved at every depth and containment checked: its path relative to the root,
        real path, mode, and every relative path it is known by (real and lexical) for the deny rules."""
        candidate = path if os.path.isabs(path) else os.path.join(self._root_str, path)
        real = os.path.realpath(candidate)
        if not self._contains(real):
            lexical = os.path.normpath(candidate)
            if self._contains(lexical):
                raise EscapeError(
                    f"path escapes the workspace: '{path}' goes through a symbolic link that points "
                    "outside it; only files inside the workspace can be used"
                )
            raise EscapeError(
                f"path escapes the workspace: '{path}' resolves outside {self._root_str}; "
                "give a path relative to the workspace root"
            )
        try:
            mode = os.stat(real).st_mode
        except FileNotFoundError:
            if not os.path.isdir(self._root_str):
                raise NotFoundError(
                    f"the workspace directory {self._root_str} no longer exists (deleted or renamed): "
                    "restart Volley on its new location"
                ) from None
            raise NotFoundError(f"no such file or directory: '{path}'{self._hint(real)}") from None
        except OSError as exc:
            raise NotFoundError(f"cannot access '{path}': {exc.strerror}") from None
        rel = posix_rel(os.path.relpath(real, self._root_str))
        lexical_rel = posix_rel(os.path.relpath(os.path.normpath(candidate), self._root_str))
        return rel, real, mode, {rel, lexical_rel}

    def check_denied(self, rel: str, is_dir: bool, asked: str | None = None) -> None:
        decision = self.deny.check(rel, is_dir)
        if decision is not None:
            raise DeniedError(
                f"access denied: '{asked or rel}' matches the deny rule `{decision.pattern}` (secrets such "
                "as keys and .env files are never read, listed or searched)"
            )

    def _contains(self, path: str) -> bool:
        root, path = os.path.normcase(self._root_str), os.path.normcase(path)  # Windows: C:\A is c:\a
        return path == root or path.startswith(root + os.sep)

    def _hint(self, real: str) -> str:
        parent = os.path.dirname(real)
        while not os.path.isdir(parent) and self._contains(parent):
            parent = os.path.dirname(parent)
        if not self._contains(parent):
            return ""
        shown = posix_rel(os.path.relpath(parent, self._root_str)) or "."
        return f" (the nearest existing directory is '{shown}': list it with list_dir)"

    # -- ignore rules ------------------------------------------------------------------------

    def ignored(self, rel: str, is_dir: bool) -> Decision | None:
        """Why ``rel`` is ignored (itself or through an ignored ancestor), or None when it is not."""
        if not rel:
            return None
        decision = self.ignore.check(rel, is_dir)
        return decision if decision is not None and decision.ignored else None

    def walk(
        self,
        start: Target,
        *,
        max_depth: int | None = None,
        include_ignored: bool = False,
        on_hidden: Callable[[Entry, Decision], None] | None = None,
        on_dir: Callable[[str, os.stat_result], None] | None = None,
        on_left_out: Callable[[str], None] | None = None,
    ) -> Iterator[Entry]:
        """Walk below ``start`` depth-first, directories first, names sorted.

        Denied entries are never yielded; ignored ones only with ``include_ignored`` (else they are
        reported to ``on_hidden`` and ignored directories are not entered). Symbolic links are
        yielded but never followed. ``on_dir`` sees each directory's stat taken just before it is read;
        ``on_left_out`` each directory (relative path) from which the walk left out anything it holds.
        """
        hooks = (include_ignored, on_hidden, on_dir, on_left_out)
        scans = [self._scan(start.rel, self.ignore.chain_above(start.rel), 1, *hooks)]
        while scans:
            item = next(scans[-1], None)
            if item is None:
                scans.pop()
                continue
            entry, chain = item
            yield entry
            if entry.is_dir and not entry.is_symlink and (max_depth is None or entry.depth < max_depth):
                scans.append(self._scan(entry.rel, chain, entry.depth + 1, *hooks))

    def _scan(
        self,
        rel_dir: str,
        parent_chain: Chain,
        depth: int,
        include_ignored: bool,
        on_hidden: Callable[[Entry, Decision], None] | None,
        on_dir: Callable[[str, os.stat_result], None] | None,
        on_left_out: Callable[[str], None] | None,
    ) -> Iterator[tuple[Entry, Chain]]:
        """The entries of one directory, each with the ignore chain in force beside it."""
        path = os.path.join(self._root_str, rel_dir)
        try:
            if on_dir is not None:
                on_dir(path, os.stat(path))
            with os.scandir(path) as it:
                dirents = list(it)
        except OSError:
            if on_left_out is not None:
                on_left_out(rel_dir)
            return
        names = {d.name for d in dirents}
        chain = parent_chain.extended(self.ignore.own_files(rel_dir, names & set(IGNORE_FILES)))
        entries = []
        for dirent in dirents:
            rel = f"{rel_dir}/{dirent.name}" if rel_dir else dirent.name
            try:
                is_symlink = dirent.is_symlink()
                is_dir = dirent.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if self.deny.denies(rel, is_dir):
                if not is_dir and not is_symlink:  # its inode: another name for it (a hard link) is denied too
                    self._note_denied(path, dirent)
                continue
            if is_symlink and self._links_to_denied(dirent.path):
                continue
            entry = Entry(rel, dirent.name, depth, is_dir, is_symlink, dirent)
            decision = chain.decide(rel, is_dir)
            if decision is not None and decision.ignored and not include_ignored:
                if on_hidden is not None:
                    on_hidden(entry, decision)
                continue
            entries.append(entry)
        if on_left_out is not None and len(entries) < len(dirents):
            on_left_out(rel_dir)
        entries.sort(key=lambda e: (not e.is_dir, e.name))
        for entry in entries:
            yield entry, chain

    def _note_denied(self, directory: str, dirent: os.DirEntry[str]) -> None:
        with contextlib.suppress(OSError):
            self.denied_inodes.add((os.stat(directory).st_dev, dirent.inode()))

    def links_to_denied_content(self, st: os.stat_result) -> bool:
        """Whether a file with more than one name shares its inode with a denied file a walk has met."""
        return st.st_nlink > 1 and (st.st_dev, st.st_ino) in self.denied_inodes

    def _links_to_denied(self, link: str) -> bool:
        """Whether a link's target, inside the workspace, is denied (a link to `.env` is never listed)."""
        real = os.path.realpath(link)
        if not real.startswith(self._root_str + os.sep):
            return False
        return self.deny.check(posix_rel(real[len(self._root_str) + 1 :]), os.path.isdir(real)) is not None

    def walk_files(
        self, start: Target, include_ignored: bool, on_dir: Callable[[str, os.stat_result], None] | None = None
    ) -> list[str]:
        """Every regular file below ``start`` that a search may read, walked (index.visible_files keeps it)."""
        entries = self.walk(start, include_ignored=include_ignored, on_dir=on_dir)
        return [e.rel for e in entries if not e.is_dir and not e.is_symlink and e.dirent.is_file(follow_symlinks=False)]


def _check_syntax(path: str) -> None:
    if not isinstance(path, str) or not path.strip():
        raise EscapeError("empty path: give a path relative to the workspace root ('.' is the root)")
    if any(ch in _CONTROL for ch in path):
        raise EscapeError(f"path contains a NUL or control character: {path!r}")
    if len(path) > MAX_PATH_CHARS or any(
        len(p.encode(errors="surrogatepass")) > MAX_NAME_BYTES for p in path.split("/")
    ):
        raise EscapeError(f"path too long ({len(path)} characters): no file there can exist")
