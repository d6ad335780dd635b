"""run_tests: the workspace's test runner, with counts and failures read from a structured report."""

from __future__ import annotations

import fnmatch
import functools
import logging
import math
import os
import re
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Literal

import anyio
from pydantic import BaseModel, Field

from volley.affected import (
    Selection,
    changed_files,
    describe,
    last_failures,
    outside_environments,
    remember_failures,
    select,
)
from volley.affected.by_record import select_recorded
from volley.affected.pytest_plugins import CHOICE, choosing
from volley.affected.recorded import PRELOAD, Recording, Store, prepare, recording_wanted, take_in
from volley.affected.suite import Suite
from volley.budget import body_chars
from volley.concurrency import blocking, concurrently
from volley.errors import InputError, ToolchainError, VolleyError
from volley.index import visible_files
from volley.jobs import JOBS, Job
from volley.parsers import Failure, TestCounts, read_tests, read_unfinished
from volley.process import Completed, run_process
from volley.projects import inner, outer, planned
from volley.runs import head_and_tail
from volley.spare import run_warm
from volley.test_argv import launch
from volley.text import read_report
from volley.toolchains import Toolchain, choose, missing_toolchain
from volley.tools.arguments import plain_word, test_target
from volley.workspace import Workspace

MAX_FAILURES = 20
PROGRESS_EVERY_S = 2.0
PROGRESS_POLL_S = 0.25
Progress = Callable[[float, float | None, str], Awaitable[None]]
Status = Literal["passed", "failed", "no tests", "timed out", "crashed", "interrupted", "running"]
_PERCENT = re.compile(rb"\[\s*(\d{1,3})%\]")

log = logging.getLogger(__name__)
CHOSEN_SHOWN = 200  # of a selection, the tests an answer names


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
    subtests_passed: int = 0
    subtests_failed: int = 0
    duration_s: float
    failures: list[Failure]
    more_failures: int = Field(0, description="failures beyond those listed")
    structured: bool = Field(description="whether counts come from a structured report rather than the exit code")
    leftover_processes: int = Field(0, description="processes the run left behind (they were killed)")
    run_id: str | None = Field(description="page the full output with run_output(run_id); None when not kept")
    running_when_stopped: str | None = Field(None, description="the test running when the time limit struck")
    job_id: str | None = Field(None, description="a run still going: test_results(run_id=job_id) waits for the rest")
    output_head: str
    output_tail: str
    selection: str | None = Field(default=None, description="affected=true: which test files were chosen, and why")
    chosen: list[str] = Field(
        default_factory=list,
        description=f"affected=true: the test files and tests chosen (the first {CHOSEN_SHOWN}), run as the suite "
        "collects them (a file the project's configuration leaves out stays out)",
    )
    projects: list[str] = Field(default_factory=list, description="several projects ran: a line per project")
    hint: str | None = Field(None, description="what the run's result suggests doing next")

    def render(self) -> str:
        extra = (
            (self.xfailed, "xfailed"),
            (self.xpassed, "xpassed"),
            (self.deselected, "deselected"),
            (self.subtests_passed, "subtests passed"),
            (self.subtests_failed, "subtests failed"),
        )
        more = "".join(f", {n} {what}" for n, what in extra if n)
        out = [
            f"{self.status.upper()}: {self.passed} passed, {self.failed} failed, {self.errors} errors, "
            f"{self.skipped} skipped{more} in {self.duration_s:.1f} s ({self.runner}"
            + (f", exit {self.exit_code})" if self.status != "running" else ")")
        ]
        for f in self.failures:
            where = (f"{f.path}:{f.line}" if f.line else f.path) if f.path else "?"
            out.append(f"\n{f.kind.upper()} {f.test_id} ({where})\n  {f.message}\n{_indent(f.traceback)}")
        if self.more_failures:
            rest = "run them by target or keyword, or read run_output"
            out.append(f"[{self.more_failures} more failures not shown; {rest}]")
        if self.job_id:
            now = f" (now running {self.running_when_stopped})" if self.running_when_stopped else ""
            out[0] = out[0].replace(" in ", " so far, after ", 1)
            out.append(
                f"[the run goes on{now}: call test_results(run_id={self.job_id!r}) to wait for the rest; "
                "counts so far are read from its output]"
            )
        elif self.running_when_stopped:
            out.append(f"[stopped at the time limit while running {self.running_when_stopped}]")
        if self.leftover_processes:
            out.append(f"[the run left {self.leftover_processes} processes behind; they were killed]")
        if self.status != "running" and (
            not self.structured or self.status in ("timed out", "crashed", "interrupted", "no tests")
        ):
            out.append("--- output ---\n" + self.output_head + (f"\n…\n{self.output_tail}" if self.output_tail else ""))
        if self.run_id:
            out.append(f"[full output: run_output(run_id={self.run_id!r})]")
        if self.projects:
            out[1:1] = self.projects
        if self.hint:
            out.insert(1, self.hint)
        if self.selection:
            out.insert(0, self.selection)
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


