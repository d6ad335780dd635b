"""list_toolchains, fix_lint and run_output: what will run, fixing, and the full output of a run."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Annotated

from pydantic import BaseModel, Field

from volley.budget import body_chars
from volley.concurrency import blocking
from volley.edits.patch import Hunk
from volley.edits.patch import parse as parse_diff
from volley.errors import InputError, ToolchainError
from volley.parsers import Diagnostic
from volley.process import argv_parts, run_process
from volley.projects import chains_of, inner, outer, planned, project_dirs
from volley.text import numbered, read_report
from volley.toolchains import Toolchain, choose, missing_toolchain
from volley.tools.arguments import workspace_target
from volley.tools.edit import apply_fixes
from volley.tools.run_linter import (
    ARGV_CHARS,
    JS_SOURCES,
    PY_SOURCES,
    LinterRun,
    lint_argv,
    lint_once,
    sandboxed_files,
)
from volley.workspace import Workspace


class ToolchainInfo(BaseModel):
    name: str
    role: str
    language: str
    argv: list[str]
    source: str
    timeout_s: float
    missing: str = Field("", description="configured by the project but not installed: how to install it")
    project: str | None = Field(None, description="the project it runs in, when not the workspace's root")


class ToolchainsResult(BaseModel):
    toolchains: list[ToolchainInfo]

    def render(self) -> str:
        if not self.toolchains:
            return (
                "no linter or test runner found; configure one with `command = [...]` under [lint] or [test] "
                "in .volley.toml"
            )
        return "\n".join(
            (f"{t.project}: " if t.project else "")
            + f"{t.role}: {t.name} ({t.language}): {' '.join(t.argv)}  [{t.source}]"
            + (f"  MISSING: {t.missing}" if t.missing else "")
            for t in self.toolchains
        )


def _every_projects(ws: Workspace) -> list[Toolchain]:
    """The root's toolchains, then each project's in the workspace (blocking)."""
    return [chain for project in ["", *(d for d in project_dirs(ws) if d)] for chain in chains_of(ws, project)]


async def list_toolchains(ws: Workspace) -> ToolchainsResult:
    """The linters and test runners this workspace offers and the exact command each will run.

    Each project in the workspace (a folder with pyproject.toml, package.json, go.mod, Cargo.toml, …) has
    its own, run in its folder. Detection prefers the project's environment (.venv/bin, node_modules/.bin),
    then the workspace's, over PATH; a command configured under [lint] or [test] in .volley.toml replaces
    detection.
    """
    chains = await blocking(_every_projects, ws)
    return ToolchainsResult(
        toolchains=[
            ToolchainInfo(
                name=c.name,
                role=c.role,
                language=c.language,
                argv=c.argv,
                source=c.source,
                timeout_s=c.timeout_s,
                missing=c.missing,
                project=c.cwd or None,
            )
            for c in chains
        ]
    )


class FixResult(BaseModel):
    run: LinterRun
    changed: list[str] = Field(description="the files the fixes changed")
    remaining: list[Diagnostic] = Field(description="what the linter could not fix")
    edit_id: str | None = Field(default=None, description="undo_edit(edit_id) undoes the fixes (ruff's)")

    def render(self) -> str:
        lines = [f"{d.path}:{d.line}:{d.column}: {d.code or ''} {d.message}" for d in self.remaining]
        changed = f"changed {len(self.changed)} files: {', '.join(self.changed)}" if self.changed else "changed no file"
        undo = f" (undo_edit {self.edit_id} undoes them)" if self.edit_id else ""
        head = f"{self.run.linter} --fix: {self.run.status}; {changed}{undo}; {len(self.remaining)} findings remain"
        return "\n".join([head, *lines])


async def fix_through_writer(ws: Workspace, chain: Toolchain, targets: list[str]) -> tuple[list[str], str | None]:
    """ruff's fixes for the files the read tools see, asked as a diff (`--fix --diff` writes nothing) and
    written by edit's writer: all files or none, undoable, never a file the sandbox refuses."""
    files = await blocking(sandboxed_files, ws, targets or ([chain.cwd] if chain.cwd else []), PY_SOURCES)
    at = chain.argv.index("check") + 1
    found: dict[str, list[Hunk] | str] = {}
    home = str(ws.root / chain.cwd)  # the project's folder
    for group in argv_parts([inner(chain.cwd, f) for f in files], ARGV_CHARS):
        argv = [*chain.argv[:at], "--fix", "--diff", "--force-exclude", *chain.argv[at:], "--", *group]
        done = await run_process(argv, cwd=home, env=chain.env, timeout=chain.timeout_s, stdout_only=True)
        if done.timed_out or done.exit_code not in (0, 1) or done.dropped_bytes:
            why = (
                "timed out"
                if done.timed_out
                else "its diff was over the output cap"
                if done.dropped_bytes
                else "crashed"
            )
            raise ToolchainError(f"ruff --fix --diff {why} (exit {done.exit_code}): nothing was changed")
        diff = parse_diff(done.output.decode("utf-8", errors="surrogateescape"))
        found.update({outer(chain.cwd, path): hunks for path, hunks in diff.items()})
    return await apply_fixes(ws, found)


