"""find_symbol: where a name is defined — search narrows the workspace to the files naming it, then only
those are parsed (or read from the symbol cache)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from fnmatch import fnmatchcase
from typing import Annotated

from pydantic import BaseModel, Field

from volley.budget import body_chars
from volley.concurrency import blocking, concurrently
from volley.errors import InputError
from volley.exact_open import read_exact
from volley.symbols.extract import Definition, FileSymbols
from volley.symbols.languages import GRAMMARS, SUPPORTED, language_of
from volley.symbols.source import parse_files, source_files, too_large_note
from volley.text import numbered
from volley.tools.grep import matching_lines
from volley.workspace import Workspace

KINDS = (
    "class",
    "function",
    "method",
    "constructor",
    "interface",
    "struct",
    "enum",
    "record",
    "trait",
    "impl",
    "type",
    "module",
    "macro",
)
BODY_MAX_LINES = 300
NEAR = 5  # suggestions when nothing matched
_NAME = re.compile(r"[\w$*?]+(\.[\w$*?]+)*")


class SymbolHit(BaseModel):
    path: str
    line: int
    end_line: int
    kind: str
    name: str
    qualified: str = Field(description="with the definitions it is in: 'QuerySet.filter'")
    signature: str
    body: str | None = Field(None, description="the definition's lines (include_body), cat -n numbered")

    def render(self) -> str:
        head = f"{self.path}:{self.line}-{self.end_line} {self.kind} {self.qualified}: {self.signature}"
        return head if self.body is None else f"{head}\n{self.body}"


class FindSymbolResult(BaseModel):
    name: str
    hits: list[SymbolHit]
    total: int = Field(description="definitions found")
    candidate_files: int = Field(description="files with a line that may define it, parsed")
    searched_files: int
    offset: int = 0
    next_offset: int | None = None
    too_large: list[str] = Field(default_factory=list, description="files left out: over the size symbols are read at")
    near: list[str] = Field(
        default_factory=list,
        description="when nothing matched: definitions of the name in "
        "another case or scope, as 'qualified.name (path:line)'",
    )

    def render(self) -> str:
        lines = [h.render() for h in self.hits]
        if not self.hits:
            where = f"{self.searched_files} {SUPPORTED} files searched"
            lines.append(f"no definition of {self.name!r} ({where}); find_references or grep show where it is used")
            if self.near:
                lines.append(f"did you mean: {', '.join(self.near)}?")
        if self.next_offset is not None:
            span = f"{self.offset + 1}-{self.offset + len(self.hits)} of {self.total}"
            lines.append(
                f"[definitions {span}; the rest: the same call with offset={self.next_offset}, or a kind/path]"
            )
        if self.too_large:
            lines.append(too_large_note(self.too_large))
        return "\n".join(lines)


async def find_symbol(
    ws: Workspace,
    name: Annotated[
        str,
        Field(description="a name ('filter'), a qualified name ('QuerySet.filter') or a pattern with * and ?"),
    ],
    kind: Annotated[str | None, Field(description=f"only this kind: {', '.join(KINDS)}")] = None,
    path: Annotated[str, Field(description="file or directory to look in, relative to the workspace root")] = ".",
    include_body: Annotated[bool, Field(description="also return each definition's lines")] = False,
    max_results: Annotated[int, Field(ge=1, le=500, description="definitions to return")] = 50,
    offset: Annotated[int, Field(ge=0, description="definitions to skip (a cut answer names it)")] = 0,
) -> FindSymbolResult:
    """Find where a class, function, method or type is defined: each hit is path:first-last kind
    qualified.name: signature. Python, JavaScript, TypeScript/TSX, Go, Rust, Java.

    With include_body, each definition's text too. Much cheaper than grep plus reading the files.
    """
    matches = _matcher(name, kind)
    target = await blocking(ws.resolve, path)
    files = await blocking(source_files, ws, target)
    candidates = await _candidates(ws, name.rsplit(".", 1)[-1], files)
    parsed = await parse_files(ws, candidates)
    found = await blocking(_definitions, parsed.symbols, matches)  # every definition, for '*': off the loop
    near = await _near(ws, name, files) if not found and not any(c in name for c in "*?") else []
    chars = body_chars(ws.config.limits.answer_chars)
    hits: list[SymbolHit] = []
    for rel, d in found[offset : offset + max_results]:
        hit = SymbolHit(
            path=rel,
            line=d.line,
            end_line=d.end_line,
            kind=d.kind,
            name=d.name,
            qualified=d.qualified,
            signature=d.signature,
        )
        if include_body:
            hit.body = await blocking(_body, f"{ws.root}/{rel}", d, max(0, chars - 200))
        chars -= len(hit.render()) + 1
        if chars < 0 and hits:
            break
        hits.append(hit)
    end = offset + len(hits)
    return FindSymbolResult(
        name=name,
        hits=hits,
        total=len(found),
        candidate_files=len(candidates),
        searched_files=len(files),
        offset=offset,
        next_offset=end if end < len(found) else None,
        too_large=parsed.too_large,
        near=near,
    )


async def _near(ws: Workspace, name: str, files: list[str]) -> list[str]:
    """Definitions of the name's last part in any case and any scope: 'Queryset' finds QuerySet."""
    last = name.rsplit(".", 1)[-1]
    parsed = await parse_files(ws, await _candidates(ws, last, files, ignore_case=True))
    same = await blocking(_definitions, parsed.symbols, lambda d: d.name.lower() == last.lower())
    wanted = name.lower()
    same.sort(key=lambda hit: (hit[1].qualified.lower() != wanted, not hit[1].qualified.lower().endswith(wanted)))
    return [f"{d.qualified} ({rel}:{d.line})" for rel, d in same[:NEAR]]


