"""Reading linters' and test runners' machine-readable output into diagnostics and test reports.

Each parser takes the run's output (and, for pytest, its JUnit XML) and never raises on garbage:
what it cannot read becomes nothing, and the caller reports the raw output instead.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from typing import Any, Literal

from pydantic import BaseModel, Field

Severity = Literal["error", "warning", "info"]
EXCERPT_LINES = 30


class Diagnostic(BaseModel):
    path: str
    line: int
    column: int
    code: str | None
    severity: Severity
    message: str
    tool: str


class Failure(BaseModel):
    test_id: str
    path: str | None = None
    line: int | None = None
    kind: Literal["failed", "error"] = "failed"
    message: str
    traceback: str = Field("", description="a short excerpt: the end of the traceback")
    frames: list[tuple[str, int]] = Field(default_factory=list, exclude=True)  # every frame, deepest last


class TestCounts(BaseModel):
    __test__ = False  # not a pytest test class

    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    xfailed: int = Field(0, description="expected failures (pytest xfail, unittest expectedFailure)")
    xpassed: int = Field(0, description="expected to fail, passed")
    deselected: int = Field(0, description="not run: left out by keyword or marker")
    subtests_passed: int = Field(0, description="pytest 9 subtests (unittest subTest too) that passed")
    subtests_failed: int = Field(0, description="subtests that failed (each also listed as a failure)")
    failures: list[Failure] = Field(default_factory=list)
    structured: bool = Field(False, description="whether the counts came from a structured report")


def read_lint(parser: str, output: str, tool: str, root: str) -> list[Diagnostic] | None:
    """Diagnostics from a linter's output; None when this parser cannot read it."""
    reader = _LINT.get(parser)
    if reader is None:
        return None
    try:
        return [d for d in reader(output, tool, root.rstrip("/") + "/")]
    except (ValueError, KeyError, TypeError, AttributeError, IndexError):
        return None


def _rel(path: str, root: str) -> str:
    return path[len(root) :] if path.startswith(root) else path.removeprefix("./")


def _json_start(output: str, opener: str) -> Any:
    start = output.find(opener)
    if start < 0:
        raise ValueError("no JSON in the output")
    return json.JSONDecoder().raw_decode(output[start:])[0]


# Ruff has no levels of its own: syntax errors, E9 (io and syntax) and Pyflakes (F and digits: undefined
# names, bad comparisons…) are errors; every other rule, FURB and FLY among them, is style: a warning.
_RUFF_ERRORS = re.compile(r"invalid-syntax|syntax-error|E9\d\d|F\d+")


def _ruff(output: str, tool: str, root: str) -> Iterator[Diagnostic]:
    for item in _json_start(output, "["):
        code = item.get("code")
        severity: Severity = "error" if code is None or _RUFF_ERRORS.fullmatch(code) else "warning"
        loc = item.get("location") or {"row": 1, "column": 1}
        yield Diagnostic(
            path=_rel(item["filename"], root),
            line=loc["row"],
            column=loc["column"],
            code=code,
            severity=severity,
            message=item["message"],
            tool=tool,
        )


_MYPY = re.compile(
    r"^(?P<path>[^:\n]+):(?P<line>\d+):(?:(?P<col>\d+):)? (?P<sev>error|warning|note): (?P<msg>.*?)"
    r"(?:  \[(?P<code>[\w-]+)\])?$",
    re.MULTILINE,
)


def _mypy(output: str, tool: str, root: str) -> Iterator[Diagnostic]:
    """mypy's findings; a note at the place of the error before it is that error's hint (as in `mypy -O json`)."""
    last: Diagnostic | None = None
    for m in _MYPY.finditer(output):
        path, line, column = _rel(m["path"], root), int(m["line"]), int(m["col"] or 1)
        if m["sev"] == "note" and last is not None and (last.path, last.line, last.column) == (path, line, column):
            last.message += f" (hint: {m['msg']})"
            continue
        if last is not None:
            yield last
        severity: Severity = "info" if m["sev"] == "note" else m["sev"]  # type: ignore[assignment]
        last = Diagnostic(
            path=path, line=line, column=column, code=m["code"], severity=severity, message=m["msg"], tool=tool
        )
    if last is not None:
        yield last


