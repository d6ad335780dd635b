"""The recorded way's two recorders side by side on real projects: what each says a test ran, and what it costs.

    python -m benchmarks.recorders [--projects …]     # `make recorders`, about 6 minutes

For each project of the replay (benchmarks.affected's mirrors and environments, Python 3.13), at its newest
commit, the whole suite runs plain, then recording with sys.monitoring's recorder (plugin/volley_monitor.py, the
default from Python 3.12), then twice recording with coverage.py (``VOLLEY_RECORD_WITH=coverage``, the recorder
before 3.12). The selection reads a record as function blocks (blocks.names_of_lines over each test's lines), so
they are compared as blocks, test by test: a block coverage.py saw a test run in both of its runs, which the
monitor did not, is one the selection could miss a test by ("lacks": must be 0), unless the monitor saw it run
in another test: a finalizer the garbage collector ran (``__del__``, a weakref's callback) runs wherever the
collector happens to run, which differs between two recorders that allocate differently (shown apart; so is
what coverage.py's own two runs disagree on). Times are of the pytest process, in one run of this script.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.affected import MIRRORS, PROJECTS, checkout, git, run_suite
from volley.affected.blocks import MODULE, blocks_of, names_of_lines
from volley.affected.recorded import Recording, _read_lines

RESULTS = Path(__file__).parent / "results" / "recorders.json"
Ran = dict[str, set[tuple[str, str]]]  # context → (file, block)


def recorded(python: str, root: Path, test_dir: str, scratch: Path, recorder: str) -> tuple[Ran, float]:
    """What one recording run says each context ran, as blocks, and the run's time."""
    directory = tempfile.mkdtemp(prefix=f"{recorder}-", dir=scratch)
    os.environ["VOLLEY_RECORD_WITH"] = recorder
    try:
        took = run_suite(python, root, [test_dir], Recording(directory, [test_dir], whole_files=True))[1]
    finally:
        del os.environ["VOLLEY_RECORD_WITH"]
    blocks = {}
    ran: Ran = {}
    for context, per_file in _read_lines(directory, str(root)).items():
        for rel, pieces in per_file.items():
            if rel.endswith(".py"):
                if rel not in blocks:
                    blocks[rel] = blocks_of((root / rel).read_text(errors="surrogateescape"))
                found = blocks[rel]
                lines = {line for piece in pieces for line in piece}
                names = names_of_lines(found, lines) if found else {MODULE}
                ran.setdefault(context, set()).update((rel, name) for name in names)
    return ran, took


def compare(name: str, scratch: Path) -> dict:
    test_dir = PROJECTS[name][0]
    python, root = checkout(name, scratch)
    run_suite(python, root, [test_dir])  # (the first run at a checkout compiles every module and test)
    plain = run_suite(python, root, [test_dir])[1]
    monitor, monitor_s = recorded(python, root, test_dir, scratch, "monitor")
    first, coverage_s = recorded(python, root, test_dir, scratch, "coverage")
    second, _ = recorded(python, root, test_dir, scratch, "coverage")
    lacks: dict[str, list] = {}
    elsewhere: dict[str, list] = {}
    timing: dict[str, list] = {}
    extra = 0
    anywhere = set().union(*monitor.values()) if monitor else set()
    for context in first.keys() | second.keys() | monitor.keys():
        mine = monitor.get(context, set())
        steady = first.get(context, set()) & second.get(context, set())
        if missing := sorted(steady - mine - anywhere):
            lacks[context] = missing
        if moved := sorted((steady - mine) & anywhere):  # run, in another test: when the collector ran it
            elsewhere[context] = moved
        if unsteady := (first.get(context, set()) ^ second.get(context, set())) - mine:
            timing[context] = sorted(unsteady)
        extra += bool(mine - (first.get(context, set()) | second.get(context, set())))
    row = {
        "project": name,
        "commit": git(root, "rev-parse", "HEAD")[:10],
        "tests": sum(1 for c in first.keys() | monitor.keys() if c and not c.startswith("@")),
        "plain_s": plain,
        "coverage_s": coverage_s,
        "monitor_s": monitor_s,
        "lacks": lacks,
        "run_elsewhere": elsewhere,
        "coverage_disagrees": timing,
        "monitor_extra": extra,
    }
    print(
        f"{name}: {row['tests']} tests; plain {plain:.2f} s, coverage {coverage_s:.2f} s, monitor "
        f"{monitor_s:.2f} s; lacks {len(lacks)}, run in another test {len(elsewhere)}, coverage's own runs disagree "
        f"{len(timing)}, extra {extra}",
        file=sys.stderr,
    )
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--projects", nargs="*", default=list(PROJECTS), help="mirrors (default: all)")
    args = parser.parse_args()
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # as benchmarks.affected runs them
    rows = []
    with tempfile.TemporaryDirectory(prefix="volley-recorders-") as scratch:
        os.environ["VOLLEY_CACHE_DIR"] = str(Path(scratch) / "cache")
        for name in PROJECTS:
            if name in args.projects and (MIRRORS / name / "repo").is_dir():
                started = time.perf_counter()
                rows.append(compare(name, Path(scratch)))
                print(f"  ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=1))
    print(
        "| project | tests | plain pytest | coverage.py | sys.monitoring | tests lacking a block | a block in another "
        "test | with more |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        plain = r["plain_s"]
        print(
            f"| {r['project'].replace('+', '/')} | {r['tests']} | {plain:.1f} s | {r['coverage_s'] / plain:.2f}x | "
            f"{r['monitor_s'] / plain:.2f}x | {len(r['lacks'])} | {len(r['run_elsewhere'])} | {r['monitor_extra']} |"
        )
    return 1 if any(r["lacks"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
