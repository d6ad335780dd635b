"""Strict arguments: a misspelled or mistyped argument is a tool error that names the fix.

The SDK drops arguments a tool does not declare, so ``max_result: 1`` silently gave the default
answer; and its type errors read as pydantic's report. Here the model is told what it got wrong.
"""

from __future__ import annotations

import difflib
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import ValidationError

# Names models bring from other tools' schemas (Claude Code's, Serena's, …), and what Volley calls them:
# the first one the tool takes is suggested.
_ALIASES = {
    "recursive": ("depth",),
    "file_path": ("path",),
    "filepath": ("path",),
    "file": ("path",),
    "relative_path": ("path",),
    "paths": ("path",),
    "files": ("path",),
    "regex": ("pattern",),
    "query": ("pattern", "name"),
    "symbol": ("name",),
    "symbol_name": ("name",),
    "name_path": ("name",),
    "name_path_pattern": ("name",),
    "body": ("include_body",),
    "ignore_case": ("case_insensitive",),
    "max_count": ("max_results",),
    "limit": ("max_results", "max_tokens"),
    "head_limit": ("max_results",),
    "max_answer_chars": ("max_results", "max_tokens"),
    "start_line": ("offset",),
    "line": ("offset",),
}


MAX_ARGUMENT_CHARS = 512 * 1024  # no path, pattern or name needs more; a bigger one is refused before any work
MAX_ERROR_CHARS = 2000  # an error names what went wrong; it never echoes a whole input back


def check_sizes(tool: str, arguments: dict[str, Any]) -> None:
    """Refuse a string argument (at any depth) over MAX_ARGUMENT_CHARS, naming it, not echoing it."""
    stack: list[tuple[str, Any]] = list(arguments.items())
    while stack:
        name, value = stack.pop()
        if isinstance(value, str) and len(value) > MAX_ARGUMENT_CHARS:
            raise ToolError(
                f"{tool}: argument {name!r} is {len(value):,} characters, over the {MAX_ARGUMENT_CHARS:,} any "
                "argument may take; pass a shorter one"
            )
        if isinstance(value, list):
            stack.extend((name, item) for item in value)
        elif isinstance(value, dict):
            stack.extend((f"{name}.{key}", item) for key, item in value.items())


def bounded_error(tool: str, message: str, cause: BaseException | None) -> str:
    """An error's text as a model sees it: never empty (the cause's kind, where it said nothing) and never
    longer than MAX_ERROR_CHARS (the middle cut, saying so)."""
    if not message.strip() or message.rstrip().endswith(":"):
        kind = type(cause).__name__ if cause is not None else "an error"
        message = f"{message.rstrip()} {kind} without a message (the server's log has the details)".strip()
    if len(message) > MAX_ERROR_CHARS:
        cut = len(message) - MAX_ERROR_CHARS
        message = f"{message[: MAX_ERROR_CHARS - 300]} … [{cut:,} characters cut] … {message[-300:]}"
    return message


def check_names(tool: str, arguments: dict[str, Any], schema: dict[str, Any]) -> None:
    """Refuse arguments the tool does not take, naming the nearest valid one and all of them."""
    valid = list(schema.get("properties", {}))
    unknown = [name for name in arguments if name not in valid]
    if not unknown:
        return
    problems = []
    for name in unknown:
        alias = next((a for a in _ALIASES.get(name.lower(), ()) if a in valid), None)
        near = [alias] if alias else difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
        problems.append(f"{name!r}" + (f" (did you mean {near[0]!r}?)" if near else ""))
    raise ToolError(f"{tool} takes no argument {', '.join(problems)}; its arguments are: {', '.join(valid) or 'none'}")


def explain(tool: str, error: ValidationError, schema: dict[str, Any]) -> str:
    """A validation error as one line per argument: what was expected, and what came."""
    lines = []
    for problem in error.errors(include_url=False):
        where = ".".join(str(part) for part in problem["loc"]) or "arguments"
        expected = _expected(schema.get("properties", {}).get(str(problem["loc"][0]) if problem["loc"] else ""))
        got = repr(problem.get("input"))
        if len(got) > 80:
            got = got[:77] + "..."
        hint = f"; expected {expected}" if expected else ""
        lines.append(f"{where}: {problem['msg']} (got {got}{hint})")
    return f"invalid arguments for {tool}: " + "; ".join(lines)


def _expected(prop: dict[str, Any] | None) -> str:
    if not prop:
        return ""
    options = prop.get("anyOf") or [prop]
    kinds = []
    for option in options:
        if "enum" in option:
            kinds.append(" | ".join(repr(v) for v in option["enum"]))
        elif option.get("type") == "array":
            kinds.append(f"a list of {option.get('items', {}).get('type', 'values')}")
        elif "type" in option:
            kinds.append(option["type"])
    return " or ".join(k for k in kinds if k != "null")
