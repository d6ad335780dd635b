"""A linter's fixes as a unified diff (`ruff check --fix --diff`), applied to the files' text by Volley's writer
instead of by the linter: all or nothing, undoable, inside the sandbox."""

from __future__ import annotations

import re
from dataclasses import dataclass

_FILE = re.compile(r"^--- (.+)\n\+\+\+ .+\n", re.MULTILINE)
_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@.*$")
_NO_NEWLINE = "\\ No newline at end of file"


@dataclass
class Hunk:
    start: int  # the first old line (1-based; for a hunk that removes nothing, the line it follows)
    count: int
    lines: list[str]  # " x\n", "-x\n", "+x\n" as the diff has them (endings included)


def parse(output: str) -> dict[str, list[Hunk]]:
    """Each file's hunks in a diff output (anything else, such as a summary line, is skipped)."""
    found: dict[str, list[Hunk]] = {}
    starts = list(_FILE.finditer(output))
    for n, m in enumerate(starts):
        body = output[m.end() : starts[n + 1].start() if n + 1 < len(starts) else len(output)]
        hunks = found.setdefault(m[1].strip(), [])
        for line in body.splitlines(keepends=True):
            head = _HUNK.match(line.rstrip("\r\n"))
            if head is not None:
                hunks.append(Hunk(int(head[1]), int(head[2] if head[2] is not None else 1), []))
            elif hunks and line[:1] in (" ", "-", "+"):
                hunks[-1].lines.append(line)
            elif hunks and line.startswith(_NO_NEWLINE) and hunks[-1].lines:
                hunks[-1].lines[-1] = hunks[-1].lines[-1].rstrip("\n")  # the line before has no newline
            elif hunks and not line.strip():
                continue
    return {path: hunks for path, hunks in found.items() if hunks}


def apply(text: str, hunks: list[Hunk]) -> str:
    """``text`` with the hunks applied; raises ValueError when a context or removed line is not the file's
    (the file changed since the diff was made)."""
    old = text.splitlines(keepends=True)
    out: list[str] = []
    at = 0  # old lines consumed
    for hunk in hunks:
        first = hunk.start - 1 if hunk.count else hunk.start
        if first < at:
            raise ValueError("hunks overlap")
        out += old[at:first]
        at = first
        for line in hunk.lines:
            kind, body = line[0], line[1:]
            if kind == "+":
                out.append(body)
                continue
            if at >= len(old) or old[at] != body:
                raise ValueError(f"line {at + 1} is not what the fix expected")
            if kind == " ":
                out.append(old[at])
            at += 1
    return "".join(out + old[at:])
