"""run_linter: the workspace's linters, their findings as sorted, counted diagnostics."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from volley.budget import body_chars
from volley.errors import InputError
from volley.parsers import Diagnostic, read_lint
from volley.process import run_process
from volley.runs import head_and_tail
from volley.toolchains import Toolchain, choose, offered
from volley.tools.arguments import workspace_target
from volley.workspace import Workspace

MAX_DIAGNOSTICS = 200
SEVERITIES = ("error", "warning", "info")
Status = Literal["clean", "findings", "crashed", "timed out", "unreadable"]


class LinterRun(BaseModel):
    linter: str
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
            line = f"{run.linter}: {run.status} (exit {run.exit_code}, {run.duration_s:.1f} s{kept})"
            out.append(line)
            if run.output_head:
                out.append(run.output_head + (f"\n…\n{run.output_tail}" if run.output_tail else ""))
        counts = ", ".join(f"{n} {sev}s" for sev, n in self.counts.items() if n) or "no diagnostics"
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
    chains = choose(await offered(ws.root, ws.config.lint, ws.config.test), "lint", linter, ws.root)
    targets = [workspace_target(ws, p, "path") for p in paths or []]
    runs: list[LinterRun] = []
    found: list[Diagnostic] = []
    for chain in chains:
        run, diagnostics = await lint_once(ws, chain, targets, fix=False)
        runs.append(run)
        found.extend(diagnostics)
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


async def lint_once(
    ws: Workspace, chain: Toolchain, targets: list[str], fix: bool
) -> tuple[LinterRun, list[Diagnostic]]:
    """One linter run, its status read from its exit code and output."""
    argv = _argv(chain, targets, fix)
    done = await run_process(argv, cwd=str(ws.root), env=chain.env, timeout=chain.timeout_s)
    output = done.output.decode("utf-8", errors="replace")
    run_id = ws.runs.save(done.output)
    diagnostics = read_lint(chain.parser, output, chain.name, str(ws.root)) if not done.timed_out else None
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


def _argv(chain: Toolchain, targets: list[str], fix: bool) -> list[str]:
    argv = list(chain.argv)
    if fix:
        if chain.name == "ruff":
            argv.insert(argv.index("check") + 1, "--fix")
        elif chain.name == "eslint":
            argv.insert(1, "--fix")
        else:
            raise InputError(f"{chain.name} cannot fix what it finds; only ruff and eslint can")
    if not targets:
        return argv
    if chain.name == "eslint":
        return [*argv[:-1], *targets]  # replaces its default "."
    if chain.name == "go vet":
        return [*argv[:-1], *(t if t.startswith("./") else f"./{t}" for t in targets)]
    if chain.name == "cargo clippy":
        return argv  # cargo lints the whole crate
    if chain.name == "mypy" and argv[-1] == ".":
        argv.pop()  # the default target gives way to the ones asked for
    return [*argv, "--", *targets] if chain.name in ("ruff", "mypy") else [*argv, *targets]
