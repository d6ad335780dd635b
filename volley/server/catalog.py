"""The tools the server exposes, with their kind of work, MCP annotations and stated limits."""

from __future__ import annotations

import dataclasses

from mcp_types import ToolAnnotations

from volley.budget import body_chars
from volley.server.spec import ToolSpec
from volley.symbols.source import MAX_SOURCE_BYTES
from volley.text import human_size
from volley.tools.edit import edit, undo_edit
from volley.tools.find_references import find_references
from volley.tools.find_symbol import find_symbol
from volley.tools.grep import grep
from volley.tools.list_dir import list_dir
from volley.tools.outline import outline
from volley.tools.read_file import read_file
from volley.tools.repo_map import repo_map
from volley.tools.run_linter import run_linter
from volley.tools.run_tests import run_tests, test_results
from volley.tools.toolchains_info import fix_lint, list_toolchains, run_output
from volley.workspace import Workspace

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
RUNS_CODE = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False)
# run_linter runs executables and configs that live in the workspace (node_modules/.bin/eslint, .venv/bin/ruff,
# mypy plugins, a [lint] command): it means to change nothing, but cannot promise it. See SECURITY.md.
RUNS_WORKSPACE_TOOLS = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=False
)
CHANGES_FILES = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
)
# edit overwrites and deletes files, and the same call twice does not do the same (the second finds no `old`)
EDITS_FILES = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=False)
WRITERS = ("edit", "undo_edit", "fix_lint")  # what a read-only server does not list


def _read_limits(ws: Workspace) -> str:
    lim = ws.config.limits
    return (
        f"{lim.read_max_lines} lines per file unless limit is given; lines cut at {lim.max_line_chars} characters; "
        f"{min(lim.read_max_chars, body_chars(lim.answer_chars)):,} characters of text per call (the rest is "
        "named with its offset); "
        f"files over {human_size(lim.max_file_bytes)} refused; at most {lim.batch_max_calls} paths per call."
    )


def _grep_limits(ws: Workspace) -> str:
    return (
        f"{ws.config.limits.grep_max_results} matching lines (or files) unless max_results is given; "
        f"{ws.config.concurrency.call_timeout_s:g} s per call."
    )


def _list_limits(ws: Workspace) -> str:
    return f"{ws.config.limits.list_max_entries} entries unless max_entries is given; depth at most 50."


def _lint_limits(ws: Workspace) -> str:
    return (
        f"{ws.config.lint.timeout_s:g} s per linter; {ws.config.concurrency.linters} linter runs at once; "
        "200 diagnostics listed (all counted)."
    )


def _test_limits(ws: Workspace) -> str:
    return (
        f"{ws.config.test.timeout_s:g} s unless timeout_s is given (at most 3600); {ws.config.concurrency.tests} "
        f"test run(s) at once; 20 failures listed (all counted); {ws.config.limits.output_head_chars} characters "
        "of raw output shown from each end."
    )


def _symbol_limits(ws: Workspace) -> str:
    return (
        f"files over {human_size(MAX_SOURCE_BYTES)} are left out; answers cut at the answer size limit "
        f"({ws.config.limits.answer_chars:,} characters) say how to get the rest."
    )


def _edit_limits(ws: Workspace) -> str:
    return (
        f"1000 changes per call; files up to {human_size(ws.config.limits.max_file_bytes)}; 512 KiB per text "
        "argument; the last 50 edits can be undone."
    )


def _title(annotations: ToolAnnotations, title: str) -> ToolAnnotations:
    return annotations.model_copy(update={"title": title})


def trusted(spec: ToolSpec) -> ToolSpec:
    """run_linter marked read-only: the user's decision (trust_workspace_linters) that the workspace's
    linters change nothing, so hosts may run it in parallel and approve it like a read."""
    if spec.name != "run_linter":
        return spec
    return dataclasses.replace(spec, annotations=_title(READ_ONLY, spec.annotations.title or spec.name))


TOOL_SPECS = [
    ToolSpec(read_file, "read", _title(READ_ONLY, "Read files"), _read_limits, paths="path", merges=True),
    ToolSpec(grep, "search", _title(READ_ONLY, "Search file contents"), _grep_limits, paths="path", merges=True),
    ToolSpec(list_dir, "read", _title(READ_ONLY, "List a directory"), _list_limits, paths="path", merges=True),
    ToolSpec(outline, "search", _title(READ_ONLY, "Outline a file's definitions"), _symbol_limits, paths="path"),
    ToolSpec(find_symbol, "search", _title(READ_ONLY, "Find where a name is defined"), _symbol_limits, paths="path"),
    ToolSpec(find_references, "search", _title(READ_ONLY, "Find where a name is used"), _symbol_limits, paths="path"),
    ToolSpec(repo_map, "search", _title(READ_ONLY, "Map the code's main definitions"), _symbol_limits, paths="path"),
    ToolSpec(
        run_linter, "lint", _title(RUNS_WORKSPACE_TOOLS, "Run the linters"), _lint_limits, paths="paths", merges=True
    ),
    ToolSpec(run_tests, "test", _title(RUNS_CODE, "Run the tests"), _test_limits, paths="targets"),
    ToolSpec(test_results, "read", _title(READ_ONLY, "Wait for a test run's result")),
    ToolSpec(list_toolchains, "read", _title(READ_ONLY, "Show linters and test runners"), merges=True),
    ToolSpec(run_output, "read", _title(READ_ONLY, "Page a run's full output")),
    ToolSpec(
        fix_lint, "lint", _title(CHANGES_FILES, "Apply linter fixes"), _lint_limits, in_batch=False, paths="paths"
    ),
    ToolSpec(
        edit,
        "lint",
        _title(EDITS_FILES, "Edit files, then check them"),
        _edit_limits,
        in_batch=False,
        item_paths="changes",
    ),
    ToolSpec(undo_edit, "read", _title(EDITS_FILES, "Undo an edit"), in_batch=False, paths="edit_id"),
]
