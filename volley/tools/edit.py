"""edit and undo_edit: change several files in one call, all or nothing, and answer with what the change broke.

A call's changes are matched and checked first (nothing is written when one cannot apply), then written
together through the journaled writer; the syntax check, the linter (only what the change introduced) and
the tests asked for run at once after. Each applied edit can be undone while its files stay as it left them.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

import anyio
from pydantic import BaseModel, Field

from volley.budget import body_chars
from volley.concurrency import blocking, concurrently
from volley.edits import patch, writer
from volley.edits.file_text import FileText
from volley.edits.history import FileState, history_of
from volley.edits.matching import find
from volley.edits.patch import Hunk
from volley.edits.syntax import SyntaxProblem, syntax_problem
from volley.edits.verify import introduced, line_map
from volley.errors import ContentError, InputError
from volley.exact_open import open_exact
from volley.index import hard_link_to_denied
from volley.parsers.common import Diagnostic
from volley.projects import Planned, planned
from volley.stat_keys import version_of
from volley.text import human_size
from volley.tools.run_linter import LinterRun, lint_once
from volley.tools.run_tests import TestResult, run_tests
from volley.workspace import Target, Workspace

MAX_CHANGES = 1000
MAX_LISTED = 50  # introduced diagnostics listed (all counted)
Action = Literal["replace", "create", "overwrite", "delete"]

T = TypeVar("T")


class Change(BaseModel):
    path: str = Field(description="the file, relative to the workspace root")
    action: Action = Field(
        default="replace",
        description="replace: `old` → `new` in the file; create: a new file holding `new`; overwrite: the "
        "file's whole content becomes `new`; delete: remove the file",
    )
    old: str | None = Field(
        default=None, description="replace: the exact text to replace, with enough lines to be unique"
    )
    new: str | None = Field(
        default=None, description="replace: the text to put there; create and overwrite: the content"
    )
    replace_all: bool = Field(default=False, description="replace: every occurrence of `old` (default: exactly one)")


class FileEdit(BaseModel):
    path: str
    action: Action
    matched: list[str] = Field(default_factory=list, description="how each `old` was found: exact, line endings…")
    added: int = 0
    removed: int = 0
    version: str = Field(default="", description="the file's version after the edit (for a next edit's `versions`)")


class LintCheck(BaseModel):
    introduced: list[Diagnostic] = Field(default_factory=list)
    introduced_total: int = 0
    preexisting: int = Field(default=0, description="diagnostics in the changed files that were there before")
    fixed: int = Field(default=0, description="diagnostics of the files before that the change removed")
    runs: list[str] = Field(default_factory=list, description="each linter's status before → after")


class EditResult(BaseModel):
    edit_id: str | None = Field(default=None, description="for undo_edit (None when nothing was written)")
    dry_run: bool = False
    files: list[FileEdit]
    diff: str | None = Field(default=None, description="dry_run: the unified diff of the whole call")
    syntax: list[SyntaxProblem] = Field(default_factory=list, description="syntax errors the change brought in")
    lint: LintCheck | None = None
    tests: TestResult | None = None
    reverted: bool = Field(default=False, description="on_failure=revert undid the change")

    def render(self) -> str:
        head = "dry run (nothing written)" if self.dry_run else f"edit {self.edit_id}"
        if self.reverted:
            head = f"REVERTED (on_failure=revert): the files are as they were; {head}"
        out = [f"{head}: {len(self.files)} files"]
        for f in self.files:
            how = f" ({', '.join(sorted(set(f.matched)))} match)" if f.matched and f.matched != ["exact"] else ""
            version = f" [version {f.version}]" if f.version else ""
            out.append(f"  {f.action} {f.path}: +{f.added} -{f.removed}{how}{version}")
        if self.diff is not None:
            out.append(self.diff)
        for p in self.syntax:
            out.append(f"SYNTAX ERROR {p.path}:{p.line}:{p.column}: {p.message}")
        if self.lint is not None:
            lint = self.lint
            out.append(
                f"lint: {lint.introduced_total} introduced, {lint.preexisting} already there, {lint.fixed} fixed "
                f"({'; '.join(lint.runs)})"
            )
            out += [f"  {d.path}:{d.line}:{d.column}: {d.code or ''} {d.message}" for d in lint.introduced]
            if lint.introduced_total > len(lint.introduced):
                out.append(f"  [{lint.introduced_total - len(lint.introduced)} more introduced]")
        if self.tests is not None:
            out.append("tests: " + self.tests.render())
        return "\n".join(out)


class UndoResult(BaseModel):
    edit_id: str
    files: list[str]

    def render(self) -> str:
        return f"undid {self.edit_id}: {', '.join(self.files)} as they were before it"


@dataclass
class _Planned:
    rel: str
    abs: str
    action: Action
    before: bytes | None
    after: bytes | None
    old_text: str
    new_text: str
    mode: int | None
    matched: list[str]
    added: int = 0  # lines, counted per replacement (a whole new content is diffed instead)
    removed: int = 0


async def edit(
    ws: Workspace,
    changes: Annotated[list[Change], Field(description="the changes, applied in order; several per file allowed")],
    versions: Annotated[
        dict[str, str] | None,
        Field(description="path → the version read_file showed: a file changed since is refused, not edited"),
    ] = None,
    dry_run: Annotated[bool, Field(description="return the unified diff; write nothing")] = False,
    lint: Annotated[bool, Field(description="lint the changed files; list only what the change introduced")] = True,
    tests: Annotated[
        list[str] | Literal["affected"] | None,
        Field(
            description='tests to run after the change: run_tests targets (files, dirs, node ids), or "affected" '
            "(the test files the working tree's changes can affect); default none"
        ),
    ] = None,
    on_failure: Annotated[
        Literal["keep", "revert"],
        Field(
            description="revert: undo the whole change when it brings a syntax error, a lint error or a failing test"
        ),
    ] = "keep",
) -> EditResult:
    """Change files: replace text (exactly once, or every occurrence), create, overwrite or delete files;
    several files in one call, all or nothing. Then, at once: a syntax check of each changed file, the
    linter on the changed files listing only the diagnostics the change introduced, and the tests named.

    `old` is matched exactly, else with line endings normalised, trailing whitespace ignored, or the block's
    indentation shifted (each named in the answer); not found: the closest region and what differs. Line
    endings, encoding, byte-order mark and final newline stay the file's. Pass `versions` from read_file to
    refuse a file that changed since you read it. undo_edit(edit_id) undoes an edit.
    """
    if not changes:
        raise InputError("no changes given: pass changes=[{path, old, new}, …]")
    if len(changes) > MAX_CHANGES:
        raise InputError(f"{len(changes)} changes in one call; the limit is {MAX_CHANGES}: split them")
    for change in changes:
        _check_fields(change)
    targets = await blocking(_targets, ws, changes)
    async with _locked(sorted({abs_path for abs_path, _ in targets.values()})):
        plan = await blocking(_plan, ws, changes, targets, versions or {})
        if dry_run:
            return EditResult(
                dry_run=True, files=_summaries(plan, {}), diff=_diff(plan, body_chars(ws.config.limits.answer_chars))
            )
        linting = await planned(ws, "lint", [p.rel for p in plan]) if lint else []  # the files' projects' linters
        chains = [chain for project in linting for chain in project.chains]
        existing = [p.rel for p in plan if p.before is not None and p.action != "delete"]
        before: list[Diagnostic] = []
        before_runs: list[LinterRun] = []
        writes = [writer.Write(p.abs, p.after, p.mode, new=p.before is None) for p in plan]
        syntax: list[SyntaxProblem]
        if chains and existing:  # the baseline is read from the files before they change
            baseline = functools.partial(_lint_all, ws, linting, existing)
            syntax, (before, before_runs) = await concurrently([functools.partial(blocking, _syntax, plan), baseline])
            await _write(ws, writes)
        else:
            syntax = await _write(ws, writes, first=functools.partial(_syntax, plan)) or []
        history = history_of(str(ws.root))
        edit_id = history.add([FileState(p.rel, p.abs, p.before, p.after, p.mode) for p in plan])
    versions_now = await blocking(_versions, plan)
    after_jobs: list[Callable[[], Awaitable[Any]]] = []
    changed = [p.rel for p in plan if p.after is not None]
    if chains and changed:
        after_jobs.append(functools.partial(_lint_all, ws, linting, changed))
    if tests == "affected":
        after_jobs.append(functools.partial(run_tests, ws, affected=True))
    elif tests:
        after_jobs.append(functools.partial(run_tests, ws, targets=tests))
    done = await concurrently(after_jobs)
    result = EditResult(edit_id=edit_id, files=_summaries(plan, versions_now), syntax=syntax)
    if chains and changed:
        after, after_runs = done.pop(0)
        maps = {p.rel: line_map(p.old_text, p.new_text) for p in plan if p.before is not None}
        new, kept, fixed = introduced(before, after, maps)
        result.lint = LintCheck(
            introduced=new[:MAX_LISTED],
            introduced_total=len(new),
            preexisting=kept,
            fixed=fixed,
            runs=_run_statuses(before_runs, after_runs),
        )
    if tests:
        result.tests = done.pop(0)
    if on_failure == "revert" and _failed(result):
        await undo_edit(ws, edit_id)
        result.reverted = True
        result.edit_id = None
    return result


async def undo_edit(
    ws: Workspace, edit_id: Annotated[str, Field(description="the edit_id an edit answer gave")]
) -> UndoResult:
    """Undo an earlier edit of this server's: every file it changed goes back to what it was, or, when any
    of them changed since, nothing is done and the answer says which."""
    history = history_of(str(ws.root))
    applied = history.get(edit_id)
    if applied is None:
        known = ", ".join(history.ids()[-10:]) or "none"
        raise InputError(f"no edit {edit_id!r} to undo (this server's last edits: {known}; older ones are not kept)")
    async with _locked(sorted(f.abs for f in applied.files)):
        changed = await blocking(_changed_since, applied.files)
        if changed:
            raise InputError(
                f"{edit_id} cannot be undone: {', '.join(changed)} changed since it (undo restores a file only "
                "as the edit left it; edit it back instead)"
            )
        await _write(ws, [writer.Write(f.abs, f.before, f.mode, new=f.after is None) for f in applied.files])
        history.drop(edit_id)
    return UndoResult(edit_id=edit_id, files=[f.rel for f in applied.files])


async def _write(ws: Workspace, writes: list[writer.Write], first: Callable[[], T] | None = None) -> T | None:
    """Write ``writes`` (all or nothing), after ``first`` in the same worker thread: its result."""

    def run() -> T | None:
        found = first() if first is not None else None
        writer.apply(str(ws.root), writes)
        return found

    try:
        return await blocking(run)
    except OSError as exc:
        where = f" ({os.path.relpath(exc.filename, ws.root)})" if isinstance(exc.filename, str) else ""
        raise ContentError(f"nothing was changed: a file could not be written{where}: {exc.strerror or exc}") from None


async def apply_fixes(ws: Workspace, fixes: dict[str, list[Hunk] | str]) -> tuple[list[str], str | None]:
    """A linter's fixes (per file: its diff, or the whole fixed text) written as one edit: (the files changed,
    the edit's id)."""
    if not fixes:
        return [], None
    targets = await blocking(lambda: {rel: ws.resolve_for_write(rel, new=False) for rel in fixes})
    async with _locked(sorted(t.abs for t in targets.values())):
        states = await blocking(_patched, ws, fixes, targets)
        await _write(ws, [writer.Write(f.abs, f.after, f.mode) for f in states])
        edit_id = history_of(str(ws.root)).add(states)
    return [f.rel for f in states], edit_id


