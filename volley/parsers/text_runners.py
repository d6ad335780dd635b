"""Runners read from their own output: unittest's closing lines, go test's JSON events, cargo test's text."""

from __future__ import annotations

import json
import re

from volley.parsers.common import Failure, TestCounts, excerpt

_UNITTEST_HEAD = re.compile(r"^(FAIL|ERROR): (\S+) \(([^)]+)\)", re.MULTILINE)
_UNITTEST_RAN = re.compile(r"^Ran (\d+) tests? in", re.MULTILINE)
_UNITTEST_END = re.compile(r"^(OK|FAILED)(?: \((.*)\))?\s*$", re.MULTILINE)


def unittest(output: str) -> TestCounts | None:
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
                traceback=excerpt(body),
                frames=[(p, int(n)) for p, n in frames],
            )
        )
    return counts


def go_test_json(output: str) -> TestCounts:
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
        traceback=excerpt(text),
    )


_CARGO_RESULT = re.compile(r"^test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored", re.MULTILINE)


_CARGO_FAILURE = re.compile(r"^---- (.+?) stdout ----$\n(.*?)(?=^---- .+? stdout ----$|^failures:$|\Z)", re.M | re.S)
_PANIC = re.compile(r"panicked at (\S+\.rs):(\d+):\d+:\n((?:.+\n?)+)")  # Rust 1.73+: the message on the lines after
_PANIC_QUOTED = re.compile(r"panicked at '(.*?)', (\S+\.rs):(\d+):\d+")  # earlier Rust


def cargo_test(output: str) -> TestCounts | None:
    """cargo test's text: every test binary's and the doc-tests' result lines summed; each failure (doc-tests,
    whose names hold spaces, included) at its panic's place, with the panic's message."""
    results = _CARGO_RESULT.findall(output)
    if not results:
        return None
    counts = TestCounts(
        passed=sum(int(r[0]) for r in results),
        failed=sum(int(r[1]) for r in results),
        skipped=sum(int(r[2]) for r in results),
    )
    for name, body in _CARGO_FAILURE.findall(output):
        failure = _failure_in_output(name, body, _RUST_LOCATION)
        if panic := _PANIC.search(body):
            message = [line.strip() for line in panic[3].splitlines()]
            ends = [i for i, line in enumerate(message) if line.startswith(("stack backtrace:", "note: "))]
            text = "; ".join(message[: ends[0] if ends else len(message)])
            failure = failure.model_copy(update={"path": panic[1], "line": int(panic[2]), "message": text})
        elif quoted := _PANIC_QUOTED.search(body):
            failure = failure.model_copy(update={"path": quoted[2], "line": int(quoted[3]), "message": quoted[1]})
        counts.failures.append(failure)
    return counts
