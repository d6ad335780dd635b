"""read_file: one file or many, a window of numbered lines each."""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from typing import Annotated, BinaryIO

from pydantic import BaseModel, Field

from volley.budget import body_chars
from volley.cache import LINES, MAX_FILE_BYTES, LineCache
from volley.concurrency import blocking
from volley.errors import ContentError, InputError, VolleyError
from volley.exact_open import Moved, NotRegular, open_exact
from volley.index import hard_link_to_denied
from volley.stat_keys import version_of
from volley.text import SNIFF_BYTES, binary_kind, human_size, numbered, sniff_encoding
from volley.workspace import Target, Workspace

NOT_READ = "this call's answer reached its size limit"
CHUNK = 1 << 20
NUMBER_WIDTH = 8  # "%6d\t" before each line, "\n" after


class FileText(BaseModel):
    """One file's window of lines, or why it could not be read."""

    path: str
    error: str | None = Field(None, description="why this file was not read (the others still were)")
    content: str = Field("", description="the lines read, without line numbers")
    start_line: int = Field(0, description="1-based number of the first line in content")
    end_line: int = Field(0, description="number of the last line in content (0 when empty)")
    total_lines: int = 0
    next_offset: int | None = Field(None, description="offset to continue from when cut short")
    cut_lines: int = Field(0, description="lines shortened to the line-length limit")
    size: int = 0
    version: str = Field(
        default="", description="the file's version as read: edit(versions=...) refuses it once changed"
    )


class ReadResult(BaseModel):
    files: list[FileText]

    def render(self) -> str:
        if len(self.files) == 1:
            return _render_one(self.files[0], header=False)
        unread = [f.path for f in self.files if f.error == NOT_READ]
        out = "\n".join(_render_one(f, header=True) for f in self.files if f.error != NOT_READ)
        if unread:
            out += f"\n[{len(unread)} files not read: {NOT_READ}; the rest: read_file(path={json.dumps(unread)})]"
        return out


def _render_one(f: FileText, header: bool) -> str:
    if f.error is not None:
        return f"==> {f.path} <==\nerror: {f.error}\n" if header else f"error: {f.error}"
    lines = f.content.split("\n")[: f.end_line - f.start_line + 1] if f.end_line else []
    body = numbered(lines, f.start_line)
    if f.total_lines == 0:
        status = "(empty file)"
    elif f.end_line == 0:
        status = f"(no lines shown of {f.total_lines})"
    else:
        status = f"(lines {f.start_line}-{f.end_line} of {f.total_lines})"
    if f.next_offset is not None:
        status = status[:-1] + f"; more follows: call read_file again with offset={f.next_offset})"
    if f.cut_lines:
        status += f" ({f.cut_lines} long lines were cut; grep finds text inside them)"
    if f.version:
        status += f" [version {f.version}]"
    return f"==> {f.path} {status} <==\n{body}" if header else f"{body}{status}"


@dataclass(slots=True)
class _Window:
    lines: list[str]
    total: int
    cut: int
    size: int
    version: str = ""


def _versioned(window: _Window, st: os.stat_result) -> _Window:
    window.version = version_of(st)
    return window


async def read_file(
    ws: Workspace,
    path: Annotated[
        str | list[str],
        Field(description="a file path relative to the workspace root, or a list of paths read in one call"),
    ],
    offset: Annotated[int, Field(ge=1, description="1-based line to start from")] = 1,
    limit: Annotated[int | None, Field(ge=1, description="lines per file (default from config: 2000)")] = None,
) -> ReadResult:
    """Read text files as numbered lines (like `cat -n`): one path, or a list read in one call.

    Each file reports its total line count and, when cut short, the offset to continue from. Lines
    longer than the line limit are cut with a marker. Binary files are refused with their size and
    type. One failing path fails only its own entry. Ignored files can be read when named.
    """
    return await blocking(read_now, ws, path, offset, limit)


def read_now(ws: Workspace, path: str | list[str], offset: int = 1, limit: int | None = None) -> ReadResult:
    """read_file's work (blocking), in one worker thread: also what answers a read before the SDK is up
    (volley/server/early_calls.py)."""
    paths = [path] if isinstance(path, str) else list(path)
    if not paths:
        raise InputError("no path given: pass a path, or a list of paths")
    limits = ws.config.limits
    if len(paths) > limits.batch_max_calls:
        raise InputError(f"{len(paths)} paths in one call; the limit is {limits.batch_max_calls}: split them")
    count = limit or limits.read_max_lines
    budget = min(limits.read_max_chars, body_chars(limits.answer_chars))
    if isinstance(path, str):  # one file: its failure is the call's failure
        return ReadResult(files=_apply_budget([_entry(ws, path, offset, count, True)], budget))
    # One thread reads them all, in order. Several threads would overlap a slow disk's waits, but over cached
    # files they mostly contend for the GIL: measured on 50 small files, 4 threads took 2.7x the time of one
    # warm, and saved ~5% cold (page cache dropped).
    return ReadResult(files=_apply_budget([_entry(ws, p, offset, count) for p in paths], budget))