def _eslint(output: str, tool: str, root: str) -> Iterator[Diagnostic]:
    for file in _json_start(output, "["):
        for msg in file.get("messages", []):
            yield Diagnostic(
                path=_rel(file["filePath"], root),
                line=msg.get("line") or 1,
                column=msg.get("column") or 1,
                code=msg.get("ruleId"),
                severity="error" if msg.get("severity") == 2 else "warning",
                message=msg["message"],
                tool=tool,
            )


_GO_VET = re.compile(
    r"^(?:vet: )?(?P<path>[^:\s][^:\n]*\.go):(?P<line>\d+):(?:(?P<col>\d+):)? (?P<msg>.+)$", re.MULTILINE
)


def _go_vet(output: str, tool: str, root: str) -> Iterator[Diagnostic]:
    for m in _GO_VET.finditer(output):
        yield Diagnostic(
            path=_rel(m["path"], root),
            line=int(m["line"]),
            column=int(m["col"] or 1),
            code=None,
            severity="error",
            message=m["msg"],
            tool=tool,
        )


def _clippy(output: str, tool: str, root: str) -> Iterator[Diagnostic]:
    for line in output.splitlines():
        if not line.startswith("{"):
            continue
        event = json.loads(line)
        message = event.get("message") if event.get("reason") == "compiler-message" else None
        if not message or message.get("level") not in ("error", "warning"):
            continue
        span = next((s for s in message.get("spans", []) if s.get("is_primary")), None)
        if span is None:
            continue
        yield Diagnostic(
            path=_rel(span["file_name"], root),
            line=span["line_start"],
            column=span["column_start"],
            code=(message.get("code") or {}).get("code"),
            severity=message["level"],
            message=message["message"],
            tool=tool,
        )


_LINT: dict[str, Callable[[str, str, str], Iterator[Diagnostic]]] = {
    "ruff-json": _ruff,
    "mypy": _mypy,
    "eslint-json": _eslint,
    "go-vet": _go_vet,
    "clippy-json": _clippy,
}


_VERBOSE = re.compile(
    r"^(?P<node>\S+::\S.*?) (?:(?P<status>PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)\b.*)?$", re.MULTILINE
)
_VERBOSE_KIND = {"PASSED": "passed", "FAILED": "failed", "ERROR": "errors", "SKIPPED": "skipped", "XFAIL": "xfailed"}


_VENDORED = re.compile(r"/(site-packages|node_modules|\.venv|venv)/")


def _in_workspace(counts: TestCounts | None, root: str) -> TestCounts | None:
    """Failures located in the workspace: the deepest frame inside it, paths relative to it."""
    if counts is None:
        return None
    base = root.rstrip("/") + "/"
    located = []
    for failure in counts.failures:
        inside = [(p, n) for p, n in failure.frames if p.startswith(base) and not _VENDORED.search(p)]
        path, line = inside[-1] if inside else (failure.path, failure.line)
        if path and path.startswith(base):
            path = path[len(base) :]
        test_id = failure.test_id.removeprefix(base)  # a JavaScript file that failed to load is its own id
        located.append(failure.model_copy(update={"path": path, "line": line, "test_id": test_id}))
    return counts.model_copy(update={"failures": located})