LATE = ("VOLLEY_RECORD_DIR", CHOICE)  # what differs between pytest runs a spare interpreter may become (volley/spare)


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
    affected: Annotated[
        bool,
        Field(
            description="only the test files the change can affect (Python: the import graph; git diff against since)"
        ),
    ] = False,
    since: Annotated[str | None, Field(description="affected: the commit the change is against (default HEAD)")] = None,
    progress: Progress | None = None,
) -> TestResult:
    """Run the workspace's tests (pytest, else unittest; vitest/jest/npm test; go test; cargo test) and
    return counts and, per failure, the test id, file, line, message and a traceback excerpt.

    Test runs in one workspace are serialized. A run over its time limit is killed with every process
    it started; the full output stays available through run_output. A run still going when the answer
    is due (answer_within_s, under hosts' request time limits) is answered with what finished so far and
    its run id: test_results(run_id) waits for the rest.
    """
    selection = None
    if affected:
        if targets:
            raise InputError("affected=true chooses the targets itself: pass targets or affected, not both")
        if since is not None:
            plain_word(since, "since")
        selection = await blocking(_selected, ws, since)
        targets = selection.tests if not selection.whole_suite else None
        if not selection.whole_suite and not selection.tests:
            return _nothing_to_run(runner or "tests", selection)
    elif since is not None:
        raise InputError("since is for affected=true (the commit the change is measured against)")
    if keyword is not None:
        plain_word(keyword, "keyword")
    runs = []
    for plan in await planned(ws, "test", targets or []):
        chain = choose(plan.chains, "test", runner, ws.root)[0]
        if chain.missing:
            raise ToolchainError(chain.missing)
        paths = [inner(plan.project, test_target(ws, t, chain.name)) for t in plan.targets]
        runs.append((chain, [p for p in paths if p != "."]))  # the project's folder: its suite, as it runs it
    if not runs:
        raise ToolchainError(missing_toolchain("test", ws.root))
    name = runs[0][0].name if len(runs) == 1 else " + ".join(sorted({c.name for c, _ in runs}))
    chosen = selection is not None  # (the targets are Volley's choice: run as part of the suite)
    job = JOBS.start(name, lambda job: _execute_all(ws, job, runs, keyword, fail_fast, timeout_s, chosen))
    job.toolchain, job.workspace = runs[0][0], ws
    try:
        result = await _answer(ws, job, progress, ws.config.test.answer_within_s if JOBS.detach else math.inf)
        if result.status != "running":
            failed = [f.test_id.split("::", 1)[0] for f in result.failures]
            await blocking(remember_failures, str(ws.root), failed, targets, result.more_failures)
        if result.status == "no tests" and result.runner == "pytest" and not targets and keyword is None:
            result = result.model_copy(update={"hint": await blocking(_unittest_hint, ws)})
        if selection is None:
            return result
        return result.model_copy(update={"selection": describe(selection), "chosen": selection.tests[:CHOSEN_SHOWN]})
    except BaseException:  # cancelled before its answer (the client cancelled, or went away): the run goes too
        job.cancel()
        raise