def _entry(ws: Workspace, path: str, offset: int, count: int, strict: bool = False) -> FileText:
    """One file's entry (blocking); with ``strict`` its failure is raised, else recorded in the entry."""
    try:
        target, window = _resolve_and_read(ws, path, offset, count)
        if offset > 1 and offset > window.total:
            raise InputError(f"offset {offset} is past the end of '{path}' ({window.total} lines)")
    except VolleyError as exc:
        if strict:
            raise
        return FileText(path=path, error=str(exc))
    end = offset + len(window.lines) - 1 if window.lines else 0
    more = end + 1 if window.lines and end < window.total else None
    return FileText(
        path=target.rel,
        content="\n".join(window.lines),
        start_line=offset if window.lines else 0,
        end_line=end,
        total_lines=window.total,
        next_offset=more,
        cut_lines=window.cut,
        size=window.size,
        version=window.version,
    )


def _resolve_and_read(ws: Workspace, path: str, offset: int, count: int) -> tuple[Target, _Window]:
    target = ws.resolve(path, kind="file")
    return target, _read_window(target.abs, path, offset, count, ws)


def _read_window(abs_path: str, shown: str, offset: int, count: int, ws: Workspace) -> _Window:
    limits = ws.config.limits
    try:
        fd = open_exact(abs_path)  # a FIFO or a link swapped in after the check is refused, never followed
        with open(fd, "rb") as f:
            st = os.fstat(fd)
            if hard_link_to_denied(ws, st):
                raise ContentError(f"access denied: '{shown}' is another name (a hard link) for a denied file")
            size = st.st_size
            if size > limits.max_file_bytes:
                raise ContentError(
                    f"'{shown}' is too large ({human_size(size)}; the limit is "
                    f"{human_size(limits.max_file_bytes)}): use grep to find what you need in it"
                )
            cacheable = LineCache.cacheable(st)
            cached = LINES.get(abs_path, st) if cacheable else None
            if cached is not None:
                return _versioned(_window_of(cached, offset, count, limits.max_line_chars, size), st)
            head = f.read(SNIFF_BYTES)
            kind = binary_kind(head, shown)
            if kind is not None:
                raise ContentError(f"'{shown}' is a binary file ({kind}, {human_size(size)}); it has no text to show")
            encoding, bom = sniff_encoding(head)
            if size > MAX_FILE_BYTES:  # only the window is decoded, whatever the encoding (a 500 MB UTF-16 file)
                f.seek(bom)
                if encoding == "utf-8":
                    return _versioned(_scan_lines(f, offset, count, limits.max_line_chars, size), st)
                return _versioned(_scan_decoded(f, encoding, offset, count, limits.max_line_chars, size), st)
            lines = _split_lines((head + f.read())[bom:].decode(encoding, errors="replace"))
            if cacheable:
                LINES.put(abs_path, st, lines)
            return _versioned(_window_of(lines, offset, count, limits.max_line_chars, size), st)
    except PermissionError:
        raise ContentError(f"'{shown}' cannot be read: permission denied") from None
    except FileNotFoundError:
        raise ContentError(f"'{shown}' disappeared while being read") from None
    except IsADirectoryError:
        raise ContentError(f"'{shown}' is a directory: use list_dir") from None
    except NotRegular:
        raise ContentError(f"'{shown}' is not a regular file: it cannot be read") from None
    except Moved:
        raise ContentError(f"'{shown}' was replaced by a link while being read: read it again") from None
    except OSError as exc:
        raise ContentError(f"'{shown}' cannot be read: {exc.strerror}") from None


