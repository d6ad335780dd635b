"""What a change broke: the diagnostics it introduced (syntax errors: volley.edits.syntax).

Introduced diagnostics are the difference of the linter's own runs before and after, per (file, code,
message): as many are listed as the after run has more of them than the before run. Which ones are listed
is decided by position: a before-diagnostic is carried to its line in the new text through the diff, and
the after-diagnostics left without one at their line are the new ones.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from collections.abc import Callable

from volley.parsers.common import Diagnostic

LineMap = Callable[[int], int | None]


def line_map(old: str, new: str) -> LineMap:
    """Where each line of ``old`` stands in ``new`` (None: changed or removed)."""
    matcher = difflib.SequenceMatcher(None, old.splitlines(), new.splitlines(), autojunk=False)
    moved: dict[int, int] = {}
    for tag, i1, i2, j1, _ in matcher.get_opcodes():
        if tag == "equal":
            for k in range(i2 - i1):
                moved[i1 + k + 1] = j1 + k + 1
    return moved.get


def introduced(
    before: list[Diagnostic], after: list[Diagnostic], maps: dict[str, LineMap]
) -> tuple[list[Diagnostic], int, int]:
    """(the diagnostics the change introduced, how many of the after run's were there before, how many of the
    before run's are gone)."""
    groups: dict[tuple[str, str | None, str], list[Diagnostic]] = defaultdict(list)
    for d in after:
        groups[(d.path, d.code, d.message)].append(d)
    old_lines: dict[tuple[str, str | None, str], list[int | None]] = defaultdict(list)
    for d in before:
        carry = maps.get(d.path)
        old_lines[(d.path, d.code, d.message)].append(carry(d.line) if carry else d.line)
    new: list[Diagnostic] = []
    kept = fixed = 0
    for key in groups.keys() | old_lines.keys():
        now, was = groups.get(key, []), list(old_lines.get(key, []))
        extra = len(now) - len(was)
        if extra <= 0:
            kept += len(now)
            fixed -= extra
            continue
        kept += len(was)
        unmatched = []
        for d in now:
            if d.line in was:
                was.remove(d.line)
            else:
                unmatched.append(d)
        new += (unmatched + [d for d in now if d not in unmatched])[:extra]
    new.sort(key=lambda d: (d.path, d.line, d.column))
    return new, kept, fixed
