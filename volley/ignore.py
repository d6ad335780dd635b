"""Ignore and deny rules with git's semantics, after ripgrep's ``ignore`` crate.

Each ignore file is one matcher, matched against paths relative to the directory that holds it.
For a path, every category takes the match of its deepest file (the last matching line of that
file wins, a ``!`` line whitelists), and the categories rank, strongest first:

    workspace config ``ignore`` > ``.ignore`` > ``.gitignore`` > ``.git/info/exclude``

A path whose parent directory is ignored is ignored too: git cannot re-include a file below an
excluded directory, and a walk never enters one. Deny rules are a separate, stronger set (secrets):
a denied path is refused by every tool, whatever the ignore rules say.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import re2  # type: ignore[import-untyped]  # (google-re2 ships no types)
from pathspec import GitIgnoreSpec

from volley.platform import names_differ_by_case
from volley.stat_keys import StatKey
from volley.stat_keys import key as stat_key_of
from volley.text import valid_text

Regex = Any  # re.Pattern[str], or RE2's compiled pattern (match, finditer, pattern; its matches take group numbers)
_Pattern = tuple[Regex | None, bool | None, tuple[Regex, bool] | None]  # a line's regex, include, contents' regex
SET_LINES = 1_000  # lines of an ignore file matched by one RE2 set (it refused 5,000 globs of 40 characters)
log = logging.getLogger(__name__)
IGNORE_FILES = (".ignore", ".gitignore")  # strongest first, as ranked above
DEFAULT_DENY = (  # files that hold credentials, after gitleaks' and GitHub secret scanning's lists
    ".git",
    ".env",
    ".env.*",
    "*.env",  # prod.env, local.env
    ".envrc",  # direnv
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.ppk",
    "*.jks",
    "*.keystore",
    "*.kdbx",
    "*.tfstate",
    "*.tfstate.backup",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    ".ssh/",
    ".gnupg/",
    ".netrc",
    ".pypirc",
    ".npmrc",
    ".git-credentials",
    ".pgpass",
    ".my.cnf",
    ".htpasswd",
    "**/.aws/credentials",
    "**/.docker/config.json",
    "**/.kube/config",
    ".volley-edit-*",  # not a secret: edit's temporary files, never shown (a crash may leave one)
)


@dataclass(frozen=True, slots=True)
class Decision:
    """The rule that decided a path: ``ignored`` False means it was whitelisted by ``!``."""

    ignored: bool
    source: str
    pattern: str

    def __str__(self) -> str:
        verb = "ignored" if self.ignored else "re-included"
        return f"{verb} by {self.source} (`{self.pattern}`)"


class PatternFile:
    """One ignore file's patterns (or a config list), anchored at ``base``.

    ``base`` is the holding directory relative to the workspace root ('' for the root itself);
    ``outer`` is prepended for files that sit above the root (the root lies inside a git repo).
    """

    def __init__(self, label: str, lines: list[str], base: str = "", outer: str = "", fold: bool = False) -> None:
        numbered = [(n, line) for n, line in enumerate(lines, 1) if line.strip() and not line.startswith("#")]
        if fold:  # names that differ only by case are one name: match lower case against lower case
            numbered = [(n, line.lower()) for n, line in numbered]
            base, outer = base.lower(), outer.lower()
        self.label, self.base, self.outer, self.fold = label, base, outer, fold
        self._numbers = [n for n, _ in numbered]
        self._lines = [line for _, line in numbered]
        # (first line, the lines' spec): RE2 refuses a set of a few thousand globs (its memory budget)
        starts = range(0, len(self._lines), SET_LINES)
        self._specs = [(start, _spec(self._lines[start : start + SET_LINES])) for start in starts]
        self._patterns: list[_Pattern | None] = [None] * len(self._lines)  # each compiled once it is first needed

    @classmethod
    def read(cls, path: Path, label: str, base: str = "", outer: str = "", fold: bool = False) -> PatternFile | None:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
        return cls(label, text.splitlines(), base, outer, fold)

    def hides_outer_path(self) -> bool:
        """Whether this file (above the root) ignores the root or one of its ancestors."""
        parts = matchable(self.outer).rstrip("/").split("/") if self.outer else []
        return any(self._last_include("/".join(parts[:i]) + "/") for i in range(1, len(parts) + 1))

    def _last_include(self, path: str) -> bool | None:
        """What the last line of the file that matches ``path`` says, by the specs alone."""
        for _, spec in reversed(self._specs):
            include = spec.check_file(path).include
            if include is not None:
                return include
        return None

    def _pattern(self, index: int, spec: GitIgnoreSpec, start: int) -> _Pattern:
        pattern = self._patterns[index]
        if pattern is None:
            p = spec.patterns[index - start]
            contents = _contents_of(self._lines[index]) if p.include is not None else None
            regex = path_regex(p.regex.pattern) if p.regex is not None else None
            pattern = self._patterns[index] = (regex, p.include, contents)
        return pattern

    def match(self, rel: str, is_dir: bool) -> Decision | None:
        if self.fold:
            rel = rel.lower()
        if self.base:
            if not rel.startswith(self.base + "/"):
                return None
            rel = rel[len(self.base) + 1 :]
        path = matchable(self.outer + rel + ("/" if is_dir else ""))
        for start, spec in reversed(self._specs):  # the last matching line wins
            if spec.check_file(path).include is None:  # the fast backend: no line of these matches at all
                continue
            for index in range(start + len(spec.patterns) - 1, start - 1, -1):
                regex, include, contents = self._pattern(index, spec, start)
                if include is None or regex is None:
                    continue
                if contents is not None:
                    matched = _inside(contents, path)
                else:
                    found = regex.match(path)
                    matched = found is not None and _matches_itself(found, path)
                if matched:
                    return Decision(include, f"{self.label}:{self._numbers[index]}", self._lines[index].strip())
        return None


def _spec(lines: list[str]) -> GitIgnoreSpec:
    """The lines' spec on the fastest backend that takes them (RE2, else pathspec's own, Python's re)."""
    try:
        return GitIgnoreSpec.from_lines(lines)
    except re2.error as exc:
        log.info("an ignore file's lines fall back to Python's regex engine (%s)", exc)
        return GitIgnoreSpec.from_lines(lines, backend="simple")