async def _execute_all(
    ws: Workspace,
    job: Job,
    runs: list[tuple[Toolchain, list[str]]],
    keyword: str | None,
    fail_fast: bool,
    timeout_s: float | None,
    chosen: bool,
) -> TestResult:
    """One run per project, at once (each project's runs are serialized on their own); one answer."""
    if len(runs) == 1:
        chain, paths = runs[0]
        return await _execute(ws, job, chain, paths, keyword, fail_fast, timeout_s or chain.timeout_s, chosen)

    async def one(chain: Toolchain, paths: list[str]) -> TestResult:
        part = Job(id=job.id, runner=chain.name)
        result = await _execute(ws, part, chain, paths, keyword, fail_fast, timeout_s or chain.timeout_s, chosen)
        job.take(f"===== {chain.cwd or '.'}: {chain.name} =====\n".encode() + bytes(part.output))
        return result

    parts = await concurrently([functools.partial(one, chain, paths) for chain, paths in runs])
    return _merged(ws, job, [chain for chain, _ in runs], parts)


def _merged(ws: Workspace, job: Job, chains: list[Toolchain], parts: list[TestResult]) -> TestResult:
    """The projects' results as one: counts summed, failures joined, the worst status, a line per project."""
    first = parts[0]
    counts = ("passed", "failed", "errors", "skipped", "xfailed", "xpassed", "deselected")
    summed = {name: sum(getattr(p, name) for p in parts) for name in (*counts, "subtests_passed", "subtests_failed")}
    failures = [f for p in parts for f in p.failures]
    status = min((p.status for p in parts), key=_STATUS_ORDER.index)
    lines = [
        f"{chain.cwd or '.'}: {p.runner} {p.status}, {p.passed} passed, {p.failed} failed, {p.errors} errors"
        + (f", {p.subtests_passed} subtests passed" if p.subtests_passed else "")
        + f" ({p.duration_s:.1f} s)"
        for chain, p in zip(chains, parts, strict=True)
    ]
    return first.model_copy(
        update={
            **summed,
            "runner": job.runner,
            "argv": [word for p in parts for word in [*p.argv, ";"]][:-1],
            "status": status,
            "exit_code": max((p.exit_code or 0 for p in parts), default=0),
            "duration_s": round(job.elapsed(), 3),
            "failures": failures[:MAX_FAILURES],
            "more_failures": sum(p.more_failures for p in parts) + max(0, len(failures) - MAX_FAILURES),
            "structured": all(p.structured for p in parts),
            "leftover_processes": sum(p.leftover_processes for p in parts),
            "run_id": ws.runs.save(bytes(job.output)),
            "projects": lines,
        }
    )


_STATUS_ORDER: list[Status] = ["crashed", "timed out", "interrupted", "failed", "running", "passed", "no tests"]


def _selected(ws: Workspace, since: str | None) -> Selection:
    changed, failed = changed_files(ws, since), last_failures(str(ws.root))
    chosen = select_recorded(ws, changed, failed) if ws.config.test.record != "never" else None
    if chosen is not None:
        return chosen
    chosen = select(ws, changed, failed)
    store = Store.load(str(ws.root))
    if ws.config.test.record == "never":
        why = "[test] record = never"
    elif store.note:
        why = store.note
    else:
        why = (
            "no pytest run has recorded which code each test runs yet: the next runs do (on Python 3.12 or later;"
            " before, where the project's interpreter has coverage.py)"
        )
        store.save(str(ws.root))  # asked for: from now on, pytest runs record (record = auto)
    chosen.note = f"recorded way not taken: {why}"
    return chosen


def _unittest_hint(ws: Workspace) -> str | None:
    """When pytest found no test: the files unittest's discovery would (``test*.py``) that pytest's naming does
    not, if any (blocking)."""
    files = outside_environments(visible_files(ws, ws.resolve(".")))
    suite = Suite(ws.root, files)
    named = [f for f in files if fnmatch.fnmatchcase(f.rsplit("/", 1)[-1], "test*.py") and not suite.holds(f)]
    if not named:
        return None
    shown = ", ".join(named[:3]) + (f" and {len(named) - 3} more" if len(named) > 3 else "")
    why = "pytest collected no test; unittest's discovery also reads test*.py files, which pytest leaves out"
    return f"{why}: {shown} (runner='unittest')"


def _nothing_to_run(runner: str, selection: Selection) -> TestResult:
    return TestResult(
        runner=runner,
        argv=[],
        status="no tests",
        exit_code=None,
        passed=0,
        failed=0,
        errors=0,
        skipped=0,
        duration_s=0.0,
        failures=[],
        structured=True,
        run_id=None,
        output_head="",
        output_tail="",
        selection=describe(selection),
    )