def _scan_lines(f: BinaryIO, offset: int, count: int, max_chars: int, size: int) -> _Window:
    """Decode only the lines in the window; count the rest in binary. Memory stays bounded by max_chars."""
    lines: list[str] = []
    cut = 0
    number = 0
    cap = max_chars * 4 + 1  # enough bytes for max_chars characters of UTF-8
    ends_with_newline = True
    while number < offset - 1 + count:
        raw = f.readline(cap)
        if not raw:
            break
        number += 1
        overlong = len(raw) == cap and not raw.endswith(b"\n")
        ends_with_newline = _skip_rest_of_line(f) if overlong else raw.endswith(b"\n")
        if number < offset:
            continue
        text = raw.decode("utf-8", errors="replace").removesuffix("\n").removesuffix("\r")
        if len(text) > max_chars or overlong:
            text = text[:max_chars] + " … [line cut]"
            cut += 1
        lines.append(text)
    rest_newlines = 0
    tail = b""
    while chunk := f.read(CHUNK):
        rest_newlines += chunk.count(b"\n")
        tail = chunk
    if tail:
        ends_with_newline = tail.endswith(b"\n")
    total = number + rest_newlines + (0 if ends_with_newline or not tail else 1)
    return _Window(lines, total, cut, size)


def _scan_decoded(f: BinaryIO, encoding: str, offset: int, count: int, max_chars: int, size: int) -> _Window:
    """_scan_lines for a file in another encoding (UTF-16): decoded as a stream, the window kept, the rest's
    lines counted a chunk at a time; memory stays bounded."""
    reader = io.TextIOWrapper(f, encoding=encoding, errors="replace", newline="\n")  # split on \n alone
    try:
        lines: list[str] = []
        cut = number = 0
        ends_with_newline = True
        while number < offset - 1 + count:
            raw = reader.readline(max_chars + 1)
            if not raw:
                break
            number += 1
            overlong = len(raw) > max_chars and not raw.endswith("\n")
            if overlong:
                while (more := reader.readline(CHUNK)) and not more.endswith("\n"):
                    pass
                ends_with_newline = more.endswith("\n")
            else:
                ends_with_newline = raw.endswith("\n")
            if number < offset:
                continue
            text = raw.removesuffix("\n").removesuffix("\r")
            if overlong or len(text) > max_chars:
                text = text[:max_chars] + " … [line cut]"
                cut += 1
            lines.append(text)
        rest_newlines, tail = 0, ""
        while chunk := reader.read(CHUNK):
            rest_newlines += chunk.count("\n")
            tail = chunk
        if tail:
            ends_with_newline = tail.endswith("\n")
        total = number + rest_newlines + (0 if ends_with_newline or not tail else 1)
        return _Window(lines, total, cut, size)
    finally:
        reader.detach()  # the file is closed by its owner


def _skip_rest_of_line(f: BinaryIO) -> bool:
    """Skip to the end of an over-long line; True when it ended with a newline."""
    while chunk := f.readline(CHUNK):
        if chunk.endswith(b"\n"):
            return True
    return False


def _split_lines(text: str) -> list[str]:
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    return lines[:-1] if lines and lines[-1] == "" else lines


def _window_of(all_lines: list[str], offset: int, count: int, max_chars: int, size: int) -> _Window:
    window = all_lines[offset - 1 : offset - 1 + count]
    if max(map(len, window), default=0) <= max_chars:  # the usual case, at C speed
        return _Window(window, len(all_lines), 0, size)
    cut = sum(len(line) > max_chars for line in window)
    window = [line if len(line) <= max_chars else line[:max_chars] + " … [line cut]" for line in window]
    return _Window(window, len(all_lines), cut, size)


def _apply_budget(files: list[FileText], budget: int) -> list[FileText]:
    """Cut the call's answer to ``budget`` characters as rendered (numbered lines, headers), at line
    boundaries, in order; a file past the budget is named with the offset to read it from."""
    kept = []
    budget -= sum(len(f.path) + 4 for f in files) + 120  # room to name every file left unread
    for f in files:
        budget -= 60  # its header or status line
        if f.error is not None or not f.content:
            kept.append(f)
            continue
        if budget <= 0:
            kept.append(
                f.model_copy(
                    update={
                        "content": "",
                        "start_line": 0,
                        "end_line": 0,
                        "next_offset": f.start_line,
                        "error": NOT_READ,
                    }
                )
            )
            continue
        lines = f.content.split("\n")
        size = len(f.content) + NUMBER_WIDTH * len(lines)
        if size <= budget:
            budget -= size
            kept.append(f)
            continue
        room, shown = budget, 0
        for line in lines:
            room -= len(line) + NUMBER_WIDTH
            if room < 0:
                break
            shown += 1
        if shown == 0:  # one line longer than what is left: show its start
            lines, shown = [lines[0][: max(200, budget - NUMBER_WIDTH)] + " … [line cut]"], 1
        budget = 0
        end = f.start_line + shown - 1
        kept.append(f.model_copy(update={"content": "\n".join(lines[:shown]), "end_line": end, "next_offset": end + 1}))
    return kept
