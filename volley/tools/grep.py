"""grep: ripgrep's regex engine over exactly the files list_dir shows."""

from __future__ import annotations

import functools
import os
import re
import stat
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Literal

from pathspec import GitIgnoreSpec
from pydantic import BaseModel, Field

from volley import ripgrep
from volley.budget import body_chars
from volley.concurrency import blocking, concurrently
from volley.config import CORES
from volley.errors import InputError
from volley.exact_open import read_exact
from volley.ignore import matchable
from volley.index import Cover, Since, hard_link_to_denied, index_of, visible_files
from volley.ngram.content import ContentIndex, content_index, kept_index
from volley.ngram.plan import Query, plan
from volley.ripgrep import Engine
from volley.workspace import Target, Workspace

_LINE = re.compile(r"(\d+)([:-])(.*)", re.DOTALL)
_RUST_META = set("\\.+*?()|[]{}^$#&-~")
# python-ripgrep searches a list of files on one thread, without the GIL: a long list is split across
# worker threads. Each search costs ~1 ms to set up, so a part is at least this many files.
SPLIT_MIN_FILES = 500

# A directory searched whole is walked by the rg binary less what it holds that is not visible, when that is at
# most this many paths (rg walks one folder quicker than many: .venv/lib, 0.10 s against 0.13-0.16 s for its
# 191 whole directories); else the whole directories in it are walked and its other files named.
WALK_LESS_MOST = 1_000

OutputMode = Literal["content", "files", "count"]


class GrepLine(BaseModel):
    path: str
    line: int
    text: str
    match: bool = Field(description="false for a context line")


class FileCount(BaseModel):
    path: str
    count: int


class GrepResult(BaseModel):
    pattern: str
    output_mode: OutputMode
    lines: list[GrepLine] = Field(default_factory=list, description="content mode: matches and context")
    files: list[str] = Field(default_factory=list, description="files mode: files with a match")
    counts: list[FileCount] = Field(default_factory=list, description="count mode: matching lines per file")
    total_matches: int = Field(description="matching lines found (in files mode: files)")
    total_files: int = Field(description="files with a match")
    searched_files: int
    truncated: bool
    at_least: bool = Field(False, description="the totals are lower bounds (a file hit the per-file cap)")
    offset: int = Field(0, description="matching lines (files, in files and count modes) skipped before these")
    next_offset: int | None = Field(None, description="the offset that continues where this answer stops")
    size_limited: bool = Field(False, description="cut by the answer's size limit rather than max_results")
    long_lines: int = Field(0, description="lines shown shortened around their match")

    def render(self) -> str:
        if self.output_mode == "files":
            out = list(self.files)
        elif self.output_mode == "count":
            out = [f"{c.path}:{c.count}" for c in self.counts]
        else:
            out = _render_lines(self.lines)
        if self.long_lines:
            out.append(f"[{self.long_lines} long lines shortened around the match; read_file shows a line whole]")
        if self.total_files == 0:
            out.append(f"no matches in {self.searched_files} files")
        elif self.truncated or self.offset:
            out.append(self._continuation())
        return "\n".join(out)

    def _continuation(self) -> str:
        bound = "at least " if self.at_least else ""
        if self.output_mode == "content":
            shown, unit = _match_count(self.lines), "matching lines"
            of = f"{bound}{self.total_matches} in {self.total_files} files"
        else:
            shown, unit = len(self.files or self.counts), "files"
            lines = f" ({self.total_matches} matching lines)" if self.output_mode == "count" else ""
            of = f"{self.total_files}{lines}"
        span = f"{unit} {self.offset + 1}-{self.offset + shown} of {of}" if shown else f"no {unit} past {self.offset}"
        if self.next_offset is None:
            return f"[showing {span}]"
        why = " (the answer's size limit was reached)" if self.size_limited else ""
        fewer = ", fewer context lines" if self.size_limited and any(not x.match for x in self.lines) else ""
        return (
            f"[truncated: showing {span}{why}; the rest: the same grep with offset={self.next_offset}, "
            f"or narrow it with path or glob{fewer}]"
        )


def _match_count(lines: list[GrepLine]) -> int:
    return sum(line.match for line in lines)