def read_unfinished(parser: str, output: str, root: str) -> tuple[TestCounts | None, str | None]:
    """What a stopped run finished, and the test it was running, from pytest's verbose output."""
    if parser != "pytest-junit":
        return None, None
    counts = TestCounts(structured=False)
    prefix = _rootdir_prefix(output, root)
    running = None
    for found in _VERBOSE.finditer(output):
        status = found["status"]
        if status is None:
            running = prefix + found["node"].strip()
            continue
        running = None
        field = _VERBOSE_KIND.get(status, "xpassed")
        setattr(counts, field, getattr(counts, field) + 1)
        if status in ("FAILED", "ERROR"):
            node = prefix + found["node"]
            kind = "failed" if status == "FAILED" else "error"
            counts.failures.append(Failure(test_id=node, path=node.split("::")[0], kind=kind, message=status))
    tail = output.rstrip("\n").rsplit("\n", 1)[-1]
    if "::" in tail and not _VERBOSE.fullmatch(tail) and running is None:
        running = prefix + tail.split(" ")[0]
    return counts, running


def read_tests(parser: str, output: str, junit_xml: str | None, root: str) -> TestCounts | None:
    """Counts and failures from a test run; None when nothing structured could be read."""
    try:
        if parser == "pytest-junit" and junit_xml:
            counts = _junit(junit_xml, root.rstrip("/") + "/", _rootdir_prefix(output, root))
            return _with_pytest_summary(counts, output)
        reader = _TESTS.get(parser)
        return _in_workspace(reader(output), root) if reader is not None else None
    except (ValueError, KeyError, TypeError, AttributeError, ET.ParseError):
        return None


def _excerpt(text: str) -> str:
    lines = text.strip().splitlines()
    return "\n".join(lines[-EXCERPT_LINES:])


def _node_id(path: str | None, classname: str, name: str) -> str:
    """pytest's node id (path::Class::test) from JUnit's file, classname and name."""
    if not path:
        return f"{classname}::{name}"
    module = path.removesuffix(".py").replace("/", ".")
    classes = classname[len(module) + 1 :].split(".") if classname.startswith(module + ".") else []
    return "::".join([path, *classes, name])


_FRAME = re.compile(r"^([^\s:][^:\n]*\.py):(\d+): ", re.MULTILINE)


def _failing_frame(text: str, path: str | None, def_line: str | None) -> tuple[str | None, int | None]:
    """Where it failed: the deepest frame of pytest's traceback inside the workspace (it prints
    ``path:line: Error`` relative to where it ran), else the test's own ``def`` line."""
    frames = [(p, int(n)) for p, n in _FRAME.findall(text)]
    inside = [(p, n) for p, n in frames if not p.startswith(("/", "..")) and "site-packages" not in p]
    if inside:
        return inside[-1]
    return path, int(def_line) + 1 if def_line and def_line.isdigit() else None


def _rootdir_prefix(output: str, root: str) -> str:
    """pytest's rootdir relative to the workspace, as a prefix for the paths its report gives ('' at the root)."""
    found = re.search(r"^rootdir: (.+?)(?:, |$)", output, re.MULTILINE)
    if found is None:
        return ""
    rootdir = found[1].rstrip("/") + "/"
    base = root.rstrip("/") + "/"
    return rootdir[len(base) :] if rootdir.startswith(base) else ""


_SUMMARY = re.compile(r"^=+ (.+?) in [\d.]+s(?: \([^)]*\))? =+$", re.MULTILINE)
_SUMMARY_PART = re.compile(r"(\d+) (failed|passed|skipped|deselected|xfailed|xpassed|errors?)\b")


def _with_pytest_summary(counts: TestCounts, output: str) -> TestCounts:
    """Counts as pytest's own closing line gives them (JUnit has no deselected, xpassed or subtests)."""
    lines = _SUMMARY.findall(output)
    if not lines:
        return counts
    subtests = {kind: int(n) for n, kind in re.findall(r"(\d+) subtests (passed|failed)", lines[-1])}
    parts = {
        kind.removesuffix("s") if kind.startswith("error") else kind: int(n)
        for n, kind in _SUMMARY_PART.findall(lines[-1])
    }
    return counts.model_copy(
        update={
            "passed": parts.get("passed", 0),
            "failed": parts.get("failed", 0),
            "errors": parts.get("error", 0),
            "skipped": parts.get("skipped", 0),
            "xfailed": parts.get("xfailed", 0),
            "xpassed": parts.get("xpassed", 0),
            "deselected": parts.get("deselected", 0),
            "subtests_passed": subtests.get("passed", 0),
            "subtests_failed": subtests.get("failed", 0),
        }
    )


