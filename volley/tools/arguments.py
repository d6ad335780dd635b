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


_DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+")


def test_target(ws: Workspace, value: str, runner: str) -> str:
    """A run_tests target: a path (with a pytest ``::`` node or go's ``/...``), or for unittest the dotted
    id its failures carry (``pkg.test_x.T.test_y``), whose module must lie in the workspace."""
    if runner == "unittest" and _DOTTED.fullmatch(value) and not (ws.root / value).exists():
        parts = value.split(".")
        for i in range(len(parts), 0, -1):  # the longest prefix that is a module or package in the workspace
            module = "/".join(parts[:i])
            for candidate in (f"{module}.py", module):
                if (ws.root / candidate).exists():
                    ws.resolve(candidate)  # inside the sandbox, not denied
                    return value
        raise InputError(f"target {value!r} names no module in the workspace (a path, or a dotted test id)")
    return workspace_target(ws, value, "target")
