"""find_references: where a name is used in code — search finds the lines naming it, each file's parse
(cached) says which of those places are code rather than strings or comments, and in which definition."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, Field

from volley.budget import body_chars
from volley.concurrency import blocking
from volley.errors import InputError
from volley.symbols.extract import FileSymbols
from volley.symbols.source import Parsed, parse_files, source_files, too_large_note
from volley.tools.grep import GrepLine, matching_lines
from volley.workspace import Workspace

LINE_CHARS = 160
_IDENTIFIER = re.compile(r"[A-Za-z_$][\w$]*")


class Use(BaseModel):
    line: int
    text: str
    enclosing: str | None = Field(description="the qualified name of the definition the use is in")
    definition: bool = Field(description="the line defines the name")


class FileUses(BaseModel):
    path: str
    uses: list[Use]


class ReferencesResult(BaseModel):
    name: str
    files: list[FileUses]
    total_uses: int = Field(description="lines using the name in code")
    total_files: int
    in_text: int = Field(description="lines naming it only inside strings or comments, left out")
    searched_files: int
    offset: int = 0
    next_offset: int | None = None
    too_large: list[str] = Field(default_factory=list, description="files left out: over the size symbols are read at")

    def render(self) -> str:
        lines: list[str] = []
        for f in self.files:
            lines.append(f"{f.path}")
            for u in f.uses:
                where = f" in {u.enclosing}" if u.enclosing else ""
                mark = " [definition]" if u.definition else ""
                lines.append(f"  {u.line}{where}{mark}: {u.text}")
        if not self.files:
            lines.append(f"no use of {self.name!r} in code ({self.searched_files} files searched)")
        shown = sum(len(f.uses) for f in self.files)
        if self.next_offset is not None:
            span = f"{self.offset + 1}-{self.offset + shown} of {self.total_uses}"
            lines.append(f"[uses {span}; the rest: the same call with offset={self.next_offset}, or a narrower path]")
        elif self.total_uses:
            lines.append(f"[{self.total_uses} uses in {self.total_files} files]")
        if self.in_text:
            lines.append(f"[{self.in_text} lines naming it only in strings or comments left out; grep shows them]")
        if self.too_large:
            lines.append(too_large_note(self.too_large))
        return "\n".join(lines)


async def find_references(
    ws: Workspace,
    name: Annotated[str, Field(description="an identifier: a function, class, method, variable or type name")],
    path: Annotated[str, Field(description="file or directory to look in, relative to the workspace root")] = ".",
    max_results: Annotated[int, Field(ge=1, le=1000, description="lines of uses to return")] = 100,
    offset: Annotated[int, Field(ge=0, description="uses to skip (a cut answer names it)")] = 0,
) -> ReferencesResult:
    """Where a name is used as an identifier in code — not in strings or comments — grouped by file, each
    use with the definition it is in (who calls it). Python, JavaScript, TypeScript/TSX, Go, Rust, Java.
    """
    if not _IDENTIFIER.fullmatch(name):
        raise InputError(
            f"name {name!r}: give one identifier, such as 'filter' (for 'QuerySet.filter' give 'filter'; "
            "find_symbol finds definitions by qualified name)"
        )
    target = await blocking(ws.resolve, path)
    files = await blocking(source_files, ws, target)
    by_file = await matching_lines(ws, rf"\b{re.escape(name)}\b" if "$" not in name else re.escape(name), files)
    parsed = await parse_files(ws, sorted(by_file))
    page = (offset, max_results, body_chars(ws.config.limits.answer_chars))
    # telling code from text on tens of thousands of lines is work for a worker thread, not the event loop
    return await blocking(_assemble, name, by_file, parsed, page, len(files))


def _assemble(
    name: str, by_file: dict[str, list[GrepLine]], parsed: Parsed, page: tuple[int, int, int], searched: int
) -> ReferencesResult:
    offset, max_results, chars = page
    in_code: list[tuple[str, GrepLine]] = []  # light until the page is chosen: a common name has 60,000 uses
    for rel, symbols in parsed.symbols.items():
        in_code += [(rel, found) for found in by_file[rel] if _is_code(name, found, symbols)]
    in_text = sum(len(by_file[rel]) for rel in parsed.symbols) - len(in_code)
    grouped: dict[str, list[Use]] = {}
    for rel, found in in_code[offset : offset + max_results]:
        use = _use(name, found, parsed.symbols[rel])
        chars -= len(use.text) + len(use.enclosing or "") + 16 + (0 if rel in grouped else len(rel) + 1)
        if chars < 0 and grouped:
            break
        grouped.setdefault(rel, []).append(use)
    end = offset + sum(len(u) for u in grouped.values())
    return ReferencesResult(
        name=name,
        files=[FileUses(path=rel, uses=uses) for rel, uses in grouped.items()],
        total_uses=len(in_code),
        total_files=len({rel for rel, _ in in_code}),
        in_text=in_text,
        searched_files=searched,
        offset=offset,
        next_offset=end if end < len(in_code) else None,
        too_large=parsed.too_large,
    )


def _is_code(name: str, found: GrepLine, symbols: FileSymbols) -> bool:
    """Whether some mention of the name on the line is code, not inside a string or a comment."""
    text = found.text
    for m in re.finditer(rf"(?<![\w$]){re.escape(name)}(?![\w$])", text):
        if symbols.in_code(found.line, len(text[: m.start()].encode())):
            return True
    return False


def _use(name: str, found: GrepLine, symbols: FileSymbols) -> Use:
    """The line as a use: the definition it is in, and whether it defines the name."""
    text = found.text
    definitions = [d for d in symbols.definitions if d.line == found.line and d.name == name]
    enclosing = symbols.enclosing(found.line)
    where = enclosing.qualified if enclosing else None
    if definitions and enclosing is definitions[0]:
        where = definitions[0].scope or None  # the line that defines it is in what it is in
    shown = text.strip()
    if len(shown) > LINE_CHARS:
        at = max(0, shown.find(name) - LINE_CHARS // 3)
        shown = ("…" if at else "") + shown[at : at + LINE_CHARS] + "…"
    return Use(line=found.line, text=shown, enclosing=where, definition=bool(definitions))
