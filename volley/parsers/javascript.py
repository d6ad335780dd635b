"""JavaScript runners' reports: jest's and vitest's JSON, node's test runner's JUnit XML."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from volley.parsers.common import Failure, TestCounts, excerpt, json_start

_JS_FRAME = re.compile(r"(?:file://)?(/[^\s():]+):(\d+):\d+")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


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
            text = _ANSI.sub("", suite.get("message") or "the file failed to load")
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
            text = _ANSI.sub("", "\n".join(case.get("failureMessages") or []))
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


_NODE_TOTAL = re.compile(r"<!-- (tests|pass|fail|cancelled|skipped|todo) (\d+) -->")


def node_junit(xml_text: str) -> TestCounts:
    """node --test's JUnit report: the counts from its own closing comments, a failure per failed test case
    (describe blocks are suites, not tests), located by the deepest frame of its stack."""
    totals = {kind: int(n) for kind, n in _NODE_TOTAL.findall(xml_text)}
    if "tests" not in totals:
        raise ValueError("no totals in node's report")
    counts = TestCounts(
        passed=totals.get("pass", 0),
        failed=totals.get("fail", 0),
        errors=totals.get("cancelled", 0),
        skipped=totals.get("skipped", 0) + totals.get("todo", 0),
        structured=True,
    )
    for case in ET.fromstring(xml_text).iter("testcase"):
        failure = case.find("failure")
        if failure is None:
            continue
        text = failure.text or ""
        stack = [(path, int(line)) for path, line in _JS_FRAME.findall(text)]
        counts.failures.append(
            Failure(
                test_id=case.get("name", "?"),
                message=(failure.get("message") or "failed").strip()[:2000],
                traceback=excerpt(text),
                frames=stack[::-1],
            )
        )
    return counts