async def eslint_through_writer(ws: Workspace, chain: Toolchain, targets: list[str]) -> tuple[list[str], str | None]:
    """eslint's fixes asked with --fix-dry-run (each fixed file's whole text in its JSON report, nothing
    written), kept for the files the read tools see, and written by edit's writer."""
    visible = set(await blocking(sandboxed_files, ws, targets or ([chain.cwd] if chain.cwd else []), JS_SOURCES))
    with tempfile.TemporaryDirectory(prefix="volley-fix-") as tmp:
        report = os.path.join(tmp, "report.json")
        argv = lint_argv(chain, [inner(chain.cwd, t) for t in targets], False, report)
        at = next(i for i, word in enumerate(argv) if os.path.basename(word).startswith("eslint")) + 1
        argv[at:at] = ["--fix-dry-run"]
        home = str(ws.root / chain.cwd)  # the project's folder
        done = await run_process(argv, cwd=home, env=chain.env, timeout=chain.timeout_s)
        try:
            entries = json.loads(read_report(report) or "")
        except (ValueError, RecursionError):
            entries = None
    if done.timed_out or not isinstance(entries, list):
        raise ToolchainError(
            f"eslint --fix-dry-run gave no report to read (exit {done.exit_code}): nothing was changed"
        )
    fixes: dict[str, list[Hunk] | str] = {}
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("output"), str) and isinstance(entry.get("filePath"), str):
            rel = os.path.relpath(entry["filePath"], ws.root).replace(os.sep, "/")
            if rel in visible:
                fixes[rel] = entry["output"]
    return await apply_fixes(ws, fixes)


async def fix_lint(
    ws: Workspace,
    paths: Annotated[list[str] | None, Field(description="files or directories to fix (default: all)")] = None,
    linter: Annotated[str | None, Field(description="ruff or eslint (default: the first that can fix)")] = None,
) -> FixResult:
    """Apply the linter's safe automatic fixes to files in the workspace (ruff --fix, eslint --fix) and
    report what remains. This changes files."""
    targets = [workspace_target(ws, p, "path") for p in paths or []]
    plans = await planned(ws, "lint", targets)
    if len(plans) > 1:
        where = ", ".join(p.project or "the root" for p in plans)
        raise InputError(f"fix_lint fixes one project per call; these paths are in {where}: name paths in one")
    if not plans:
        raise ToolchainError(missing_toolchain("lint", ws.root))
    chains = choose(plans[0].chains, "lint", linter, ws.root)
    fixable = [c for c in chains if c.name in ("ruff", "eslint")] or chains[:1]
    chain = fixable[0]
    if (chain.name == "ruff" and "check" in chain.argv) or chain.parser == "eslint-json":  # written by edit's writer
        fixer = fix_through_writer if chain.name == "ruff" else eslint_through_writer
        changed, edit_id = await fixer(ws, chain, targets)
        after = await lint_once(ws, fixable[0], targets, fix=False)
        return FixResult(run=after.run, changed=changed, remaining=after.diagnostics, edit_id=edit_id)
    once = await lint_once(ws, fixable[0], targets, fix=True)
    return FixResult(run=once.run, changed=once.changed, remaining=once.diagnostics)


class OutputPage(BaseModel):
    run_id: str
    lines: list[str]
    start_line: int
    total_lines: int
    next_offset: int | None

    def render(self) -> str:
        body = numbered(self.lines, self.start_line)
        more = f"; continue with offset={self.next_offset}" if self.next_offset else ""
        last = self.start_line + len(self.lines) - 1
        return f"{body}({self.run_id}: lines {self.start_line}-{last} of {self.total_lines}{more})"


async def run_output(
    ws: Workspace,
    run_id: Annotated[str, Field(description="the run_id a run_linter or run_tests answer gave")],
    offset: Annotated[int, Field(ge=1, description="1-based line to start from")] = 1,
    limit: Annotated[int, Field(ge=1, le=5000, description="lines to return")] = 400,
) -> OutputPage:
    """Page through the full raw output of a recent run_linter or run_tests call."""
    lines = ws.runs.lines(run_id)
    if offset > max(1, len(lines)):
        raise InputError(f"offset {offset} is past the end of {run_id} ({len(lines)} lines)")
    window: list[str] = []
    room = body_chars(ws.config.limits.answer_chars)
    for line in lines[offset - 1 : offset - 1 + limit]:
        room -= len(line) + 8
        if room < 0 and window:
            break
        window.append(line if room >= 0 else line[: max(200, room + len(line))] + " … [line cut]")
    end = offset - 1 + len(window)
    return OutputPage(
        run_id=run_id,
        lines=window,
        start_line=offset,
        total_lines=len(lines),
        next_offset=end + 1 if end < len(lines) else None,
    )
