"""outline: a file's (or a directory's) definitions as a compact tree, far cheaper than reading the file."""

from __future__ import annotations

import os
from typing import Annotated

from pydantic import BaseModel, Field

from volley.budget import body_chars
from volley.concurrency import blocking
from volley.errors import DeniedError, InputError
from volley.symbols.extract import Definition
from volley.symbols.languages import SUPPORTED, require_language
from volley.symbols.source import MAX_SOURCE_BYTES, Parsed, parse_files, source_files, too_large_note
from volley.text import human_size
from volley.workspace import Workspace


class Symbol(BaseModel):
    name: str
    kind: str
    line: int
    end_line: int
    signature: str
    depth: int = Field(description="0 at the top of the file, 1 inside a class, …")

    def render(self, indent: str) -> str:
        lines = f"{self.line}-{self.end_line}" if self.end_line > self.line else str(self.line)
        return f"{indent}{'  ' * self.depth}{lines} {self.signature}"


class FileOutline(BaseModel):
    path: str
    language: str
    symbols: list[Symbol]
    more: int = Field(0, description="definitions of this file past the answer's size limit")


class OutlineResult(BaseModel):
    path: str
    files: list[FileOutline]
    total_files: int = Field(description="files in supported languages below path")
    depth: int | None
    offset: int = Field(0, description="files skipped before these (directories)")
    next_offset: int | None = Field(None, description="the offset that continues where this answer stops")
    too_large: list[str] = Field(default_factory=list, description=f"files over {human_size(MAX_SOURCE_BYTES)}")

    def render(self) -> str:
        single = len(self.files) == 1 and self.files[0].path == self.path
        lines: list[str] = []
        for f in self.files:
            if single:
                lines.append(f"{f.path} ({f.language}, {len(f.symbols) + f.more} definitions)")
            else:
                lines.append(f"{f.path}" + ("" if f.symbols else "  (no definitions)"))
            indent = "" if single else "  "
            lines += [s.render(indent) for s in f.symbols]
            if f.more:
                lines.append(f"{indent}[{f.more} more definitions: outline path={f.path!r} with depth=1, or read_file]")
        if not self.files:
            lines.append(f"{self.path}: no {SUPPORTED} files here")
        if self.next_offset is not None:
            lines.append(
                f"[files {self.offset + 1}-{self.next_offset} of {self.total_files}; the rest: the same call with "
                f"offset={self.next_offset}, or outline a subdirectory]"
            )
        if self.too_large:
            lines.append(too_large_note(self.too_large))
        lines.append("[lines are first-last; read_file path offset=first limit=last-first+1 reads one definition]")
        return "\n".join(lines)


async def outline(
    ws: Workspace,
    path: Annotated[str, Field(description="a file or a directory, relative to the workspace root")],
    depth: Annotated[
        int | None,
        Field(ge=1, le=20, description="levels of nesting shown (1 = top level); default: all for a file, 2 below"),
    ] = None,
    offset: Annotated[int, Field(ge=0, description="for a directory: files to skip (a cut answer names it)")] = 0,
) -> OutlineResult:
    """The definitions in a file — classes, functions, methods, types, with their signatures, nesting and
    line ranges — or in every file below a directory. Python, JavaScript, TypeScript/TSX, Go, Rust, Java.

    Far cheaper than reading a file to see its shape: read just the lines of the definition you need after.
    """
    target = await blocking(ws.resolve, path)
    if not target.is_dir:
        require_language(target.rel)
    rels = await blocking(source_files, ws, target)
    chosen = rels[offset : offset + _MAX_FILES_PER_CALL]
    parsed = await parse_files(ws, chosen)
    if not target.is_dir and parsed.denied:
        raise DeniedError(f"access denied: '{target.rel}' is another name (a hard link) for a denied file")
    if not target.is_dir and parsed.unreadable:
        raise InputError(f"{target.rel} is not a regular file that can be read (a FIFO, a socket, a device?)")
    if not target.is_dir and parsed.too_large:
        size = human_size(os.path.getsize(target.abs))
        raise InputError(
            f"{target.rel} is {size}, over the {human_size(MAX_SOURCE_BYTES)} the symbol tools parse (generated or "
            "minified code, most likely); grep it, or read_file a range"
        )
    limit = depth or (None if not target.is_dir else 2)
    chars = body_chars(ws.config.limits.answer_chars)
    return await blocking(_assemble, target.shown, chosen, parsed, len(rels), limit, offset, chars)


_MAX_FILES_PER_CALL = 2000  # a directory outline reads at most this many files per call (the rest: offset)


def _assemble(
    path: str, rels: list[str], parsed: Parsed, total: int, depth: int | None, offset: int, chars: int
) -> OutlineResult:
    """Files in order while the budget lasts; a single file over it shows its first definitions."""
    files: list[FileOutline] = []
    stop = len(rels)
    for i, rel in enumerate(rels):
        symbols = parsed.symbols.get(rel)
        if symbols is None:
            continue  # too large or gone
        kept = [_symbol(d) for d in symbols.definitions if depth is None or d.depth < depth]
        sizes = [len(s.signature) + 12 + 2 * s.depth for s in kept]
        if len(rel) + 3 + sum(sizes) > chars:
            stop = i
            if not files:  # not even one file fits: its first definitions, and how many more
                fitting = 0
                while fitting < len(kept) and sum(sizes[: fitting + 1]) <= chars:
                    fitting += 1
                files.append(FileOutline(path=rel, language=symbols.language, symbols=kept[:fitting]))
                files[-1].more = len(kept) - fitting
                stop = i + 1
            break
        chars -= len(rel) + 3 + sum(sizes)
        files.append(FileOutline(path=rel, language=symbols.language, symbols=kept))
    done = offset + stop
    return OutlineResult(
        path=path,
        files=files,
        total_files=total,
        depth=depth,
        offset=offset,
        next_offset=done if done < total else None,
        too_large=parsed.too_large,
    )


def _symbol(d: Definition) -> Symbol:
    return Symbol(name=d.name, kind=d.kind, line=d.line, end_line=d.end_line, signature=d.signature, depth=d.depth)