def _contents_of(line: str) -> tuple[Regex, bool] | None:
    """For a pattern of a directory's contents (`dir/**`, `**/dir/**`, `dir/**/`), the directory's own pattern
    and whether only directories inside count. git matches such a pattern on what lies inside the directory,
    never on the directory: it is entered, and a deeper `!…` may re-include what is inside (pathspec's
    regex, `^dir/`, also matched the directory itself)."""
    body = line.strip().removeprefix("!")
    dirs_only = body.endswith("/**/")
    stem = body.removesuffix("/") if dirs_only else body
    if not stem.endswith("/**") or stem == "/**":
        return None
    stem = stem[: -len("/**")]
    if "/" not in stem.lstrip("/"):  # `a/**` is anchored (a slash before the end), `a` alone would not be
        stem = "/" + stem.lstrip("/")
    compiled = GitIgnoreSpec.from_lines([stem + "/"]).patterns[0].regex
    return (path_regex(compiled.pattern), dirs_only) if compiled is not None else None


def _inside(contents: tuple[Regex, bool], path: str) -> bool:
    """Whether ``path`` (a directory's ends in '/') lies strictly inside a directory the pattern names."""
    regex, dirs_only = contents
    if dirs_only and not path.endswith("/"):
        return False
    parts = path.rstrip("/").split("/")
    for i in range(1, len(parts)):
        ancestor = "/".join(parts[:i]) + "/"
        found = regex.match(ancestor)
        if found is not None and _matches_itself(found, ancestor):
            return True
    return False


def _matches_itself(found: Any, path: str) -> bool:
    """pathspec's patterns also match paths below a matching directory; git decides those through the
    directory itself (checked separately, as an ancestor), so only a match of the path itself counts:
    otherwise `!a/` would wrongly re-include `a/b/` that `b/` excluded."""
    group = found.re.groupindex.get("ps_d")
    if group is None or found.start(group) == -1:
        return True
    return found.end(group) == len(path)


_UNBOUNDED = re.compile(r"(?<!\\)[*+]")
MOST_UNBOUNDED = 2  # repeats (`*`, `+`) a pattern's regex may hold for Python's re; with more, RE2 matches it


def matchable(path: str) -> str:
    """``path`` as RE2 (pathspec's fastest backend, and ``path_regex``) takes it, UTF-8 only: a name's bytes
    that are not UTF-8 (kept by Python as surrogates) each become U+FFFD, as an ignore file's are read."""
    return valid_text(path)


