"""run_linter: the workspace's linters, their findings as sorted, counted diagnostics."""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections import Counter
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from volley.budget import body_chars
from volley.concurrency import blocking
from volley.errors import InputError, ToolchainError
from volley.index import visible_files
from volley.parsers import Diagnostic, read_lint
from volley.process import argv_parts, run_process
from volley.projects import inner, outer, planned
from volley.runs import head_and_tail
from volley.stat_keys import StatKey, stat_key
from volley.text import read_report
from volley.toolchains import Toolchain, choose, missing_toolchain
from volley.tools.arguments import workspace_target
from volley.workspace import Workspace

MAX_DIAGNOSTICS = 200
SEVERITIES = ("error", "warning", "info")
Status = Literal["clean", "findings", "crashed", "timed out", "unreadable", "not installed"]


class LinterRun(BaseModel):
    linter: str
    project: str | None = Field(None, description="the project it ran in, when not the workspace's root")
    argv: list[str]
    status: Status
    exit_code: int | None
    duration_s: float
    run_id: str | None = Field(description="page the full output with run_output(run_id); None when not kept")
    output_head: str = Field("", description="the raw output when it could not be read as diagnostics")
    output_tail: str = ""


class LintResult(BaseModel):
    runs: list[LinterRun]
    diagnostics: list[Diagnostic]
    counts: dict[str, int] = Field(description="diagnostics per severity, before the cap")
    total: int
    truncated: bool
    by_rule: dict[str, int] = Field(default_factory=dict, description="when truncated: the most frequent codes")

    def render(self) -> str:
        out = [
            f"{d.path}:{d.line}:{d.column}: {d.severity} {d.code or ''} {d.message} ({d.tool})".replace("  ", " ")
            for d in self.diagnostics
        ]
        if self.truncated:
            rules = ", ".join(f"{rule} {n}" for rule, n in self.by_rule.items())
            out.append(
                f"[truncated: showing {len(self.diagnostics)} of {self.total} diagnostics, the most severe first; "
                f"the rest: lint fewer paths, or one linter; most frequent: {rules}]"
            )
        for run in self.runs:
            kept = f", output: {run.run_id}" if run.run_id else ""
            where = f" in {run.project}" if run.project else ""
            line = f"{run.linter}{where}: {run.status} (exit {run.exit_code}, {run.duration_s:.1f} s{kept})"
            out.append(line)
            if run.output_head:
                out.append(run.output_head + (f"\n…\n{run.output_tail}" if run.output_tail else ""))
        counts = ", ".join(f"{n} {sev}s" for sev, n in self.counts.items() if n) or "no diagnostics"
        unread = [f"{r.linter} {r.status}" for r in self.runs if r.status not in ("clean", "findings")]
        if unread:  # a report that could not be read is never "no diagnostics"
            out.append(f"INCOMPLETE: {', '.join(unread)}; {self.total} diagnostics from the rest ({counts})")
        else:
            out.append(f"{self.total} diagnostics: {counts}")
        return "\n".join(out)


async def run_linter(
    ws: Workspace,
    paths: Annotated[
        list[str] | None, Field(description="files or directories to lint, relative to the root (default: all)")
    ] = None,
    linter: Annotated[str | None, Field(description="one linter by name (see list_toolchains); default: all")] = None,
) -> LintResult:
    """Run the workspace's linters (ruff, mypy when configured, eslint, go vet, cargo clippy) and return
    their findings as diagnostics {path, line, column, code, severity, message}, sorted and counted.

    Never changes files (fixing is fix_lint's job); build tools may write their usual caches.
    """
    targets = [workspace_target(ws, p, "path") for p in paths or []]
    plans = await planned(ws, "lint", targets)
    if not plans:
        raise ToolchainError(missing_toolchain("lint", ws.root))
    if linter is not None:  # the one named, in every project that has it (none has it: said, with what there is)
        choose([c for p in plans for c in p.chains], "lint", linter, ws.root)
        plans = [dataclasses.replace(p, chains=[c for c in p.chains if c.name == linter]) for p in plans]
    runs: list[LinterRun] = []
    found: list[Diagnostic] = []
    for plan in plans:
        for chain in plan.chains:
            once = await lint_once(ws, chain, plan.targets, fix=False)
            runs.append(once.run.model_copy(update={"project": plan.project or None}))
            found.extend(once.diagnostics)
    counts = {sev: sum(d.severity == sev for d in found) for sev in SEVERITIES}
    shown = _most_severe_first(found, MAX_DIAGNOSTICS, body_chars(ws.config.limits.answer_chars) - _runs_size(runs))
    by_rule = Counter(d.code or d.tool for d in found) if len(shown) < len(found) else Counter()
    return LintResult(
        runs=runs,
        diagnostics=shown,
        counts=counts,
        total=len(found),
        truncated=len(found) > len(shown),
        by_rule=dict(by_rule.most_common(10)),
    )


