"""Run the test suite (or part of it) N times under CPU and I/O contention and count failures per test.

    python -m tests.contention --runs 10                 # the whole suite, 10 times, under load
    python -m tests.contention --runs 20 -- tests/test_transports.py -k many_calls

The load is `stress-ng` (Debian package stress-ng) with one CPU hog per core plus two more and an
I/O worker, or, where stress-ng is missing, a pool of busy Python processes. Each run writes a JUnit
report; the summary lists every test that failed in any run, with how often. Exit status 1 when
any run failed. ``make contention`` runs the whole suite 10 times.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--hogs", type=int, default=(os.cpu_count() or 2) + 2, help="CPU hogs (default: cores + 2)")
    parser.add_argument("--no-io", action="store_true", help="CPU load only")
    parser.add_argument("--reports", help="directory for the runs' JUnit reports (default: a new temporary one)")
    parser.add_argument("pytest_args", nargs="*", help="passed to pytest (after --)")
    args = parser.parse_args()
    failures: Counter[str] = Counter()
    failed_runs = 0
    out = args.reports or tempfile.mkdtemp(prefix="volley-contention-")
    os.makedirs(out, exist_ok=True)
    with load(args.hogs, io=not args.no_io):
        for run in range(1, args.runs + 1):
            report = os.path.join(out, f"run-{run}.xml")
            started = time.monotonic()
            argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}"]
            code = subprocess.call([*argv, *args.pytest_args], stdout=subprocess.DEVNULL)
            failed, total = _failed_tests(report)
            failures.update(failed)
            failed_runs += bool(failed) or code not in (0, 5)
            status = "ok" if not failed and code in (0, 5) else f"FAILED ({', '.join(failed) or f'exit {code}'})"
            print(f"run {run}/{args.runs}: {total} tests, {time.monotonic() - started:.0f} s, {status}", flush=True)
    print(f"\n{args.runs - failed_runs} of {args.runs} runs passed under load ({args.hogs} CPU hogs); reports in {out}")
    for test, count in failures.most_common():
        print(f"  {count}x {test}")
    return 1 if failed_runs else 0


def _failed_tests(report: str) -> tuple[list[str], int]:
    """The failed tests of a JUnit report, each with the first line of its failure, and the count of tests."""
    try:
        root = ET.parse(report).getroot()
    except (OSError, ET.ParseError):
        return ["<no report: pytest crashed>"], 0
    failed, total = [], 0
    for case in root.iter("testcase"):
        total += 1
        problem = case.find("failure")
        problem = problem if problem is not None else case.find("error")
        if problem is not None:
            why = (problem.get("message") or "").splitlines()[:1]
            failed.append(f"{case.get('classname')}::{case.get('name')}: {''.join(why)[:300]}")
    return failed, total


@contextlib.contextmanager
def load(hogs: int, *, io: bool) -> Iterator[None]:
    """CPU (and I/O) hogs for the duration of the block; all of them are gone after it."""
    stress = shutil.which("stress-ng")
    if stress:
        argv = [stress, "--cpu", str(hogs), "--quiet"] + (["--hdd", "1", "--hdd-bytes", "64M"] if io else [])
        proc = subprocess.Popen(argv, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            yield
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        return
    pool = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(hogs)]
    for p in pool:
        p.start()
    try:
        yield
    finally:
        for p in pool:
            p.kill()
            p.join()


def _spin() -> None:
    while True:
        pass


if __name__ == "__main__":
    raise SystemExit(main())
