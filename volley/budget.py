"""The answer budget: how many characters one answer may take, so that every host shows it whole.

Hosts cap what reaches the model: Claude Code warns above 10,000 tokens, cuts at 25,000
(``MAX_MCP_OUTPUT_TOKENS``) and moves an answer over 50,000 characters to a file the model must read
back, unless the tool declares a larger ``_meta["anthropic/maxResultSizeChars"]`` (anthropics/claude-code
#42869); other hosts cut silently. Each tool cuts its own answer to the budget and says how to get the
rest (an offset, a narrower path); ``fit`` is the last guard for anything that still overflows. A call
inside a ``batch`` gets its share of the batch's budget (``shared``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

META_KEY = "anthropic/maxResultSizeChars"  # the declaration Claude Code reads in tools/list
NOTE_ROOM = 600  # characters kept for the notes that close an answer
_share: ContextVar[int | None] = ContextVar("answer_share", default=None)


def answer_chars(default: int) -> int:
    """The budget of the answer being made: a batch member's share, else ``default`` (the configured one)."""
    share = _share.get()
    return min(share, default) if share is not None else default


def body_chars(default: int) -> int:
    """The budget left for an answer's body once its closing notes have room."""
    chars = answer_chars(default)
    return max(chars // 2, chars - NOTE_ROOM)


@contextmanager
def shared(chars: int) -> Iterator[None]:
    """Within the block (and the tasks it starts), answers take at most ``chars``."""
    token = _share.set(chars)
    try:
        yield
    finally:
        _share.reset(token)


def fit(text: str, chars: int, how_to_continue: str) -> str:
    """``text`` as it is when it fits in ``chars``; else cut at a line boundary, with a note of what was left out."""
    if len(text) <= chars:
        return text
    note = f"\n[answer cut at {chars:,} characters: {len(text) - chars:,} more not shown; {how_to_continue}]"
    room = max(0, chars - len(note))
    head = text[:room]
    if "\n" in head:
        head = head[: head.rindex("\n")]
    return head + note


def fit_answer(text: str, configured_chars: int, tool: str) -> str:
    """A tool's rendered answer within the call's budget, as every call's answer is cut (the runtime's, and the
    read answered before the SDK is up)."""
    return fit(text, answer_chars(configured_chars), f"call {tool} on less: a narrower path or glob, or an offset")