def _most_severe_first(found: list[Diagnostic], cap: int, chars: int) -> list[Diagnostic]:
    """The diagnostics to show, by path; when not all fit (``cap``, ``chars``), the most severe are kept."""
    ranked = sorted(found, key=lambda d: (SEVERITIES.index(d.severity), d.path, d.line, d.column))
    kept: list[Diagnostic] = []
    for d in ranked[:cap]:
        chars -= len(d.path) + len(d.message) + len(d.code or "") + len(d.tool) + 30
        if chars < 0 and kept:
            break
        kept.append(d)
    return sorted(kept, key=lambda d: (d.path, d.line, d.column, d.code or ""))


def _runs_size(runs: list[LinterRun]) -> int:
    return sum(len(r.output_head) + len(r.output_tail) + 120 for r in runs)


PY_SOURCES = (".py", ".pyi", ".ipynb")  # what ruff lints by default
JS_SOURCES = (".js", ".mjs", ".cjs", ".jsx", ".ts", ".mts", ".cts", ".tsx", ".vue", ".svelte")
ARGV_CHARS = 100_000  # file names per run: far inside every platform's command-line limit


@dataclass
class LintOnce:
    run: LinterRun
    diagnostics: list[Diagnostic]
    changed: list[str]  # files whose stat moved during the run (fix_lint: what it changed)


async def lint_once(ws: Workspace, chain: Toolchain, targets: list[str], fix: bool) -> LintOnce:
    """One linter's run over ``targets`` (default: the workspace), its status read from its exit code and report.

    Ruff and pylint are handed the files the read tools may see, never a directory: a link out of the
    workspace or a denied file is not linted, shown or fixed (ruff's own `exclude` still applies:
    --force-exclude), in runs of at most ARGV_CHARS of names, merged. flake8 applies its `exclude` only to
    what it walks, so it walks, and only findings in files the read tools see are kept or shown.
    """
    if chain.missing:  # configured by the project, not installed: said, never silently left out
        run = LinterRun(
            linter=chain.name, argv=chain.argv, status="not installed", exit_code=None, duration_s=0, run_id=None
        )
        return LintOnce(run.model_copy(update={"output_head": chain.missing}), [], [])
    project = chain.cwd
    if project and not targets:
        targets = [project]
    groups, files, allowed = [[inner(project, t) for t in targets]], None, None
    if chain.parser in _GIVEN_FILES:
        files = await blocking(sandboxed_files, ws, targets, PY_SOURCES)
        groups = argv_parts([inner(project, f) for f in files], ARGV_CHARS)
    elif chain.parser == "flake8":  # named files escape its `exclude`: it walks, and only what we may show is kept
        allowed = {inner(project, f) for f in await blocking(sandboxed_files, ws, targets, PY_SOURCES)}
    watched: list[str] = []
    if fix:
        watched = files if files is not None else await blocking(sandboxed_files, ws, targets, JS_SOURCES)
    before = await blocking(_stats, ws, watched) if fix else {}
    done = [await _lint_group(ws, chain, group, fix, files is not None, allowed) for group in groups]
    after = await blocking(_stats, ws, watched) if fix else {}
    changed = [path for path, key in after.items() if before.get(path) != key]
    if not done:
        run = LinterRun(linter=chain.name, argv=chain.argv, status="clean", exit_code=None, duration_s=0, run_id=None)
        return LintOnce(run.model_copy(update={"output_head": "(no files for this linter in the paths)"}), [], [])
    runs = [run for run, _ in done]
    worst = max(runs, key=lambda r: _STATUS_RANK.index(r.status))
    argv = runs[0].argv
    if files is not None:  # the names, which may be thousands, counted
        argv = [*argv[: argv.index("--") + 1], f"<{len(files)} files the read tools see>"]
    merged = worst.model_copy(update={"argv": argv, "duration_s": round(sum(r.duration_s for r in runs), 3)})
    return LintOnce(merged, [d for _, found in done for d in found], sorted(changed))


_STATUS_RANK: list[Status] = ["clean", "findings", "unreadable", "crashed", "timed out", "not installed"]
_GIVEN_FILES = ("ruff-json", "pylint-json")  # linters handed the files the read tools see


def sandboxed_files(ws: Workspace, targets: list[str], suffixes: tuple[str, ...]) -> list[str]:
    """The files below ``targets`` (default: the root) that the read tools may see, with these suffixes; a
    file named as a target is kept whatever its suffix (blocking)."""
    found: dict[str, None] = {}
    for rel in targets or ["."]:
        target = ws.resolve(rel)
        if not target.is_dir:
            found[target.rel] = None
            continue
        found.update(dict.fromkeys(f for f in visible_files(ws, target) if f.endswith(suffixes)))
    return list(found)