def path_regex(source: str, multiline: bool = False) -> Regex:
    """A pattern's regex (pathspec's source) compiled: by Python's re, or by RE2, whose time is linear in the
    text, when it holds more than MOST_UNBOUNDED repeats (a backtracking engine's time grows as the name's
    length to their number: `*a*a*a*a*a*a*a*b` on a name of 200 a's never ended). Match texts through
    ``matchable``; name groups by their number (RE2's matches take no names)."""
    if len(_UNBOUNDED.findall(source)) <= MOST_UNBOUNDED:
        return re.compile(source, re.MULTILINE if multiline else 0)
    return re2.compile(f"(?m){source}" if multiline else source)


@dataclass(frozen=True, slots=True)
class Chain:
    """The ignore matchers in force inside one directory: per category, deepest file first."""

    categories: tuple[tuple[PatternFile, ...], ...]

    def decide(self, rel: str, is_dir: bool) -> Decision | None:
        """The decision for ``rel`` itself (its parents are the caller's business)."""
        for files in self.categories:
            for pattern_file in files:
                decision = pattern_file.match(rel, is_dir)
                if decision is not None:
                    return decision
        return None

    def extended(self, own: dict[str, PatternFile]) -> Chain:
        """The chain of a subdirectory holding the ignore files ``own`` (by file name)."""
        if not own:
            return self
        config, *per_file, exclude = self.categories
        grown = tuple(
            ((own[name],) if name in own else ()) + files for name, files in zip(IGNORE_FILES, per_file, strict=True)
        )
        return Chain((config, *grown, exclude))


class IgnoreRules:
    """Loads ignore files on demand, caching each by its mtime and size so edits apply at once."""

    def __init__(self, root: Path, extra_patterns: list[str], fold: bool = False) -> None:
        self.root, self.fold = root, fold  # fold: names that differ by case are one (core.ignorecase)
        self._cache: dict[Path, tuple[StatKey, PatternFile | None]] = {}
        self.outer_paths: list[Path] = []  # rule files above or beside the tree: reloaded as a whole
        config = (PatternFile("workspace config `ignore`", extra_patterns, fold=fold),) if extra_patterns else ()
        outer_gitignores, exclude = self._outer_files(root)
        self._outer_chain = Chain((config, (), tuple(reversed(outer_gitignores)), exclude))

    @property
    def root_chain(self) -> Chain:
        """The chain in force at the root: its own ignore files as they are now (two stats when cached)."""
        return self._outer_chain.extended(self.own_files("", set(IGNORE_FILES)))

    def _outer_files(self, root: Path) -> tuple[list[PatternFile], tuple[PatternFile, ...]]:
        """The .gitignore files above the root and the exclude file, when the root is inside a git repo."""
        for git_root in (root, *root.parents):
            if (git_root / ".git").exists():
                break
        else:
            return [], ()
        self.outer_paths = [git_root / ".git" / "info" / "exclude"]
        outer_files = []
        between = [p for p in root.parents if git_root in p.parents]
        above = [] if git_root == root else [git_root, *reversed(between)]
        for directory in above:
            self.outer_paths.append(directory / ".gitignore")
            outer = root.relative_to(directory).as_posix() + "/"
            found = PatternFile.read(
                directory / ".gitignore", str(directory / ".gitignore"), outer=outer, fold=self.fold
            )
            if found is not None:
                outer_files.append(found)
        exclude_path = git_root / ".git" / "info" / "exclude"
        outer = "" if git_root == root else root.relative_to(git_root).as_posix() + "/"
        exclude = PatternFile.read(exclude_path, ".git/info/exclude", outer=outer, fold=self.fold)
        found_files = [*outer_files, *([exclude] if exclude else [])]
        if any(f.hides_outer_path() for f in found_files):
            return [], ()  # the root itself is ignored there: serving it explicitly overrides that
        return outer_files, (exclude,) if exclude is not None else ()

    def own_files(self, rel_dir: str, present: set[str] | None = None) -> dict[str, PatternFile]:
        """The ignore files directly in ``rel_dir``; ``present`` names those known to exist."""
        own = {}
        for name in IGNORE_FILES:
            if present is not None and name not in present:
                continue
            label = f"{rel_dir}/{name}" if rel_dir else name
            found = self._load(self.root / label, label, rel_dir)
            if found is not None:
                own[name] = found
        return own

    def _load(self, path: Path, label: str, base: str) -> PatternFile | None:
        try:
            st = path.stat()
        except OSError:
            return None
        loaded = stat_key_of(st)
        cached = self._cache.get(path)
        if cached is not None and cached[0] == loaded:
            return cached[1]
        found = PatternFile.read(path, label, base, fold=self.fold)
        self._cache[path] = (loaded, found)
        return found

    def file_keys(self, directory: str) -> list[tuple[str, StatKey]]:
        """The stat key each ignore file in ``directory`` had when it was loaded."""
        keys = []
        for name in IGNORE_FILES:
            cached = self._cache.get(Path(directory, name))
            if cached is not None:
                keys.append((os.path.join(directory, name), cached[0]))
        return keys

    def chain_above(self, rel_dir: str) -> Chain:
        """The chain in force where ``rel_dir`` is listed: its parent's (the outer rules, for the root)."""
        return self.chain_for(rel_dir.rpartition("/")[0]) if rel_dir else self._outer_chain

    def chain_for(self, rel_dir: str) -> Chain:
        """The chain in force inside ``rel_dir`` (built from the root down)."""
        chain = self.root_chain
        if not rel_dir:
            return chain
        parts = rel_dir.split("/")
        for i in range(1, len(parts) + 1):
            chain = chain.extended(self.own_files("/".join(parts[:i])))
        return chain

    def check(self, rel: str, is_dir: bool) -> Decision | None:
        """The decision for a path reached directly: an ignored ancestor hides it."""
        parts = rel.split("/")
        chain = self.root_chain
        for i in range(1, len(parts) + 1):
            sub = "/".join(parts[:i])
            last = i == len(parts)
            decision = chain.decide(sub, is_dir if last else True)
            if decision is not None and (decision.ignored or last):
                return decision
            if not last:
                chain = chain.extended(self.own_files(sub))
        return None