async def test_results(
    ws: Workspace,
    run_id: Annotated[str, Field(description="the id a run_tests answer gave for a run still going")],
    wait_s: Annotated[
        float | None, Field(gt=0, le=110, description="how long to wait for it to end (default: answer_within_s)")
    ] = None,
    progress: Progress | None = None,
) -> TestResult:
    """Wait for a test run that run_tests answered before it ended, and return its result (or, if it is
    still going when the wait is over, what has finished so far; call again)."""
    job = JOBS.get(run_id)
    ws = job.workspace or ws  # the workspace it runs in, whichever the call was routed to
    return await _answer(ws, job, progress, wait_s or ws.config.test.answer_within_s)


test_results.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


async def _answer(ws: Workspace, job: Job, progress: Progress | None, within: float) -> TestResult:
    """The run's result once it ends, or what it has done so far when ``within`` passes first."""
    if progress is None:
        finished = await job.wait(within)
    else:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_report_progress, job, progress)
            finished = await job.wait(within)
            if not finished:
                tg.cancel_scope.cancel()  # else the reporter sends its last figure and stops
    if not finished:
        return await blocking(_so_far, ws, job)  # parses up to 8 MB of output: not on the event loop
    if isinstance(job.error, BaseException):
        if isinstance(job.error, VolleyError):
            raise job.error
        raise InputError(f"test run {job.id} ended without a result: {job.error!r}")
    return job.result


async def _execute(
    ws: Workspace,
    job: Job,
    chain: Toolchain,
    paths: list[str],
    keyword: str | None,
    fail_fast: bool,
    limit: float,
    chosen: bool = False,
) -> TestResult:
    """One runner's run of ``paths`` (``chosen``: Volley's choice, run as part of the suite as the project
    collects it: named to pytest, a file its conftest leaves out would run)."""
    home = str(ws.root / chain.cwd)  # the project's folder ("": the root); its report's paths are from it
    choice = chosen and chain.name == "pytest" and bool(paths)
    async with _serial(ws, chain.cwd):
        with tempfile.TemporaryDirectory(prefix="volley-report-") as tmp:
            run = launch(chain, [] if choice else paths, keyword, fail_fast, tmp)
            argv = job.argv = run.shown or run.argv

            async def take(chunk: bytes) -> None:
                job.take(chunk)

            env = {**chain.env, **run.env}
            recording = None
            if chain.name == "pytest" and recording_wanted(str(ws.root), ws.config.test.record):
                whole_files = keyword is None and not fail_fast
                recording = Recording(os.path.join(tmp, "record"), paths or None, whole_files)
                run_argv, env = prepare(run.argv, env, str(ws.root), recording)
            else:
                run_argv = run.argv
            if choice:
                run_argv, env = choosing(run_argv, env, home, paths, tmp)
            if chain.name == "pytest" and ws.config.test.warm:
                done = await run_warm(
                    run_argv,
                    cwd=home,
                    env=env,
                    late=LATE,
                    root=str(ws.root),
                    preload=[PRELOAD] if recording is not None else [],
                    timeout=limit,
                    on_output=take,
                    next_run=JOBS.detach,  # (`volley call` ends with this run: no next one)
                )
            else:
                done = await run_process(run_argv, cwd=home, env=env, timeout=limit, on_output=take)
            report = read_report(run.report) if run.report else None
            if recording is not None and not done.timed_out and done.exit_code in (0, 1):
                said = await blocking(take_in, str(ws.root), recording, not fail_fast or done.exit_code == 0)
                log.info("affected tests: %s", said)
    output = done.output.decode("utf-8", errors="replace")
    running = None
    if done.timed_out:  # no report was written: what finished, and what was running, from the live output
        counts, running = read_unfinished(chain.parser, output, home)
    else:
        counts = read_tests(chain.parser, output, report, home)
    if counts is not None and chain.cwd:
        counts.failures = [_in_workspace(chain.cwd, f) for f in counts.failures]
    status = _status(chain, done, counts)
    result = _result(ws, chain, argv, status, counts or TestCounts(), output, done.exit_code, done.duration_s)
    return result.model_copy(
        update={
            "leftover_processes": done.leftovers,
            "run_id": ws.runs.save(done.output),
            "running_when_stopped": running,
        }
    )


