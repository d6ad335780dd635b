"""list_dir: a directory's entries as an indented tree, or the files matching a glob across it."""

from __future__ import annotations

import os
import re
from typing import Annotated, Literal

from pathspec import GitIgnoreSpec
from pydantic import BaseModel, Field

from volley.budget import body_chars
from volley.concurrency import blocking
from volley.errors import InputError
from volley.ignore import Decision, Regex, matchable, path_regex
from volley.index import index_of
from volley.snapshot import DIR, FILE, LINK, Listing
from volley.text import human_size
from volley.workspace import Entry, Target, Workspace

HIDDEN_EXAMPLES = 10


class DirEntry(BaseModel):
    path: str = Field(description="relative to the workspace root")
    type: Literal["file", "dir", "symlink", "other"]
    size: int | None = None
    depth: int = Field(description="1 for direct children of the listed directory")
    target: str | None = Field(None, description="where a symlink points, when inside the workspace")


class ListResult(BaseModel):
    path: str
    entries: list[DirEntry]
    total: int = Field(description="entries found, including those past the cap")
    truncated: bool
    hidden_by_ignore: int = Field(description="entries hidden by ignore rules (not entered)")
    hidden_examples: list[str]
    glob: str | None = None
    offset: int = Field(0, description="entries skipped before these")
    size_limited: bool = Field(False, description="cut by the answer's size limit rather than max_entries")

    def render(self) -> str:
        lines = [f"{self.path}/" + (f" (entries matching {self.glob!r})" if self.glob else "")]
        for e in self.entries:
            # a tree shows names indented by depth; glob matches show their whole path
            indent, name = ("  ", e.path) if self.glob is not None else ("  " * e.depth, e.path.rsplit("/", 1)[-1])
            if e.type == "dir":
                lines.append(f"{indent}{name}/")
            elif e.type == "symlink":
                lines.append(f"{indent}{name}@ -> {e.target or '(outside the workspace)'}")
            else:
                size = f"  {human_size(e.size)}" if e.size is not None else ""
                lines.append(f"{indent}{name}{size}")
        if not self.entries:
            lines.append("  (no matches)" if self.glob else "  (empty)")
        if self.truncated or self.offset:
            span = f"entries {self.offset + 1}-{self.offset + len(self.entries)} of {self.total}"
            end = self.offset + len(self.entries)
            if end < self.total:
                why = " (the answer's size limit was reached)" if self.size_limited else ""
                narrower = "a lower depth or a subdirectory" if self.glob is None else "a narrower path or glob"
                rest = f"the rest: the same call with offset={end}, or {narrower}"
                lines.append(f"[truncated: showing {span}{why}; {rest}]")
            else:
                lines.append(f"[showing {span}]")
        if self.hidden_by_ignore:
            examples = ", ".join(self.hidden_examples)
            more = ", …" if self.hidden_by_ignore > len(self.hidden_examples) else ""
            lines.append(
                f"[{self.hidden_by_ignore} entries hidden by ignore rules: {examples}{more}; "
                "pass include_ignored=true to list them]"
            )
        return "\n".join(lines)


async def list_dir(
    ws: Workspace,
    path: Annotated[str, Field(description="directory relative to the workspace root")] = ".",
    depth: Annotated[int, Field(ge=1, le=50, description="1 = direct children; deeper gives an indented tree")] = 1,
    glob: Annotated[
        str | None,
        Field(description="find entries by name across the whole tree below path, e.g. '**/*.py' or '*.md'"),
    ] = None,
    include_ignored: Annotated[bool, Field(description="also list entries hidden by ignore rules")] = False,
    max_entries: Annotated[int | None, Field(ge=1, description="cap on entries (default from config: 1000)")] = None,
    offset: Annotated[int, Field(ge=0, description="skip this many entries: a truncated answer names it")] = 0,
) -> ListResult:
    """List a directory (directories first, file sizes shown) or find files by glob below it.

    Entries hidden by .gitignore/.ignore rules are counted and named, not listed, unless
    include_ignored is set; ignored directories are never entered. Secrets matching the deny rules
    are never listed.
    """
    limits = ws.config.limits
    page = (offset, max_entries or limits.list_max_entries, body_chars(limits.answer_chars))
    return await blocking(_list, ws, path, depth, glob, include_ignored, page)


def _list(
    ws: Workspace, path: str, depth: int, glob: str | None, include_ignored: bool, page: tuple[int, int, int]
) -> ListResult:
    offset, cap, room = page
    target = ws.resolve(path, kind="dir")
    if glob is not None:
        matcher_regex = _glob_regex(glob)
        listing = index_of(ws).listing(target, include_ignored)
        if listing is not None:
            return _from_index(ws, target, glob, matcher_regex, listing, page)
    hidden: list[str] = []

    def on_hidden(entry: Entry, _: Decision) -> None:
        hidden.append(entry.rel + ("/" if entry.is_dir else ""))

    matcher = _glob_matcher(glob) if glob is not None else None
    prefix = len(target.rel) + 1 if target.rel else 0
    entries: list[DirEntry] = []
    total = 0
    full = False  # the page is full: by count or by size
    size_limited = False
    walk = ws.walk(target, max_depth=None if glob else depth, include_ignored=include_ignored, on_hidden=on_hidden)
    for entry in walk:
        if matcher is not None and not matcher.check_file(matchable(entry.rel[prefix:] + "/" * entry.is_dir)).include:
            continue
        total += 1
        if total <= offset or full:
            continue
        room -= len(entry.rel if glob is not None else entry.name) + 2 * entry.depth + 12
        if room < 0 and entries:
            full = size_limited = True
            continue
        entries.append(_describe(ws, entry))
        full = len(entries) >= cap
    return ListResult(
        path=target.shown,
        entries=entries,
        total=total,
        truncated=total > offset + len(entries),
        hidden_by_ignore=len(hidden),
        hidden_examples=hidden[:HIDDEN_EXAMPLES],
        glob=glob,
        offset=offset,
        size_limited=size_limited and total > offset + len(entries),
    )