def _render_lines(lines: list[GrepLine]) -> list[str]:
    out = []
    previous: GrepLine | None = None
    has_context = any(not x.match for x in lines)
    for line in lines:
        gap = previous is not None and (previous.path != line.path or line.line > previous.line + 1)
        if gap and has_context:
            out.append("--")
        out.append(f"{line.path}{':' if line.match else '-'}{line.line}{':' if line.match else '-'}{line.text}")
        previous = line
    return out


async def grep(
    ws: Workspace,
    pattern: Annotated[str, Field(description="a regex (ripgrep/Rust syntax), or literal text with fixed_string")],
    path: Annotated[str, Field(description="file or directory to search, relative to the workspace root")] = ".",
    glob: Annotated[
        str | list[str] | None,
        Field(description="only files matching these globs (relative to path; '!' excludes), e.g. '*.py'"),
    ] = None,
    fixed_string: Annotated[bool, Field(description="treat pattern as literal text")] = False,
    case_insensitive: bool = False,
    context: Annotated[int, Field(ge=0, le=50, description="lines of context before and after each match")] = 0,
    before: Annotated[int | None, Field(ge=0, le=50, description="lines before each match (overrides context)")] = None,
    after: Annotated[int | None, Field(ge=0, le=50, description="lines after each match (overrides context)")] = None,
    output_mode: Annotated[
        OutputMode, Field(description="content: path:line:text; files: matching paths; count: matches per file")
    ] = "content",
    max_results: Annotated[
        int | None, Field(ge=1, description="matching lines (or files) to return (default from config: 200)")
    ] = None,
    offset: Annotated[
        int, Field(ge=0, description="skip this many matching lines (or files): a truncated answer names it")
    ] = 0,
    multiline: Annotated[bool, Field(description="let the pattern match across lines (use \\n or (?s))")] = False,
    include_ignored: Annotated[bool, Field(description="also search files hidden by ignore rules")] = False,
) -> GrepResult:
    """Search file contents with a regex, over the same files list_dir shows (ignore and deny rules applied).

    Results are sorted by path. Binary files are skipped. An invalid regex is reported with the
    regex error; use fixed_string for literal text. Long lines are shortened around the match.
    """
    limits = ws.config.limits
    cap = max_results or limits.grep_max_results
    regex = escape(pattern) if fixed_string else pattern
    if case_insensitive:
        regex = "(?i)" + regex
    globs = [glob] if isinstance(glob, str) else list(glob or [])
    query = None if include_ignored else plan(regex)
    since = await blocking(index_of(ws).since)  # before the files are proven: a swap after shows (_trusted)
    serving = query is not None and (known := kept_index(ws)) is not None and known.serves()
    files, cover = await blocking(_files_to_search, ws, path, globs, include_ignored, not serving)
    if not files and cover is None:
        return GrepResult(
            pattern=pattern, output_mode=output_mode, total_matches=0, total_files=0, searched_files=0, truncated=False
        )
    considered = cover.count if cover is not None else len(files)
    index = content_index(ws, considered) if query is not None else None
    if index is not None and query is not None:
        files, cover = await blocking(_through_index, ws, index, query, path, globs, files, cover)
    searching = functools.partial(
        _search,
        before=before if before is not None else context,
        after=after if after is not None else context,
        max_count=1 if output_mode == "files" else None if output_mode == "count" else offset + cap + 1,
        multiline=multiline,
        shown=pattern,
    )
    if cover is not None:
        by_file = await blocking(_search_cover, ws, functools.partial(searching, "rg", regex), cover, since)
    else:
        by_file = await _search_files(ws, functools.partial(searching, ws.config.search_engine, regex), files, since)
    after_lines = after if after is not None else context
    chars, locate = body_chars(limits.answer_chars), _locator(regex, multiline)
    page = Page(offset, cap, after_lines, chars, limits.grep_line_chars, locate)
    return _assemble(pattern, output_mode, by_file, considered, page)


async def matching_lines(
    ws: Workspace, regex: str, files: list[str], *, first_only: bool = False
) -> dict[str, list[GrepLine]]:
    """For other tools: the lines of ``files`` (relative paths) matching ``regex`` (first_only: one per file)."""
    if not files or (len(files) == 1 and not await blocking(_regular, f"{ws.root}/{files[0]}")):
        return {}  # (one file is a path the caller named: a FIFO there would block rg)
    since = await blocking(index_of(ws).since)
    search = functools.partial(
        _search,
        ws.config.search_engine,
        regex,
        before=0,
        after=0,
        max_count=1 if first_only else None,
        multiline=False,
        shown=regex,
    )
    return await _search_files(ws, search, files, since)