def ignores_case(root: Path) -> bool:
    """Whether ignore rules match without regard to case: git's ``core.ignorecase`` for the repository holding
    ``root`` where it is set (git sets it when the repository is made on a case-insensitive filesystem), else
    whether this machine's filesystem tells names apart by case."""
    for git_root in (root, *root.parents):
        if (git_root / ".git").exists():
            said = _core_ignorecase(git_root / ".git" / "config")
            if said is not None:
                return said
            break
    return not names_differ_by_case()


def _core_ignorecase(config: Path) -> bool | None:
    """``core.ignorecase`` as a git config file sets it (None: it does not)."""
    try:
        lines = config.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    section, found = "", None
    for raw in lines:
        line = raw.split("#", 1)[0].split(";", 1)[0].strip()
        if line.startswith("["):
            section = line.strip("[]").strip().lower()
        elif section == "core" and "=" in line:
            key, value = (part.strip().lower() for part in line.split("=", 1))
            if key == "ignorecase":
                found = value in ("true", "yes", "on", "1")
        elif section == "core" and line.lower() == "ignorecase":
            found = True  # a key alone is true
    return found


class DenyRules:
    """Secrets: matched on the path and every ancestor directory; stronger than any ignore rule."""

    def __init__(self, extra_patterns: list[str]) -> None:
        # matched without regard to case: on a case-insensitive filesystem `.ENV` opens `.env`
        self._file = PatternFile("deny rules", [p.lower() for p in (*DEFAULT_DENY, *extra_patterns)])
        self._memo: dict[tuple[str, bool], Decision | None] = {}

    def check(self, rel: str, is_dir: bool) -> Decision | None:
        key = (rel, is_dir)
        if key not in self._memo:
            if len(self._memo) > 100_000:
                self._memo.clear()
            self._memo[key] = self._check(rel, is_dir)
        return self._memo[key]

    def _check(self, rel: str, is_dir: bool) -> Decision | None:
        parts = rel.lower().split("/")
        for i in range(1, len(parts) + 1):
            last = i == len(parts)
            decision = self._file.match("/".join(parts[:i]), is_dir if last else True)
            if decision is not None and decision.ignored:
                return decision
        return None

    def denies(self, rel: str, is_dir: bool) -> bool:
        """Whether ``rel`` itself is denied (the caller has checked its ancestors)."""
        decision = self._file.match(rel.lower(), is_dir)
        return decision is not None and decision.ignored


def posix_rel(path: str) -> str:
    """Normalize a relative path to forward slashes without './' or trailing '/'."""
    rel = os.path.normpath(path).replace(os.sep, "/")
    return "" if rel == "." else rel
