"""pytest's reports: its JUnit XML, its closing summary line, its verbose lines for a run still going."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Literal

from volley.parsers.common import Failure, TestCounts, excerpt, rel

_VERBOSE = re.compile(
    r"^(?P<node>\S+::\S.*?) (?:(?P<status>PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)\b.*)?$", re.MULTILINE
)
_XDIST = re.compile(  # pytest-xdist's workers: the status first, `[gw0] [ 40%] PASSED tests/x.py::test_y`
    r"^\[gw\d+\] \[\s*\d+%\] (?P<status>PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS) (?P<node>\S+::\S.*?)\s*$", re.MULTILINE
)
_VERBOSE_KIND = {"PASSED": "passed", "FAILED": "failed", "ERROR": "errors", "SKIPPED": "skipped", "XFAIL": "xfailed"}


def read_unfinished(parser: str, output: str, root: str) -> tuple[TestCounts | None, str | None]:
    """What a stopped run finished, and the test it was running, from pytest's verbose output."""
    if parser != "pytest-junit":
        return None, None
    counts = TestCounts(structured=False)
    prefix = rootdir_prefix(output, root)
    running = None
    found_lines = sorted([*_VERBOSE.finditer(output), *_XDIST.finditer(output)], key=lambda m: m.start())
    for found in found_lines:
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


def _node_id(path: str | None, classname: str, name: str) -> str:
    """pytest's node id (path::Class::test) from JUnit's file, classname and name."""
    if not path:
        return f"{classname}::{name}"
    module = path.removesuffix(".py").replace("/", ".")
    classes = classname[len(module) + 1 :].split(".") if classname.startswith(module + ".") else []
    return "::".join([path, *classes, name])


_FRAME = re.compile(r"^([^\s:][^:\n]*\.py):(\d+): ", re.MULTILINE)


_RAISED_AT = re.compile(r'^E?\s*File "([^"\n]+)", line (\d+)', re.MULTILINE)  # a SyntaxError's own place


def _failing_frame(text: str, path: str | None, def_line: str | None, root: str) -> tuple[str | None, int | None]:
    """Where it failed: the deepest frame of pytest's traceback inside the workspace (it prints
    ``path:line: Error`` relative to where it ran) or, when the error names a place after it (a SyntaxError
    in the module imported there: ``File "…", line N``), that place; else the test's own ``def`` line."""
    frames = [(m[1], int(m[2]), m.end()) for m in _FRAME.finditer(text)]
    inside = [(p, n, end) for p, n, end in frames if not p.startswith(("/", "..")) and "site-packages" not in p]
    after = inside[-1][2] if inside else 0
    for raised in _RAISED_AT.finditer(text, after):
        if raised[1].startswith(root) and "site-packages" not in raised[1]:
            return raised[1][len(root) :], int(raised[2])
    if inside:
        return inside[-1][0], inside[-1][1]
    return path, int(def_line) + 1 if def_line and def_line.isdigit() else None


def rootdir_prefix(output: str, root: str) -> str:
    """pytest's rootdir relative to the workspace, as a prefix for the paths its report gives ('' at the root)."""
    found = re.search(r"^rootdir: (.+?)(?:, |$)", output, re.MULTILINE)
    if found is None:
        return ""
    rootdir = found[1].rstrip("/") + "/"
    base = root.rstrip("/") + "/"
    return rootdir[len(base) :] if rootdir.startswith(base) else ""


_SUMMARY = re.compile(r"^=+ (.+?) in [\d.]+s(?: \([^)]*\))? =+$", re.MULTILINE)
_SUMMARY_PART = re.compile(r"(\d+) (failed|passed|skipped|deselected|xfailed|xpassed|errors?)\b")


def with_summary(counts: TestCounts, output: str) -> TestCounts:
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


def junit(xml_text: str, root: str, prefix: str = "") -> TestCounts:
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
        collecting = not case.get("classname") and problem.get("message") == "collection failure"
        test_id = file if collecting and file else _node_id(file, case.get("classname", ""), case.get("name", "?"))
        path = prefix + rel(file, root) if file else None
        where, line = _failing_frame(problem.text or "", path, case.get("line"), root)
        counts.failures.append(
            Failure(
                test_id=prefix + test_id if file else test_id,
                path=where,
                line=line,
                kind=kind,
                message=(problem.get("message") or "").strip()[:2000],
                traceback=excerpt(problem.text or ""),
            )
        )
    return counts