async def _candidates(ws: Workspace, last: str, files: list[str], ignore_case: bool = False) -> list[str]:
    """The files with a line that may define the name, searched per language with its own regex."""
    word = "".join(r"[\w$]*" if c == "*" else r"[\w$]" if c == "?" else re.escape(c) for c in last)
    word = f"(?i:{word})" if ignore_case else word
    by_regex: dict[str, list[str]] = {}
    for rel in files:
        language = language_of(rel)
        if language is not None:
            by_regex.setdefault(GRAMMARS[language].defining_line.replace("{name}", word), []).append(rel)
    jobs = [functools.partial(matching_lines, ws, regex, group, first_only=True) for regex, group in by_regex.items()]
    found = await concurrently(jobs)
    return sorted(rel for part in found for rel in part)


def _definitions(files: dict[str, FileSymbols], matches: Callable[[Definition], bool]) -> list[tuple[str, Definition]]:
    return [(rel, d) for rel, symbols in files.items() for d in symbols.definitions if matches(d)]


def _matcher(name: str, kind: str | None) -> Callable[[Definition], bool]:
    if not _NAME.fullmatch(name):
        raise InputError(
            f"name {name!r}: give an identifier ('filter'), a qualified name ('QuerySet.filter') or a pattern "
            "('get_*'); for any other text use grep"
        )
    if kind is not None and kind not in KINDS:
        raise InputError(f"kind {kind!r}: one of {', '.join(KINDS)}")
    qualified = "." in name

    def matches(d: Definition) -> bool:
        if kind is not None and d.kind != kind:
            return False
        if not qualified:
            return fnmatchcase(d.name, name)
        return fnmatchcase(d.qualified, name) or fnmatchcase(d.qualified, f"*.{name}")

    return matches


def _body(path: str, d: Definition, chars: int) -> str:
    """The definition's lines, numbered, cut at BODY_MAX_LINES or ``chars`` with the way to the rest."""
    try:
        lines = read_exact(path).decode("utf-8", errors="replace").splitlines()[d.line - 1 : d.end_line]
    except OSError:
        return f"[the file was moved or replaced since it was parsed: read_file it at line {d.line}]"
    shown: list[str] = []
    for line in lines[:BODY_MAX_LINES]:
        chars -= len(line) + 8
        if chars < 0:
            break
        shown.append(line)
    text = numbered(shown, d.line).rstrip("\n")
    if len(shown) < len(lines):
        text += f"\n[{len(lines) - len(shown)} more lines: read_file offset={d.line + len(shown)}]"
    return text
