"""Where an edit's ``old`` text stands in a file, found in steps from strict to loose, each named in the answer.

1. exact;
2. line endings normalised (the file's CRLF for the client's LF, or the reverse);
3. trailing whitespace ignored, line by line;
4. indentation shifted as a block (``new`` is then re-indented the same way).

A loose step matches whole lines only, and only when no stricter step matched. No match: the closest region,
with its lines and what differs. Several matches where one was asked: each match's line.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from volley.errors import InputError

STEPS = ("exact", "line endings", "trailing whitespace", "indentation")
_INDENT = re.compile(r"[ \t]*")
_DIFF_CHARS = 1500  # what differs, shown for the closest region


@dataclass(frozen=True)
class Replacement:
    start: int  # character offsets in the file's text
    end: int
    new: str  # what goes there, in the file's line endings and indentation


@dataclass(frozen=True)
class Found:
    step: str
    replacements: list[Replacement]


def find(text: str, old: str, new: str, newline: str, *, replace_all: bool, shown: str) -> Found:
    """Where ``old`` goes in ``text`` (a file with line ending ``newline``) and what replaces it; raises
    InputError naming the closest region, or every match when one was asked and there are several."""
    if not old:
        raise InputError(f"{shown}: `old` is empty: give the text to replace (or use create/overwrite)")
    for step in STEPS:
        spans = _spans(step, text, old, newline)
        if not spans:
            continue
        if len(spans) > 1 and not replace_all:
            lines = ", ".join(str(line_of(text, start)) for start, _, _ in spans[:20])
            raise InputError(
                f"{shown}: `old` matches {len(spans)} places ({step} match) at lines {lines}: add surrounding lines "
                "to `old` to pick one, or set replace_all=true to change every one"
            )
        return Found(
            step, [Replacement(s, e, _adapted(step, text[s:e], old, new, newline, block)) for s, e, block in spans]
        )
    raise InputError(f"{shown}: `old` was not found. {closest(text, old)}")


def line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _spans(step: str, text: str, old: str, newline: str) -> list[tuple[int, int, str]]:
    """Non-overlapping (start, end, matched-block-indent) of ``old`` in ``text`` under a step."""
    if step == "exact":
        return [(s, s + len(old), "") for s in _occurrences(text, old)]
    if step == "line endings":
        other = old.replace("\r\n", "\n") if newline == "\n" else old.replace("\r\n", "\n").replace("\n", "\r\n")
        if other == old:
            return []
        return [(s, s + len(other), "") for s in _occurrences(text, other)]
    return _line_spans(text, old, dedent=step == "indentation")


def _occurrences(text: str, old: str) -> list[int]:
    found, start = [], text.find(old)
    while start != -1:
        found.append(start)
        start = text.find(old, start + len(old))
    return found


def _line_spans(text: str, old: str, *, dedent: bool) -> list[tuple[int, int, str]]:
    """Whole-line windows of ``text`` equal to ``old``'s lines with trailing whitespace ignored (and, with
    ``dedent``, each side's common indentation removed): (start, end, the window's own indentation)."""
    wanted = old.replace("\r\n", "\n").split("\n")
    ends_line = wanted[-1] == ""
    if ends_line:
        wanted = wanted[:-1]
    if not wanted or all(not w.strip() for w in wanted):
        return []
    wanted_indent = _common_indent(wanted) if dedent else ""
    key = [w[len(wanted_indent) :].rstrip() if w.strip() else "" for w in wanted]
    lines = text.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    found: list[tuple[int, int, str]] = []
    i = 0
    while i + len(wanted) <= len(lines):
        window = [line.rstrip("\r\n") for line in lines[i : i + len(wanted)]]
        indent = _common_indent(window) if dedent else ""
        if (not dedent or indent != wanted_indent) and [
            w[len(indent) :].rstrip() if w.strip() else "" for w in window
        ] == key:
            last = lines[i + len(wanted) - 1]
            end = starts[i + len(wanted)] if ends_line else starts[i + len(wanted) - 1] + len(last.rstrip("\r\n"))
            found.append((starts[i], end, indent))
            i += len(wanted)
        else:
            i += 1
    return found


def _common_indent(lines: list[str]) -> str:
    indents = [_INDENT.match(line).group() for line in lines if line.strip()]  # type: ignore[union-attr]
    if not indents:
        return ""
    shortest = min(indents, key=len)
    while not all(i.startswith(shortest) for i in indents):
        shortest = shortest[:-1]
    return shortest


def _adapted(step: str, matched: str, old: str, new: str, newline: str, block_indent: str) -> str:
    """``new`` as it is to stand in the file: re-indented as the region is (indentation step), LF made the
    region's CRLF, and CRLF made LF where ``old`` was sent with CRLF for an LF file (line endings step); line
    endings sent on purpose (CRLF into an LF file by any other step) are kept."""
    if step == "indentation":
        old_indent = _common_indent(old.replace("\r\n", "\n").split("\n"))
        new = "".join(_reindent_line(line, old_indent, block_indent) for line in new.splitlines(keepends=True))
    region_newline = "\r\n" if "\r\n" in matched else newline if "\n" not in matched else "\n"
    if region_newline == "\r\n" and "\r\n" not in new:
        new = new.replace("\n", "\r\n")
    elif region_newline == "\n" and step == "line endings":
        new = new.replace("\r\n", "\n")
    return new


def _reindent_line(line: str, old_indent: str, indent: str) -> str:
    body = line.rstrip("\r\n")
    return _reindent(body, old_indent, indent) + line[len(body) :]


def _reindent(line: str, old_indent: str, indent: str) -> str:
    """A line of ``new`` moved as the block moved: by what the file's indentation adds to or takes from the
    indentation ``old`` was sent with (a line less indented than the block, such as a C `#if`, moves too)."""
    if not line:
        return line
    if indent.startswith(old_indent):
        return indent[len(old_indent) :] + line
    if old_indent.startswith(indent):
        cut = len(old_indent) - len(indent)
        lead = len(line) - len(line.lstrip(" \t"))
        return line[min(cut, lead) :]
    if line.startswith(old_indent):
        return indent + line[len(old_indent) :]
    return line if not line.strip() else indent + line.lstrip(" \t")


def closest(text: str, old: str) -> str:
    """The region of ``text`` most like ``old`` (as many lines), with its line numbers and a diff of the two."""
    from rapidfuzz import fuzz  # only when an edit misses: not at every server's start

    wanted = old.replace("\r\n", "\n").strip("\n").split("\n")
    lines = text.replace("\r\n", "\n").split("\n")
    if not text.strip():
        return "The file is empty."
    size = min(len(wanted), len(lines))
    probe = "\n".join(wanted)
    best, best_score = 0, -1.0
    for i in range(0, len(lines) - size + 1):
        score = fuzz.ratio(probe, "\n".join(lines[i : i + size]), score_cutoff=best_score)
        if score > best_score:
            best, best_score = i, score
    region = lines[best : best + size]
    diff = "\n".join(difflib.unified_diff(wanted, region, "old (sent)", "file", lineterm="", n=1))
    if len(diff) > _DIFF_CHARS:
        diff = diff[:_DIFF_CHARS] + "\n… [diff cut]"
    return (
        f"The closest region is lines {best + 1}-{best + size} ({best_score:.0f}% alike); what differs:\n{diff}\n"
        "Read those lines again and send them exactly as they are."
    )