def _from_index(
    ws: Workspace,
    target: Target,
    glob: str,
    regex: Regex | None,
    listing: Listing,
    page: tuple[int, int, int],
) -> ListResult:
    """A glob answered from the index's entries: one regex scan over them all, no walk."""
    offset, cap, room = page
    strip = len(target.rel) + 1 if target.rel else 0
    found = _matching(glob, regex, listing.paths, strip)
    entries: list[DirEntry] = []
    size_limited = False
    for i in found[offset : offset + cap]:
        rel = listing.paths[i].rstrip("/")
        room -= len(rel) + 2 * (rel[strip:].count("/") + 1) + 12
        if room < 0 and entries:
            size_limited = True
            break
        entries.append(_indexed(ws, rel, listing.kinds[i], rel[strip:].count("/") + 1))
    return ListResult(
        path=target.shown,
        entries=entries,
        total=len(found),
        truncated=len(found) > offset + len(entries),
        hidden_by_ignore=len(listing.hidden),
        hidden_examples=listing.hidden[:HIDDEN_EXAMPLES],
        glob=glob,
        offset=offset,
        size_limited=size_limited,
    )


def _glob_regex(glob: str) -> Regex | None:
    """The glob as one multi-line regex over newline-joined paths (gitignore semantics, as pathspec reads
    them; a negated class must not cross a newline). None: it matches nothing."""
    pattern = _glob_matcher(glob).patterns[0]
    if pattern.regex is None or not pattern.include:
        return None
    source = pattern.regex.pattern.replace("[^", "[^\\n")
    return path_regex(source if source.startswith("^") else f"^(?:{source})", multiline=True)  # `**` is '.'


def _matching(glob: str, regex: Regex | None, paths: list[str], strip: int) -> list[int]:
    """Which ``paths`` (less their first ``strip`` characters) the regex matches: a scan in C, not a call per path."""
    if regex is None or not paths:
        return []
    text = matchable("\n".join(path[strip:] for path in paths) if strip else "\n".join(paths))
    if text.count("\n") != len(paths) - 1:  # a name with a newline in it: one check per path
        spec = _glob_matcher(glob)
        return [i for i, path in enumerate(paths) if spec.check_file(matchable(path[strip:])).include]
    literal = _literal(glob)
    if literal:
        return _matching_lines_with(literal, regex, text)
    found: list[int] = []
    line = last = 0
    for match in regex.finditer(text):
        line += text.count("\n", last, match.start())
        last = match.start()
        if not found or found[-1] != line:
            found.append(line)
    return found


def _literal(glob: str) -> str:
    """The longest run of plain characters every match must contain ('' when the glob has none we trust)."""
    if "\\" in glob or "[" in glob:
        return ""
    runs = [run for run in re.split(r"[*?/]+", glob.strip()) if run]
    return max(runs, key=len) if runs and max(map(len, runs)) >= 3 else ""


def _matching_lines_with(literal: str, regex: Regex, text: str) -> list[int]:
    """The regex tried only on the lines holding ``literal``, found with str.find (a glob such as
    '**/package.json' then checks a few thousand lines instead of every path)."""
    found: list[int] = []
    line, counted, at = 0, 0, text.find(literal)
    while at != -1:
        start = text.rfind("\n", 0, at) + 1
        end = text.find("\n", at)
        end = len(text) if end == -1 else end
        line += text.count("\n", counted, start)
        counted = start
        if regex.match(text, start, end) is not None:
            found.append(line)
        at = text.find(literal, end)
    return found


def _indexed(ws: Workspace, rel: str, kind: int, depth: int) -> DirEntry:
    if kind == DIR:
        return DirEntry(path=rel, type="dir", depth=depth)
    full = os.path.join(ws.root, rel)
    if kind == LINK:
        real = os.path.realpath(full)
        inside = real == str(ws.root) or real.startswith(str(ws.root) + os.sep)
        return DirEntry(
            path=rel, type="symlink", depth=depth, target=os.path.relpath(real, ws.root) if inside else None
        )
    try:
        size = os.lstat(full).st_size
    except OSError:
        return DirEntry(path=rel, type="other", depth=depth)
    return DirEntry(path=rel, type="file" if kind == FILE else "other", size=size, depth=depth)


def _glob_matcher(glob: str) -> GitIgnoreSpec:
    if not glob.strip():
        raise InputError("empty glob: give a pattern such as '**/*.py', or leave glob out")
    return GitIgnoreSpec.from_lines([glob.strip()])


def _describe(ws: Workspace, entry: Entry) -> DirEntry:
    if entry.is_symlink:
        real = os.path.realpath(entry.dirent.path)
        inside = real == str(ws.root) or real.startswith(str(ws.root) + os.sep)
        target = os.path.relpath(real, ws.root) if inside else None
        return DirEntry(path=entry.rel, type="symlink", depth=entry.depth, target=target)
    if entry.is_dir:
        return DirEntry(path=entry.rel, type="dir", depth=entry.depth)
    try:
        st = entry.dirent.stat(follow_symlinks=False)
    except OSError:
        return DirEntry(path=entry.rel, type="other", depth=entry.depth)
    kind = "file" if entry.dirent.is_file(follow_symlinks=False) else "other"
    return DirEntry(path=entry.rel, type=kind, size=st.st_size, depth=entry.depth)
