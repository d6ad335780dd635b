"""grep: ripgrep's regex engine over exactly the files list_dir shows."""

from __future__ import annotations

import functools
import re
from typing import Annotated, Literal

import python_ripgrep
from pathspec import GitIgnoreSpec
from pydantic import BaseModel, Field

from volley.concurrency import blocking, concurrently
from volley.config import CORES
from volley.errors import InputError
from volley.workspace import Workspace

_LINE = re.compile(r"(\d+)([:-])(.*)", re.DOTALL)
_RUST_META = set("\\.+*?()|[]{}^$#&-~")
# python-ripgrep searches a list of files on one thread, without the GIL: a long list is split across
# worker threads. Each search costs ~1 ms to set up, so a part is at least this many files.
SPLIT_MIN_FILES = 500

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

    def render(self) -> str:
        if self.output_mode == "files":
            out = list(self.files)
        elif self.output_mode == "count":
            out = [f"{c.path}:{c.count}" for c in self.counts]
        else:
            out = _render_lines(self.lines)
        if self.total_files == 0:
            out.append(f"no matches in {self.searched_files} files")
        elif self.truncated:
            bound = "at least " if self.at_least else ""
            if self.output_mode == "content":
                shown, total, unit = _match_count(self.lines), f"{bound}{self.total_matches}", "matching lines"
            else:
                shown, total, unit = len(self.files or self.counts), str(self.total_files), "files"
            out.append(
                f"[truncated: showing {shown} of {total} {unit} ({bound}{self.total_matches} matching lines in "
                f"{self.total_files} files); narrow path or glob, or raise max_results]"
            )
        return "\n".join(out)


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
    multiline: Annotated[bool, Field(description="let the pattern match across lines (use \\n or (?s))")] = False,
    include_ignored: Annotated[bool, Field(description="also search files hidden by ignore rules")] = False,
) -> GrepResult:
    """Search file contents with a regex, over the same files list_dir shows (ignore and deny rules applied).

    Results are sorted by path. Binary files are skipped. An invalid regex is reported with the
    regex error; use fixed_string for literal text.
    """
    cap = max_results or ws.config.limits.grep_max_results
    regex = _escape(pattern) if fixed_string else pattern
    if case_insensitive:
        regex = "(?i)" + regex
    globs = [glob] if isinstance(glob, str) else list(glob or [])
    files = await blocking(_files_to_search, ws, path, globs, include_ignored)
    if not files:
        return GrepResult(
            pattern=pattern, output_mode=output_mode, total_matches=0, total_files=0, searched_files=0, truncated=False
        )
    search = functools.partial(
        _search,
        regex,
        before=before if before is not None else context,
        after=after if after is not None else context,
        max_count=1 if output_mode == "files" else None if output_mode == "count" else cap + 1,
        multiline=multiline,
        shown=pattern,
    )
    parts = _split(files, min(CORES, ws.config.concurrency.threads))
    found = await concurrently(
        [functools.partial(blocking, search, [f"{ws.root}/{rel}" for rel in part]) for part in parts]
    )
    chunks = [chunk for part in found for chunk in part]
    by_file = _parse(chunks, len(str(ws.root)) + 1, files[0] if len(files) == 1 else None)
    return _assemble(pattern, output_mode, by_file, len(files), cap)


def _escape(text: str) -> str:
    return "".join("\\" + ch if ch in _RUST_META else ch for ch in text)


def _files_to_search(ws: Workspace, path: str, globs: list[str], include_ignored: bool) -> list[str]:
    target = ws.resolve(path)
    if not target.is_dir:
        return [target.rel]
    files = ws.visible_files(target, include_ignored)
    if not globs:
        return files
    if any(not g.strip() for g in globs):
        raise InputError("empty glob: give patterns such as '*.py' or '!tests/'")
    spec = GitIgnoreSpec.from_lines(globs)
    positive = any(not g.startswith("!") for g in globs)
    prefix = len(target.rel) + 1 if target.rel else 0
    kept = []
    for rel in files:
        decision = spec.check_file(rel[prefix:]).include
        if decision or (decision is None and not positive):
            kept.append(rel)
    return kept


def _split(files: list[str], most: int) -> list[list[str]]:
    """At most ``most`` parts of similar size (every part-th file, so no part gets one big directory)."""
    count = max(1, min(most, len(files) // SPLIT_MIN_FILES))
    return [files[i::count] for i in range(count)]


def _search(
    regex: str, paths: list[str], *, before: int, after: int, max_count: int | None, multiline: bool, shown: str
) -> list[str]:
    try:
        return python_ripgrep.search(
            [regex],
            paths=paths,
            heading=True,
            line_number=True,
            before_context=before or None,
            after_context=after or None,
            max_count=max_count,
            multiline=multiline or None,
        )
    except ValueError as exc:
        message = str(exc).strip()
        hint = "" if "multiline" in message else "; pass fixed_string=true to search for the text literally"
        raise InputError(f"invalid regex {shown!r}: {message}{hint}") from None


def _parse(chunks: list[str], strip: int, only_file: str | None) -> dict[str, list[GrepLine]]:
    """ripgrep's heading output, one chunk per file, as lines per path (binary files are skipped)."""
    by_file: dict[str, list[GrepLine]] = {}
    for chunk in chunks:
        if only_file is not None:
            rel, body = only_file, chunk
        else:
            head, _, body = chunk.partition("\n")
            if head.endswith(")") and ": binary file matches (" in head:
                continue
            rel = head[strip:]
        lines = by_file.setdefault(rel, [])
        for raw in body.split("\n"):
            m = _LINE.fullmatch(raw)
            if m is not None:
                lines.append(GrepLine.model_construct(path=rel, line=int(m[1]), text=m[3], match=m[2] == ":"))
    return {rel: lines for rel, lines in by_file.items() if any(x.match for x in lines)}


def _assemble(
    pattern: str, mode: OutputMode, by_file: dict[str, list[GrepLine]], searched: int, cap: int
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
        at_least=mode == "content" and any(c.count > cap for c in counts),
    )
    if mode == "files":
        result.files = paths[:cap]
        result.truncated = len(paths) > cap
    elif mode == "count":
        result.counts = counts[:cap]
        result.truncated = len(paths) > cap
    else:
        shown: list[GrepLine] = []
        matches = 0
        for p in paths:
            for line in by_file[p]:
                if line.match:
                    if matches == cap:
                        break
                    matches += 1
                shown.append(line)
            if matches == cap:
                break
        result.lines = shown
        result.truncated = total > matches
        result.at_least = result.at_least and result.truncated
    return result