def _regular(path: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


async def _search_files(
    ws: Workspace, search: Callable[[list[str]], list[str]], files: list[str], since: Since
) -> dict[str, list[GrepLine]]:
    parts = _split(files, min(CORES, ws.config.concurrency.threads))
    found = await concurrently(
        [functools.partial(blocking, search, [f"{ws.root}/{rel}" for rel in part]) for part in parts]
    )
    chunks = [chunk for part in found for chunk in part]
    by_file = _parse(chunks, len(str(ws.root)) + 1, files[0] if len(files) == 1 else None)
    return await blocking(_trusted, ws, search, by_file, since)


def _trusted(
    ws: Workspace, search: Callable[[list[str]], list[str]], by_file: dict[str, list[GrepLine]], since: Since
) -> dict[str, list[GrepLine]]:
    """What rg found, less what it may have read elsewhere (blocking). rg follows a link swapped in for a
    path it was given; a file whose path changed since the search started is searched again from a copy
    read through ``open_exact`` (or dropped when it can no longer be), and hard links to denied files go."""
    root = str(ws.root)
    suspects = sorted(index_of(ws).changed_since(since, list(by_file)))
    if suspects:
        by_file.update(_searched_again(search, root, suspects))
        for rel in suspects:
            if not by_file[rel]:
                del by_file[rel]
    return _without_denied_content(ws, by_file) if ws.denied_inodes else by_file


def _searched_again(search: Callable[[list[str]], list[str]], root: str, rels: list[str]) -> dict[str, list[GrepLine]]:
    """Each file searched in a private copy of what ``open_exact`` reads at its path (nothing if it cannot)."""
    again: dict[str, list[GrepLine]] = {rel: [] for rel in rels}
    with tempfile.TemporaryDirectory(prefix="volley-grep-") as private:
        copies: dict[str, str] = {}
        for rel in rels:
            try:
                content = read_exact(f"{root}/{rel}")
            except OSError:
                continue
            copies[str(len(copies))] = rel
            with open(f"{private}/{len(copies) - 1}", "wb") as f:
                f.write(content)
        if not copies:
            return again
        found = search([f"{private}/{name}" for name in copies])
        only = next(iter(copies)) if len(copies) == 1 else None
        for name, lines in _parse(found, len(private) + 1, only).items():
            rel = copies[name]
            again[rel] = [line.model_copy(update={"path": rel}) for line in lines]
    return again


def _without_denied_content(ws: Workspace, by_file: dict[str, list[GrepLine]]) -> dict[str, list[GrepLine]]:
    """Files with matches, less any that is a hard link to a denied file (one stat per file with a match, where
    the walks met a denied file at all)."""
    kept = {}
    for rel, lines in by_file.items():
        try:
            st = os.stat(f"{ws.root}/{rel}")
        except OSError:
            continue
        if not hard_link_to_denied(ws, st):
            kept[rel] = lines
    return kept


def escape(text: str) -> str:
    """``text`` as a regex that matches it literally (Rust syntax)."""
    return "".join("\\" + ch if ch in _RUST_META else ch for ch in text)


def _files_to_search(
    ws: Workspace, path: str, globs: list[str], include_ignored: bool, may_cover: bool = True
) -> tuple[list[str], Cover | None]:
    """The files to search, or for a directory searched whole (``may_cover``: not when the content index will
    choose them), its cover (blocking)."""
    target = ws.resolve(path)
    if not target.is_dir:
        ws.resolve(path, "file")  # a FIFO, socket or device is refused: rg would block on it
        return [target.rel], None
    if may_cover and not globs and not include_ignored and ws.config.search_engine != "python-ripgrep":
        cover = index_of(ws).cover(target, WALK_LESS_MOST, ripgrep.exclusions_sayable)
        if cover is not None:
            return [], cover
    return _filtered(ws, target, globs, include_ignored), None


def _through_index(
    ws: Workspace,
    index: ContentIndex,
    query: Query,
    path: str,
    globs: list[str],
    files: list[str],
    cover: Cover | None,
) -> tuple[list[str], Cover | None]:
    """The files to search when the content index is ready: its candidates among the visible files below
    ``path`` (and ``globs``), as it names them where watches follow the tree, else ``files`` narrowed by a
    stat each; the files and cover as they were while it is not ready (blocking)."""
    target = ws.resolve(path)
    if not target.is_dir:
        return files, cover
    found = index.candidates(query)
    snapshot = index_of(ws).snapshot(target) if found is not None else None
    if found is not None and snapshot is not None:
        prefix = target.rel + "/" if target.rel else ""
        chosen = sorted(rel for rel in found if rel.startswith(prefix) and snapshot.holds(rel))
        chosen = _globbed(chosen, target, globs)
    else:
        every = files if cover is None else _filtered(ws, target, globs, False)
        narrowed = index.narrowed(every, query)
        if narrowed is None:
            return files, cover
        chosen = narrowed
    return chosen or (files[:1] if files else visible_files(ws, target)[:1]), None  # rg says if the regex is wrong


def _search_cover(
    ws: Workspace, search: Callable[..., list[str]], cover: Cover, since: Since
) -> dict[str, list[GrepLine]]:
    """rg walks the cover's directories itself, in parallel, with no rule of its own (--no-ignore --hidden, links
    not followed): in a whole directory every file is visible; or it walks the searched directory less what is
    not (globs). A file that appeared since the index proved itself (a new .env, a new ignored log) is dropped
    from the answer, as the index does not hold it."""
    root = str(ws.root)
    absolute = [f"{root}/{p}" if p else root for p in cover.paths]
    chunks = search([], walk=(absolute[0], cover.less)) if cover.less is not None else search(absolute)
    found = _parse(chunks, len(root) + 1, None)
    return _trusted(ws, search, {rel: lines for rel, lines in found.items() if cover.holds(rel)}, since)


def _filtered(ws: Workspace, target: Target, globs: list[str], include_ignored: bool) -> list[str]:
    return _globbed(visible_files(ws, target, include_ignored), target, globs)


def _globbed(files: list[str], target: Target, globs: list[str]) -> list[str]:
    if not globs:
        return files
    if any(not g.strip() for g in globs):
        raise InputError("empty glob: give patterns such as '*.py' or '!tests/'")
    spec = GitIgnoreSpec.from_lines(globs)
    positive = any(not g.startswith("!") for g in globs)
    prefix = len(target.rel) + 1 if target.rel else 0
    kept = []
    for rel in files:
        decision = spec.check_file(matchable(rel[prefix:])).include
        if decision or (decision is None and not positive):
            kept.append(rel)
    return kept


def _split(files: list[str], most: int) -> list[list[str]]:
    """At most ``most`` parts of similar size (every part-th file, so no part gets one big directory)."""
    count = max(1, min(most, len(files) // SPLIT_MIN_FILES))
    return [files[i::count] for i in range(count)]


def _search(
    engine: Engine,
    regex: str,
    paths: list[str],
    *,
    before: int,
    after: int,
    max_count: int | None,
    multiline: bool,
    shown: str,
    walk: tuple[str, list[str]] | None = None,
) -> list[str]:
    """``paths`` searched, or (``walk``) a folder walked less some of its paths (the rg binary)."""
    try:
        if walk is not None:
            folder, less = walk
            return ripgrep.search_walking(
                regex, folder, less, before=before, after=after, max_count=max_count, multiline=multiline
            )
        return ripgrep.search(
            engine, regex, paths, before=before, after=after, max_count=max_count, multiline=multiline
        )
    except (ValueError, InputError) as exc:
        message = str(exc).strip()
        hint = "" if "multiline" in message else "; pass fixed_string=true to search for the text literally"
        raise InputError(f"invalid regex {shown!r}: {message}{hint}") from None


def _parse(chunks: list[str], strip: int, only_file: str | None) -> dict[str, list[GrepLine]]:
    """ripgrep's heading output, one chunk per file, as lines per path (binary files are skipped)."""
    by_file: dict[str, list[GrepLine]] = {}
    for chunk in chunks:
        if only_file is not None:
            rel, body = only_file, chunk.partition("\0")[2] if "\0" in chunk else chunk
        else:
            head, _, body = chunk.partition("\0" if "\0" in chunk else "\n")  # (the rg binary's, python-ripgrep's)
            if head.endswith(")") and ": binary file matches (" in head:
                continue
            rel = head[strip:]
        lines = by_file.setdefault(rel, [])
        for raw in body.split("\n"):
            m = _LINE.fullmatch(raw)
            if m is not None:
                lines.append(GrepLine.model_construct(path=rel, line=int(m[1]), text=m[3], match=m[2] == ":"))
    return {rel: lines for rel, lines in by_file.items() if any(x.match for x in lines)}


@dataclass(frozen=True)
class Page:
    """Which part of the matches an answer shows, and how large it may be."""

    offset: int
    cap: int
    after: int
    chars: int
    line_chars: int
    locate: Callable[[str], int]


def _assemble(
    pattern: str, mode: OutputMode, by_file: dict[str, list[GrepLine]], searched: int, page: Page
) -> GrepResult:
    paths = sorted(by_file)
    counts = [FileCount(path=p, count=_match_count(by_file[p])) for p in paths]
    total = sum(c.count for c in counts)
    result = GrepResult(
        pattern=pattern,
        output_mode=mode,
        total_matches=total,
        total_files=len(paths),
        searched_files=searched,
        truncated=False,
        at_least=mode == "content" and any(c.count > page.offset + page.cap for c in counts),
        offset=page.offset,
    )
    if mode in ("files", "count"):
        shown, room = 0, page.chars
        for p in paths[page.offset : page.offset + page.cap]:
            room -= len(p) + 8
            if room < 0:
                result.size_limited = True
                break
            shown += 1
        if mode == "files":
            result.files = paths[page.offset : page.offset + shown]
        else:
            result.counts = counts[page.offset : page.offset + shown]
        end = page.offset + shown
        result.truncated = len(paths) > end
        result.next_offset = end if result.truncated else None
        return result
    blocks = [block for p in paths for block in _blocks(by_file[p], page.after)]
    shown_lines: list[GrepLine] = []
    room, shown = page.chars, 0
    for block in blocks[page.offset : page.offset + page.cap]:
        lines = [_shortened(line, page) for line in block]
        size = sum(len(x.path) + len(x.text) + 10 for x in lines)
        if size > room and shown:
            result.size_limited = True
            break
        room -= size
        shown += 1
        shown_lines += lines
        if room <= 0:
            result.size_limited = page.offset + shown < len(blocks)
            break
    result.lines = shown_lines
    result.long_lines = sum(line.text.endswith(_CUT_MARK) for line in shown_lines)
    end = page.offset + shown
    result.truncated = total > end
    result.next_offset = end if result.truncated else None
    result.at_least = result.at_least and result.truncated
    return result


_CUT_MARK = " …]"


def _blocks(lines: list[GrepLine], after: int) -> list[list[GrepLine]]:
    """A file's lines as one block per match: its context before, the match, its context after."""
    blocks: list[list[GrepLine]] = []
    last_match = 0
    pending: list[GrepLine] = []  # context lines waiting for the match they come before
    for line in lines:
        if line.match:
            blocks.append([*pending, line])
            pending, last_match = [], line.line
        elif blocks and not pending and line.line - last_match <= after:
            blocks[-1].append(line)
        else:
            pending.append(line)
    return blocks


def _shortened(line: GrepLine, page: Page) -> GrepLine:
    """The line as shown: one over ``line_chars`` is cut around its match (like rg --max-columns-preview)."""
    text = line.text
    if len(text) <= page.line_chars:
        return line
    start = page.locate(text) if line.match else 0
    lead = max(0, min(start - page.line_chars // 4, len(text) - page.line_chars))
    head = f"[{lead} chars …]" if lead else ""
    cut = f"{head}{text[lead : lead + page.line_chars]}[… {len(text) - lead - page.line_chars} chars{_CUT_MARK}"
    return GrepLine.model_construct(path=line.path, line=line.line, text=cut, match=line.match)


def _locator(regex: str, multiline: bool) -> Callable[[str], int]:
    """Where a line's first match starts, found with Python's re (0 when it cannot read the pattern)."""
    try:
        with warnings.catch_warnings():  # ("possible nested set": Python reading a Rust class such as [[:alpha:]])
            warnings.simplefilter("ignore")
            compiled = re.compile(regex, re.MULTILINE if multiline else 0)
    except (re.error, ValueError):
        return lambda text: 0

    def locate(text: str) -> int:
        found = compiled.search(text)
        return found.start() if found else 0

    return locate