def _junit(xml_text: str, root: str, prefix: str = "") -> TestCounts:
    tree = ET.fromstring(xml_text)
    counts = TestCounts(structured=True)
    for case in tree.iter("testcase"):
        problem = next((c for c in case if c.tag in ("failure", "error", "skipped")), None)
        if problem is None:
            counts.passed += 1
            continue
        if problem.tag == "skipped":
            if problem.get("type") == "pytest.xfail":
                counts.xfailed += 1
            else:
                counts.skipped += 1
            continue
        kind: Literal["failed", "error"] = "failed" if problem.tag == "failure" else "error"
        counts.failed += kind == "failed"
        counts.errors += kind == "error"
        file = case.get("file")
        test_id = _node_id(file, case.get("classname", ""), case.get("name", "?"))
        path = prefix + _rel(file, root) if file else None
        where, line = _failing_frame(problem.text or "", path, case.get("line"))
        counts.failures.append(
            Failure(
                test_id=prefix + test_id if file else test_id,
                path=where,
                line=line,
                kind=kind,
                message=(problem.get("message") or "").strip()[:2000],
                traceback=_excerpt(problem.text or ""),
            )
        )
    return counts


_UNITTEST_HEAD = re.compile(r"^(FAIL|ERROR): (\S+) \(([^)]+)\)", re.MULTILINE)
_UNITTEST_RAN = re.compile(r"^Ran (\d+) tests? in", re.MULTILINE)
_UNITTEST_END = re.compile(r"^(OK|FAILED)(?: \((.*)\))?\s*$", re.MULTILINE)


def _unittest(output: str) -> TestCounts | None:
    ran = _UNITTEST_RAN.search(output)
    end = _UNITTEST_END.search(output)
    if ran is None or end is None:
        return None
    details = dict(
        (k.strip(), int(v)) for k, v in (part.split("=") for part in (end[2] or "").split(",") if "=" in part)
    )
    counts = TestCounts(
        failed=details.get("failures", 0),
        errors=details.get("errors", 0),
        skipped=details.get("skipped", 0),
        xfailed=details.get("expected failures", 0),
        xpassed=details.get("unexpected successes", 0),
        structured=True,  # its own closing lines: "Ran N tests", "FAILED (failures=…)"
    )
    counts.passed = int(ran[1]) - counts.failed - counts.errors - counts.skipped - counts.xfailed - counts.xpassed
    for block in re.split(r"^={50,}$", output, flags=re.MULTILINE):
        head = _UNITTEST_HEAD.search(block)
        if head is None:
            continue
        body = block.split("-" * 70, 1)[-1].split("-" * 70, 1)[0]
        frames = re.findall(r'File "([^"]+)", line (\d+)', body)
        lines = body.strip().splitlines()
        last_frame = max((i for i, line in enumerate(lines) if line.lstrip().startswith('File "')), default=-1)
        message = next((line for line in lines[last_frame + 1 :] if line and not line.startswith(" ")), "")
        counts.failures.append(
            Failure(
                test_id=head[3],  # dotted, as `python -m unittest` takes it back
                path=frames[-1][0] if frames else None,
                line=int(frames[-1][1]) if frames else None,
                kind="failed" if head[1] == "FAIL" else "error",
                message=message or (lines[-1] if lines else ""),
                traceback=_excerpt(body),
                frames=[(p, int(n)) for p, n in frames],
            )
        )
    return counts