def _patched(ws: Workspace, fixes: dict[str, list[Hunk] | str], targets: dict[str, Target]) -> list[FileState]:
    states = []
    for rel, fix in fixes.items():
        planned = _current(ws, rel, targets[rel].abs, targets[rel].rel, {}, "replace")
        codec = FileText.decode(planned.before or b"", rel)
        try:
            text = fix if isinstance(fix, str) else patch.apply(codec.text, fix)
        except ValueError as exc:
            raise ContentError(
                f"{rel} changed while the linter ran ({exc}): nothing was changed; run fix_lint again"
            ) from None
        states.append(FileState(rel, planned.abs, planned.before, codec.encode(text), planned.mode))
    return states


def _check_fields(change: Change) -> None:
    if change.action == "replace":
        if change.old is None or change.new is None:
            raise InputError(f"{change.path}: replace needs `old` (the text to find) and `new` (its replacement)")
        if change.old == change.new:
            raise InputError(f"{change.path}: `old` and `new` are the same: nothing to change")
    elif change.action in ("create", "overwrite"):
        if change.new is None:
            raise InputError(f"{change.path}: {change.action} needs `new`, the file's whole content")
        if change.old is not None:
            raise InputError(f"{change.path}: {change.action} takes `new` only (`old` is for replace)")
    elif change.old is not None or change.new is not None:
        raise InputError(f"{change.path}: delete takes no `old` or `new`")


