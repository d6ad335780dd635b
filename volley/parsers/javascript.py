"""JavaScript runners' reports: jest's and vitest's JSON."""

from __future__ import annotations

import re
from typing import Any

from volley.parsers.common import Failure, TestCounts, excerpt, json_start

_JS_FRAME = re.compile(r"(?:file://)?(/[^\s():]+):(\d+):\d+")


def jest_json(output: str) -> TestCounts:
    report = json_start(output, "{")
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
                    traceback=excerpt(text),
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
                    traceback=excerpt(text),
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