def _go_test_json(output: str) -> TestCounts:
    counts = TestCounts(structured=True)
    logs: dict[str, list[str]] = {}
    for line in output.splitlines():
        if not line.startswith("{"):
            continue
        event = json.loads(line)
        test = event.get("Test")
        if not test:
            continue
        key = f"{event.get('Package', '')}.{test}"
        action = event.get("Action")
        if action == "output":
            logs.setdefault(key, []).append(event.get("Output", ""))
        elif action == "pass":
            counts.passed += 1
        elif action == "skip":
            counts.skipped += 1
        elif action == "fail":
            counts.failed += 1
            counts.failures.append(_failure_in_output(key, "".join(logs.get(key, [])), _GO_LOCATION))
    return counts


_GO_LOCATION = re.compile(r"(\S+\.go):(\d+):")
_RUST_LOCATION = re.compile(r"(\S+\.rs):(\d+):\d+")


def _failure_in_output(test_id: str, text: str, location: re.Pattern[str]) -> Failure:
    """A failure read from its test's output: the first ``file:line`` it names, and its last line as the message."""
    where = location.search(text)
    return Failure(
        test_id=test_id,
        path=where[1] if where else None,
        line=int(where[2]) if where else None,
        message=text.strip().splitlines()[-1] if text.strip() else "failed",
        traceback=_excerpt(text),
    )


_JS_FRAME = re.compile(r"(?:file://)?(/[^\s():]+):(\d+):\d+")


def _jest_json(output: str) -> TestCounts:
    report = _json_start(output, "{")
    counts = TestCounts(
        passed=report["numPassedTests"],
        failed=report["numFailedTests"],
        skipped=report.get("numPendingTests", 0) + report.get("numTodoTests", 0),
        structured=True,
    )
    for suite in report.get("testResults", []):
        if _failed_to_load(suite):
            counts.errors += 1
            text = suite.get("message") or "the file failed to load"
            stack = [(path, int(line)) for path, line in _JS_FRAME.findall(text)]
            counts.failures.append(
                Failure(
                    test_id=suite.get("name") or "?",
                    path=suite.get("name"),
                    kind="error",
                    message=text.strip().splitlines()[0],
                    traceback=_excerpt(text),
                    frames=stack[::-1],
                )
            )
        for case in suite.get("assertionResults", []):
            if case.get("status") != "failed":
                continue
            text = "\n".join(case.get("failureMessages") or [])
            location = case.get("location") or {}
            stack = [(path, int(line)) for path, line in _JS_FRAME.findall(text)]
            counts.failures.append(
                Failure(
                    test_id=case.get("fullName", "?"),
                    path=suite.get("name"),
                    line=location.get("line"),
                    message=text.strip().splitlines()[0] if text else "failed",
                    traceback=_excerpt(text),
                    frames=stack[::-1],  # a JavaScript stack lists the innermost call first
                )
            )
    return counts


def _failed_to_load(suite: dict[str, Any]) -> bool:
    """A test file that failed before any of its tests could fail (an import, a syntax error, a hook).

    jest counts these as numRuntimeErrorTestSuites; vitest only marks the file failed with a message.
    """
    failed_tests = any(case.get("status") == "failed" for case in suite.get("assertionResults", []))
    return suite.get("status") == "failed" and not failed_tests


_CARGO_RESULT = re.compile(r"^test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored", re.MULTILINE)


def _cargo_test(output: str) -> TestCounts | None:
    results = _CARGO_RESULT.findall(output)
    if not results:
        return None
    counts = TestCounts(
        passed=sum(int(r[0]) for r in results),
        failed=sum(int(r[1]) for r in results),
        skipped=sum(int(r[2]) for r in results),
    )
    for name, body in re.findall(r"^---- (\S+) stdout ----\n(.*?)(?=^---- |^failures:|\Z)", output, re.M | re.S):
        counts.failures.append(_failure_in_output(name, body, _RUST_LOCATION))
    return counts


_TESTS: dict[str, Callable[[str], TestCounts | None]] = {
    "unittest": _unittest,
    "go-test-json": _go_test_json,
    "jest-json": _jest_json,
    "cargo-test": _cargo_test,
}