def _targets(ws: Workspace, changes: list[Change]) -> dict[str, tuple[str, str]]:
    """path as given → (absolute path, relative path), each checked by the workspace (blocking)."""
    found: dict[str, tuple[str, str]] = {}
    for change in changes:
        if change.path in found:
            continue
        creating = change.action == "create"
        target = ws.resolve_for_write(change.path, new=creating)
        found[change.path] = (target.abs, target.rel)
    return found


def _plan(
    ws: Workspace, changes: list[Change], targets: dict[str, tuple[str, str]], versions: dict[str, str]
) -> list[_Planned]:
    """Every file's content after the call's changes, or the first reason one cannot apply (blocking)."""
    files: dict[str, _Planned] = {}
    limit = ws.config.limits.max_file_bytes
    for change in changes:
        abs_path, rel = targets[change.path]
        planned = files.get(abs_path)
        if planned is None:
            planned = files[abs_path] = _current(ws, change.path, abs_path, rel, versions, change.action)
        if planned.before is None and planned.after is None and change.action != "create":
            raise InputError(f"{change.path}: {change.action} of a file this call deleted or has not created")
        codec = FileText.decode(planned.after or b"", rel) if planned.after is not None else FileText.new("")
        if change.action == "create":
            if planned.after is not None:
                raise InputError(f"{change.path}: already exists: to replace its content use overwrite")
            codec = FileText.new(change.new or "")
            text = change.new or ""
        elif change.action == "overwrite":
            text = codec.in_own_newlines(change.new or "")
        elif change.action == "delete":
            if planned.before is None:
                files.pop(abs_path)  # created and deleted in one call: nothing to write
            else:
                planned.after, planned.action, planned.new_text = None, "delete", ""
            continue
        else:
            found = find(
                codec.text, change.old or "", change.new or "", codec.newline, replace_all=change.replace_all, shown=rel
            )
            text = codec.text
            for r in reversed(found.replacements):
                planned.removed += _lines(text[r.start : r.end])
                planned.added += _lines(r.new)
                text = text[: r.start] + r.new + text[r.end :]
            planned.matched.append(found.step)
        planned.after = codec.encode(text)
        if len(planned.after) > limit:
            raise InputError(f"{rel}: the result would be {human_size(len(planned.after))}, over the file size limit")
        planned.new_text = text
        if change.action == "overwrite" or (change.action == "create" and planned.before is not None):
            planned.action = "overwrite"
    return list(files.values())


