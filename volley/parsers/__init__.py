"""Reading linters' and test runners' reports into diagnostics and test counts, one module per format family.

Each parser takes the run's report (a file it wrote, or its output) and never raises on garbage: what it
cannot read becomes None, and the caller reports the raw output instead, never "no findings".
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable

from volley.parsers import javascript, pytest_reports, text_runners
from volley.parsers.common import Diagnostic, Failure, TestCounts
from volley.parsers.lint import read_lint
from volley.parsers.pytest_reports import read_unfinished

__all__ = ["Diagnostic", "Failure", "TestCounts", "read_lint", "read_tests", "read_unfinished"]

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


def read_tests(parser: str, output: str, report: str | None, root: str) -> TestCounts | None:
    """Counts and failures from a test run's report (the file it wrote) or, for runners read from their
    output, the output; None when nothing structured could be read."""
    try:
        if parser == "pytest-junit":
            if report is None:
                return None
            counts = pytest_reports.junit(report, root.rstrip("/") + "/", pytest_reports.rootdir_prefix(output, root))
            return pytest_reports.with_summary(counts, output)
        if parser in _FROM_REPORT:
            return _in_workspace(_FROM_REPORT[parser](report), root) if report is not None else None
        reader = _TESTS.get(parser)
        return _in_workspace(reader(output), root) if reader is not None else None
    except (ValueError, KeyError, TypeError, AttributeError, ET.ParseError, RecursionError):  # unreadable
        return None


_FROM_REPORT: dict[str, Callable[[str], TestCounts | None]] = {
    "jest-json": javascript.jest_json,
    "node-junit": javascript.node_junit,
}
_TESTS: dict[str, Callable[[str], TestCounts | None]] = {
    "unittest": text_runners.unittest,
    "go-test-json": text_runners.go_test_json,
    "cargo-test": text_runners.cargo_test,
}
