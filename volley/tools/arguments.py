"""Checks on what a model passes to a command line: nothing may become an option or leave the workspace."""

from __future__ import annotations

import re

from volley.errors import InputError
from volley.workspace import Workspace

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def plain_word(value: str, what: str) -> str:
    """A value passed as one argv element: not empty, not an option, no control characters."""
    if not value.strip():
        raise InputError(f"empty {what}")
    if value.startswith("-"):
        raise InputError(f"{what} {value!r} starts with '-': options cannot be passed through arguments")
    if _CONTROL.search(value):
        raise InputError(f"{what} {value!r} contains a control character")
    return value


def workspace_target(ws: Workspace, value: str, what: str) -> str:
    """A path inside the workspace, optionally with a pytest node suffix (::test) or go's /... ."""
    plain_word(value, what)
    path, sep, node = value.partition("::")
    suffix = ""
    if path.endswith("/...") or path == "...":
        path, suffix = path.removesuffix("...").rstrip("/") or ".", "/..."
    target = ws.resolve(path)
    rel = target.rel or "."
    shown = f"./{rel}" if suffix and rel != "." else rel
    return f"{shown}{suffix}{sep}{node}"