def _current(ws: Workspace, given: str, abs_path: str, rel: str, versions: dict[str, str], action: Action) -> _Planned:
    if action == "create":
        return _Planned(rel, abs_path, "create", None, None, "", "", None, [])
    try:
        with open(open_exact(abs_path), "rb") as f:
            st = os.fstat(f.fileno())
            if hard_link_to_denied(ws, st):
                raise ContentError(f"access denied: '{given}' is another name (a hard link) for a denied file")
            if st.st_size > ws.config.limits.max_file_bytes:
                raise ContentError(f"'{given}' is {human_size(st.st_size)}, over the file size limit: edit refuses it")
            data = f.read()
    except OSError as exc:
        raise ContentError(f"'{given}' cannot be read for editing: {exc.strerror or exc}") from None
    seen = versions.get(given) or versions.get(rel)
    if seen is not None and seen != version_of(st):
        raise InputError(
            f"'{given}' changed since you read it (version {seen}, now {version_of(st)}): read_file it again and "
            "send the edit against what it holds now"
        )
    try:
        text = FileText.decode(data, rel).text
    except ValueError as exc:
        raise ContentError(str(exc)) from None
    return _Planned(rel, abs_path, "replace", data, data, text, text, st.st_mode, [])


def _lines(text: str) -> int:
    return text.count("\n") + (not text.endswith("\n")) if text else 0


