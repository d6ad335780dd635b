"""run_tests: the workspace's test runner, with counts and failures read from a structured report."""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Literal

import anyio
from pydantic import BaseModel, Field

from volley.budget import body_chars
from volley.parsers import Failure, TestCounts, read_tests, read_unfinished
from volley.process import Completed, run_process
from volley.runs import head_and_tail
from volley.toolchains import Toolchain, choose, offered
from volley.tools.arguments import plain_word, test_target
from volley.workspace import Workspace

MAX_FAILURES = 20
PROGRESS_EVERY_S = 2.0
Progress = Callable[[float, float | None, str], Awaitable[None]]
Status = Literal["passed", "failed", "no tests", "timed out", "crashed", "interrupted"]
_PERCENT = re.compile(rb"\[\s*(\d{1,3})%\]")


class TestResult(BaseModel):
    __test__ = False  # not a pytest test class

    runner: str
    argv: list[str]
    status: Status
    exit_code: int | None
    passed: int
    failed: int
    errors: int
    skipped: int
    xfailed: int = 0
    xpassed: int = 0
    deselected: int = 0
    duration_s: float
    failures: list[Failure]
    more_failures: int = Field(0, description="failures beyond those listed")
    structured: bool = Field(description="whether counts come from a structured report rather than the exit code")
    leftover_processes: int = Field(0, description="processes the run left behind (they were killed)")
    run_id: str | None = Field(description="page the full output with run_output(run_id); None when not kept")
    running_when_stopped: str | None = Field(None, description="the test running when the time limit struck")
    output_head: str
    output_tail: str

    def render(self) -> str:
        more = "".join(
            f", {n} {what}"
            for n, what in ((self.xfailed, "xfailed"), (self.xpassed, "xpassed"), (self.deselected, "deselected"))
            if n
        )
        out = [
            f"{self.status.upper()}: {self.passed} passed, {self.failed} failed, {self.errors} errors, "
            f"{self.skipped} skipped{more} in {self.duration_s:.1f} s ({self.runner}, exit {self.exit_code})"
        ]
        for f in self.failures:
            where = f"{f.path}:{f.line}" if f.path else "?"
            out.append(f"\n{f.kind.upper()} {f.test_id} ({where})\n  {f.message}\n{_indent(f.traceback)}")
        if self.more_failures:
            rest = "run them by target or keyword, or read run_output"
            out.append(f"[{self.more_failures} more failures not shown; {rest}]")
        if self.running_when_stopped:
            out.append(f"[stopped at the time limit while running {self.running_when_stopped}]")
        if self.leftover_processes:
            out.append(f"[the run left {self.leftover_processes} processes behind; they were killed]")
        if not self.structured or self.status in ("timed out", "crashed", "interrupted", "no tests"):
            out.append("--- output ---\n" + self.output_head + (f"\n…\n{self.output_tail}" if self.output_tail else ""))
        if self.run_id:
            out.append(f"[full output: run_output(run_id={self.run_id!r})]")
        return "\n".join(out)


