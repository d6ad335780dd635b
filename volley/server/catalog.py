"""The tools the server exposes, with their kind of work, MCP annotations and stated limits."""

from __future__ import annotations

from mcp_types import ToolAnnotations

from volley.server.app import ToolSpec
from volley.text import human_size
from volley.tools.grep import grep
from volley.tools.list_dir import list_dir
from volley.tools.read_file import read_file
from volley.workspace import Workspace

READ_ONLY = ToolAnnotations(readOnlyHint=True, destructiveHint=False, idempotentHint=True, openWorldHint=False)


def _read_limits(ws: Workspace) -> str:
    lim = ws.config.limits
    return (
        f"{lim.read_max_lines} lines per file unless limit is given; lines cut at {lim.max_line_chars} characters; "
        f"{lim.read_max_chars} characters of text per call (the rest is named with its offset); "
        f"files over {human_size(lim.max_file_bytes)} refused; at most {lim.batch_max_calls} paths per call."
    )


def _grep_limits(ws: Workspace) -> str:
    return (
        f"{ws.config.limits.grep_max_results} matching lines (or files) unless max_results is given; "
        f"{ws.config.concurrency.call_timeout_s:g} s per call."
    )


def _list_limits(ws: Workspace) -> str:
    return f"{ws.config.limits.list_max_entries} entries unless max_entries is given; depth at most 50."


TOOL_SPECS = [
    ToolSpec(read_file, "read", READ_ONLY.model_copy(update={"title": "Read files"}), _read_limits),
    ToolSpec(grep, "search", READ_ONLY.model_copy(update={"title": "Search file contents"}), _grep_limits),
    ToolSpec(list_dir, "read", READ_ONLY.model_copy(update={"title": "List a directory"}), _list_limits),
]