def _result(
    ws: Workspace,
    chain: Toolchain,
    argv: list[str],
    status: Status,
    counts: TestCounts,
    output: str,
    exit_code: int | None,
    duration_s: float,
) -> TestResult:
    head, tail = head_and_tail(output, ws.config.limits.output_head_chars)
    room = body_chars(ws.config.limits.answer_chars) - len(head) - len(tail) - 200
    failures = _fit_failures(counts.failures[:MAX_FAILURES], room)
    return TestResult(
        runner=chain.name,
        argv=argv,
        status=status,
        exit_code=exit_code,
        passed=counts.passed,
        failed=counts.failed,
        errors=counts.errors,
        skipped=counts.skipped,
        xfailed=counts.xfailed,
        xpassed=counts.xpassed,
        deselected=counts.deselected,
        subtests_passed=counts.subtests_passed,
        subtests_failed=counts.subtests_failed,
        duration_s=round(duration_s, 3),
        failures=failures,
        more_failures=len(counts.failures) - len(failures),
        structured=counts.structured,
        run_id=None,
        output_head=head,
        output_tail=tail,
    )


def _in_workspace(project: str, failure: Failure) -> Failure:
    """A failure read in a project's directory, its path and test id relative to the workspace."""
    test_id = failure.test_id
    if failure.path and test_id.startswith(failure.path):
        test_id = outer(project, test_id)
    return failure.model_copy(update={"path": outer(project, failure.path or ""), "test_id": test_id})


def _so_far(ws: Workspace, job: Job) -> TestResult:
    """A run still going: what its live output says has finished, and what it is running."""
    chain: Toolchain = job.toolchain
    output = job.output.decode("utf-8", errors="replace")
    counts, running = read_unfinished(chain.parser, output, str(ws.root))
    result = _result(ws, chain, job.argv, "running", counts or TestCounts(), output, None, job.elapsed())
    return result.model_copy(update={"job_id": job.id, "running_when_stopped": running})


_SERIALS: dict[str, anyio.Semaphore] = {}


def _serial(ws: Workspace, project: str) -> anyio.Semaphore:
    """A project's test-run slots (concurrency.tests: 1 by default): runs fight over caches and ports."""
    key = f"{ws.root}\0{project}"
    if key not in _SERIALS:
        _SERIALS[key] = anyio.Semaphore(ws.config.concurrency.tests)
    return _SERIALS[key]


async def _report_progress(job: Job, progress: Progress) -> None:
    """Progress in one unit for as long as this call waits: pytest's percent of tests done (total 100),
    else seconds with no total; each notification's value above the last, as MCP requires."""
    by_percent = job.runner == "pytest"
    sent, last_sent = -1.0, 0.0

    async def send(value: float, message: str) -> None:
        nonlocal sent, last_sent
        sent, last_sent = max(value, sent + 0.01), time.monotonic()
        await progress(round(sent, 2), 100.0 if by_percent else None, f"{message}, {job.elapsed():.0f} s")

    await send(0.0, f"running {job.runner}")
    while not job.finished.is_set():
        with anyio.move_on_after(PROGRESS_POLL_S):
            await job.finished.wait()
        tail = bytes(job.output[-4096:])
        lines = [line for line in tail.splitlines() if line.strip()]
        if by_percent:
            found = _PERCENT.findall(tail)
            percent = float(found[-1]) if found else 0.0
            if percent > sent or (time.monotonic() - last_sent >= PROGRESS_EVERY_S and not job.finished.is_set()):
                where = _PERCENT.split(lines[-1])[0].decode("utf-8", errors="replace").split(" ")[0] if lines else ""
                await send(percent, f"{percent:.0f}% of tests done" + (f", last {where}" if where else ""))
        elif time.monotonic() - last_sent >= PROGRESS_EVERY_S:
            phase = lines[-1][:120].decode("utf-8", errors="replace").strip() if lines else "starting"
            await send(job.elapsed(), f"running: {phase}")


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