def _fit_failures(failures: list[Failure], chars: int) -> list[Failure]:
    """The failures that fit in ``chars``; a traceback longer than its share keeps its end (the failing line)."""
    share = max(400, chars // max(1, len(failures)))
    kept: list[Failure] = []
    for f in failures:
        if len(f.traceback) > share:
            f = f.model_copy(update={"traceback": "…\n" + f.traceback[-share:].split("\n", 1)[-1]})
        chars -= len(f.test_id) + len(f.message) + len(f.traceback) + len(f.path or "") + 40
        if chars < 0 and kept:
            break
        kept.append(f)
    return kept


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


async def run_tests(
    ws: Workspace,
    targets: Annotated[
        list[str] | None,
        Field(description="test files, directories or node ids (tests/test_x.py::test_y) inside the workspace"),
    ] = None,
    keyword: Annotated[str | None, Field(description="only tests matching this expression (pytest -k)")] = None,
    fail_fast: Annotated[bool, Field(description="stop at the first failure")] = False,
    timeout_s: Annotated[
        float | None, Field(gt=0, le=3600, description="time limit in seconds (default from config: 600)")
    ] = None,
    runner: Annotated[str | None, Field(description="a test runner by name (see list_toolchains)")] = None,
    progress: Progress | None = None,
) -> TestResult:
    """Run the workspace's tests (pytest, else unittest; vitest/jest/npm test; go test; cargo test) and
    return counts and, per failure, the test id, file, line, message and a traceback excerpt.

    Test runs in one workspace are serialized. A run over its time limit is killed with every process
    it started; the full output stays available through run_output.
    """
    chain = choose(await offered(ws.root, ws.config.lint, ws.config.test), "test", runner, ws.root)[0]
    paths = [test_target(ws, t, chain.name) for t in targets or []]
    if keyword is not None:
        plain_word(keyword, "keyword")
    with tempfile.TemporaryDirectory(prefix="volley-junit-") as tmp:
        junit = os.path.join(tmp, "report.xml")
        argv = _argv(chain, paths, keyword, fail_fast, junit)
        done = await _run_with_progress(ws, chain, argv, timeout_s or chain.timeout_s, progress)
        report = _read(junit)
    output = done.output.decode("utf-8", errors="replace")
    running = None
    if done.timed_out:  # no report was written: what finished, and what was running, from the live output
        counts, running = read_unfinished(chain.parser, output, str(ws.root))
    else:
        counts = read_tests(chain.parser, output, report, str(ws.root))
    head, tail = head_and_tail(output, ws.config.limits.output_head_chars)
    status = _status(chain, done, counts)
    counts = counts or TestCounts()
    room = body_chars(ws.config.limits.answer_chars) - len(head) - len(tail) - 200
    failures = _fit_failures(counts.failures[:MAX_FAILURES], room)
    return TestResult(
        runner=chain.name,
        argv=argv,
        status=status,
        exit_code=done.exit_code,
        passed=counts.passed,
        failed=counts.failed,
        errors=counts.errors,
        skipped=counts.skipped,
        xfailed=counts.xfailed,
        xpassed=counts.xpassed,
        deselected=counts.deselected,
        duration_s=round(done.duration_s, 3),
        failures=failures,
        more_failures=len(counts.failures) - len(failures),
        structured=counts.structured,
        leftover_processes=done.leftovers,
        run_id=ws.runs.save(done.output),
        running_when_stopped=running,
        output_head=head,
        output_tail=tail,
    )


async def _run_with_progress(
    ws: Workspace, chain: Toolchain, argv: list[str], timeout: float, progress: Progress | None
) -> Completed:
    if progress is None:
        return await run_process(argv, cwd=str(ws.root), env=chain.env, timeout=timeout)
    started = time.monotonic()
    by_percent = chain.name == "pytest"  # it prints "[ 40%]": tests done of tests collected, from the start
    state = {"sent": -1.0, "percent": 0.0, "phase": "starting"}

    async def send(value: float, message: str) -> None:
        value = max(value, state["sent"] + 0.01)  # MCP: progress increases with every notification
        state["sent"] = value
        total = 100.0 if by_percent else None
        await progress(round(value, 2), total, f"{message}, {time.monotonic() - started:.0f} s")

    async def on_output(chunk: bytes) -> None:
        lines = [line for line in chunk.splitlines() if line.strip()]
        if lines:
            state["phase"] = lines[-1][:120].decode("utf-8", errors="replace").strip()
        found = _PERCENT.findall(chunk) if by_percent else []
        if found and float(found[-1]) > state["percent"]:
            state["percent"] = float(found[-1])
            where = _PERCENT.split(lines[-1])[0].decode("utf-8", errors="replace").split(" ")[0] if lines else ""
            await send(
                state["percent"], f"{state['percent']:.0f}% of tests done" + (f", last in {where}" if where else "")
            )

    async def tick() -> None:
        while True:
            await anyio.sleep(PROGRESS_EVERY_S)
            if by_percent:
                await send(state["percent"], f"{state['percent']:.0f}% of tests done")
            else:
                await send(time.monotonic() - started, f"running: {state['phase']}")

    await send(0.0, f"starting {chain.name}")
    async with anyio.create_task_group() as tg:
        tg.start_soon(tick)
        done = await run_process(argv, cwd=str(ws.root), env=chain.env, timeout=timeout, on_output=on_output)
        tg.cancel_scope.cancel()
    return done


def _argv(chain: Toolchain, paths: list[str], keyword: str | None, fail_fast: bool, junit: str) -> list[str]:
    argv = list(chain.argv)
    if chain.name == "pytest":
        argv += [f"--junitxml={junit}", *(["-x"] if fail_fast else []), *(["-k", keyword] if keyword else [])]
        return [*argv, "--", *paths] if paths else argv
    if chain.name == "unittest":
        argv += [*(["-f"] if fail_fast else []), *(["-k", keyword] if keyword else [])]
        return [*argv, *paths]  # no paths: unittest discovers
    if chain.name in ("jest", "vitest"):
        bail = "--bail=1" if chain.name == "vitest" else "--bail"  # vitest's --bail takes a number
        argv += [*([bail] if fail_fast else []), *(["-t", keyword] if keyword else [])]
    elif chain.name == "go test":
        argv = [*argv[:-1], *(["-failfast"] if fail_fast else []), *(["-run", keyword] if keyword else [])]
        return [*argv, *(paths or ["./..."])]
    elif chain.name == "cargo test":
        return [*argv, *([keyword] if keyword else [])]
    return [*argv, *paths]


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def _status(chain: Toolchain, done: Completed, counts: TestCounts | None) -> Status:
    if done.timed_out:
        return "timed out"
    code = done.exit_code
    if chain.name == "pytest" and counts is None and code not in (0, 5):
        return "crashed"  # it wrote no report: it never ran the tests (a bad plugin, option or conftest)
    if chain.name == "pytest":
        known: dict[int | None, Status] = {0: "passed", 1: "failed", 2: "interrupted", 5: "no tests"}
        return known.get(code, "crashed")
    if counts is not None and (counts.failed or counts.errors):
        return "failed"
    if counts is not None and counts.passed + counts.skipped == 0 and code == 0:
        return "no tests"
    if code == 0:
        return "passed"
    return "failed" if counts is not None else "crashed"