def _stats(ws: Workspace, files: list[str]) -> dict[str, StatKey | None]:
    return {path: stat_key(os.path.join(ws.root, path)) for path in files}


async def _lint_group(
    ws: Workspace, chain: Toolchain, targets: list[str], fix: bool, explicit: bool, allowed: set[str] | None
) -> tuple[LinterRun, list[Diagnostic]]:
    """One process: ruff and eslint write their report to a file of ours, read whole (a report of 15 MB is
    read, not cut); the others are read from their output, and output cut at the runner's cap makes the run
    "unreadable": a report read in part never passes for a complete one."""
    with tempfile.TemporaryDirectory(prefix="volley-lint-") as tmp:
        report_path = os.path.join(tmp, "report.json")
        argv = lint_argv(chain, targets, fix, report_path)
        if explicit and chain.name == "ruff":
            argv[argv.index("--") : argv.index("--")] = ["--force-exclude"]  # its own `exclude` still applies
        home = str(ws.root / chain.cwd)  # the project's directory
        done = await run_process(argv, cwd=home, env=chain.env, timeout=chain.timeout_s)
        report = read_report(report_path) if any(report_path in word for word in argv) else None
    if report is not None and allowed is not None:  # a line per finding, its path first
        report = "".join(line for line in report.splitlines(True) if _path_of(line) in allowed)
    output = done.output.decode("utf-8", errors="replace")
    run_id = ws.runs.save(done.output + (b"\n" + report.encode() if report else b""))
    diagnostics = None
    if not done.timed_out and (report is not None or not done.dropped_bytes):
        diagnostics = read_lint(chain.parser, report if report is not None else output, chain.name, home)
        if chain.cwd and diagnostics:
            diagnostics = [d.model_copy(update={"path": outer(chain.cwd, d.path)}) for d in diagnostics]
    status: Status
    if done.timed_out:
        status = "timed out"
    elif diagnostics is None:
        status = "clean" if done.exit_code == 0 and chain.parser == "generic" else "unreadable"
    elif done.exit_code not in (0, 1) and not diagnostics:
        status = "crashed"
    else:
        status = "findings" if diagnostics else "clean"
    head, tail = ("", "")
    if status in ("crashed", "timed out", "unreadable"):
        head, tail = head_and_tail(output, ws.config.limits.output_head_chars)
        if done.dropped_bytes:
            head = f"[{done.dropped_bytes} bytes of output dropped in the middle: too long to read]\n" + head
    run = LinterRun(
        linter=chain.name,
        argv=argv,
        status=status,
        exit_code=done.exit_code,
        duration_s=round(done.duration_s, 3),
        run_id=run_id,
        output_head=head,
        output_tail=tail,
    )
    return run, diagnostics or []


def _path_of(line: str) -> str:
    return line.split(":", 1)[0].removeprefix("./")


def lint_argv(chain: Toolchain, targets: list[str], fix: bool, report: str) -> list[str]:
    """The run's argv: never fixing unless asked (a project's `fix = true` is overruled by `--no-fix`), the
    report to ``report`` where the linter can write one, the targets in the linter's own way."""
    argv = list(chain.argv)
    if fix and chain.name not in ("ruff", "eslint"):
        raise InputError(f"{chain.name} cannot fix what it finds; only ruff and eslint can")
    if chain.name == "ruff" and "check" in argv:
        at = argv.index("check") + 1
        argv[at:at] = [
            "--fix" if fix else "--no-fix",
            *(["--output-file", report] if chain.parser == "ruff-json" else []),
        ]
    elif chain.parser == "flake8":
        argv.append(f"--output-file={report}")
    elif chain.parser == "pylint-json":
        argv.append(f"--output={report}")
    elif chain.name == "eslint":
        at = next(i for i, word in enumerate(argv) if os.path.basename(word).startswith("eslint")) + 1
        report_args = ["--output-file", report] if chain.parser == "eslint-json" else []
        argv[at:at] = [*(["--fix"] if fix else []), *report_args]
    if not targets:
        return argv
    if chain.name in ("eslint", "biome"):
        return [*argv[:-1], *targets]  # replaces its default "."
    if chain.name == "tsc":
        return argv  # the project as its tsconfig.json says: tsc cannot check some files with a project's options
    if chain.name == "go vet":
        return [*argv[:-1], *(t if t.startswith("./") else f"./{t}" for t in targets)]
    if chain.name == "cargo clippy":
        return argv  # cargo lints the whole crate
    if chain.name == "mypy" and argv[-1] == ".":
        argv.pop()  # the default target gives way to the ones asked for
    return [*argv, "--", *targets] if chain.name in ("ruff", "mypy", "pylint") else [*argv, *targets]