def _summaries(plan: list[_Planned], versions: dict[str, str]) -> list[FileEdit]:
    out = []
    for p in plan:
        added, removed = (p.added, p.removed) if p.action == "replace" else _counted(p)
        version = versions.get(p.rel, "")
        out.append(
            FileEdit(path=p.rel, action=p.action, matched=p.matched, added=added, removed=removed, version=version)
        )
    return out


def _counted(p: _Planned) -> tuple[int, int]:
    """Lines added and removed by a whole new content (create, overwrite, delete), diffed."""
    old_lines = p.old_text.splitlines() if p.before is not None else []
    new_lines = p.new_text.splitlines() if p.after is not None else []
    added = removed = 0
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False).get_opcodes():
        if tag != "equal":
            removed += i2 - i1
            added += j2 - j1
    return added, removed


def _diff(plan: list[_Planned], chars: int) -> str:
    parts = []
    for p in plan:
        old = p.old_text.splitlines(keepends=True) if p.before is not None else []
        new = p.new_text.splitlines(keepends=True) if p.after is not None else []
        a = f"a/{p.rel}" if p.before is not None else "/dev/null"
        b = f"b/{p.rel}" if p.after is not None else "/dev/null"
        parts.append(
            "".join(
                line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
                for line in difflib.unified_diff(old, new, a, b)
            )
        )
    text = "".join(parts).replace("\r\n", "\n")
    if len(text) > chars:
        text = text[: max(0, chars - 200)] + f"\n… [diff cut at {chars:,} characters: dry-run fewer files at once]"
    return text


def _syntax(plan: list[_Planned]) -> list[SyntaxProblem]:
    found = []
    for p in plan:
        if p.after is None:
            continue
        problem = syntax_problem(p.rel, p.new_text, p.abs)
        if problem is not None and (p.before is None or syntax_problem(p.rel, p.old_text) is None):
            found.append(problem)
    return found


async def _lint_all(
    ws: Workspace, linting: list[Planned], files: list[str]
) -> tuple[list[Diagnostic], list[LinterRun]]:
    """Each project's linters on those of ``files`` that lie in it."""
    found: list[Diagnostic] = []
    runs: list[LinterRun] = []
    for project in linting:
        targets = [t for t in project.targets if t in files]
        for chain in project.chains if targets else []:
            once = await lint_once(ws, chain, targets, fix=False)
            runs.append(once.run)
            found += once.diagnostics
    return found, runs


def _run_statuses(before: list[LinterRun], after: list[LinterRun]) -> list[str]:
    was = {r.linter: r.status for r in before}
    return [f"{r.linter} {was.get(r.linter, 'not run')} → {r.status}" for r in after]


def _failed(result: EditResult) -> bool:
    errors = result.lint is not None and any(d.severity == "error" for d in result.lint.introduced)
    tests = result.tests is not None and result.tests.status not in ("passed", "no tests", "running")
    return bool(result.syntax or errors or tests)


def _versions(plan: list[_Planned]) -> dict[str, str]:
    found = {}
    for p in plan:
        if p.after is not None:
            with contextlib.suppress(OSError):
                found[p.rel] = version_of(os.stat(p.abs))
    return found


def _changed_since(files: list[FileState]) -> list[str]:
    changed = []
    for f in files:
        try:
            with open(open_exact(f.abs), "rb") as handle:
                now: bytes | None = handle.read()
        except FileNotFoundError:
            now = None
        except OSError:
            changed.append(f.rel)
            continue
        if now != f.after:
            changed.append(f.rel)
    return changed


_path_locks: dict[str, anyio.Lock] = {}


class _locked:
    """Each path's lock, taken in sorted order: two edits of one file apply one after the other."""

    def __init__(self, paths: list[str]) -> None:
        self.locks = [_path_locks.setdefault(p, anyio.Lock()) for p in paths]

    async def __aenter__(self) -> None:
        for lock in self.locks:
            await lock.acquire()

    async def __aexit__(self, *exc: object) -> None:
        for lock in reversed(self.locks):
            lock.release()
