"""Affected tests against real history: every test whose outcome a commit changed must be selected.

    python -m benchmarks.affected [--commits 25]      # per project; `make affected`

For each of the newest non-merge commits that change the package's code in itsdangerous, toolz and click
(mirrors of the tool library, REALWORLD_MIRRORS), the commit's whole suite runs twice (pytest, JUnit report):
against the commit's code, and against its parent's code for the modules the commit changed. The tests whose
outcome differs are the ones the code change decides (as fail-to-pass oracles do): each must be in Volley's
selection (volley.affected, the static way: the import graph), computed at the commit against the parent.
Then the selected files run alone, timed against the whole suite.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from volley.affected import changed_files, select
from volley.workspace import Workspace

MIRRORS = Path(os.environ.get("REALWORLD_MIRRORS", "/work/.mirror"))
RESULTS = Path(__file__).parent / "results" / "affected.json"
PROJECTS = {  # mirror → (the suite, the package's code: commits that change it are replayed)
    "pallets+itsdangerous": ("tests", "src/itsdangerous"),
    "pytoolz+toolz": ("toolz/tests", "toolz"),
    "pallets+click": ("tests", "src/click"),
}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


def run_suite(root: Path, targets: list[str]) -> tuple[dict[str, str], float]:
    """Outcome per test id and the wall time of a pytest run over ``targets``."""
    report = root / ".affected-report.xml"
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{root / 'src'}"}
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}", *targets]
    started = time.perf_counter()
    subprocess.run(argv, cwd=root, env=env, capture_output=True, timeout=900)
    took = time.perf_counter() - started
    outcomes: dict[str, str] = {}
    try:
        tree = ET.parse(report)
    except (OSError, ET.ParseError):
        return outcomes, took
    for case in tree.iter("testcase"):
        test_id = f"{case.get('file') or case.get('classname', '').replace('.', '/') + '.py'}::{case.get('name')}"
        kinds = [child.tag for child in case]
        outcomes[test_id] = next((k for k in ("failure", "error", "skipped") if k in kinds), "passed")
    report.unlink(missing_ok=True)
    return outcomes, took


def file_of(test_id: str, tests: list[str]) -> str | None:
    """The test file a JUnit test id belongs to (its classname is the dotted module, perhaps with a class)."""
    path = test_id.split("::", 1)[0]
    for candidate in tests:
        stem = candidate[:-3]
        if path.startswith(stem) or path.replace(".py", "").startswith(stem):
            return candidate
    return None


def replay(name: str, test_dir: str, code_dir: str, count: int, scratch: Path) -> list[dict[str, Any]]:
    mirror = MIRRORS / name / "repo"
    root = scratch / name.split("+")[1]
    subprocess.run(["git", "clone", "-q", "--shared", str(mirror), str(root)], check=True)
    shas = git(root, "log", "--no-merges", "--format=%H", "-300", "--", code_dir).split()
    rows: list[dict[str, Any]] = []
    for sha in shas:
        if len(rows) >= count:
            break
        git(root, "checkout", "-q", "-f", sha)
        git(root, "clean", "-qfdx")
        after, whole_s = run_suite(root, [test_dir])
        code = [
            f
            for f in git(root, "diff", "--name-only", "--diff-filter=M", f"{sha}^", sha, "--", code_dir).split()
            if f.endswith(".py")
        ]
        if code:  # the commit's tests against its parent's code: which outcomes the code change decides
            git(root, "checkout", "-q", f"{sha}^", "--", *code)
            before, _ = run_suite(root, [test_dir])
            git(root, "checkout", "-q", "-f", sha)
        else:
            before = after
        if not after:
            continue  # the suite does not run here at all (an old commit's Python or dependencies)
        changed = sorted(t for t in after if before.get(t) != after[t] and t in before)
        ws = Workspace(root)
        selection = select(ws, changed_files(ws, f"{sha}^"), [])
        chosen = set(selection.tests)
        missed = []
        for test_id in changed:
            owner = file_of(test_id, selection.tests if not selection.whole_suite else [])
            if not selection.whole_suite and (owner is None or owner not in chosen):
                missed.append(test_id)
        if selection.whole_suite or not chosen:
            chosen_s = whole_s if selection.whole_suite else 0.0
        else:
            _, chosen_s = run_suite(root, sorted(chosen))
        rows.append(
            {
                "project": name,
                "commit": sha[:10],
                "tests": len(after),
                "changed_outcomes": len(changed),
                "missed": missed,
                "selected_files": len(selection.tests),
                "total_files": selection.total,
                "whole_suite": selection.whole_suite,
                "why": selection.reasons[-1] if selection.reasons else "",
                "whole_s": whole_s,
                "selected_s": chosen_s,
            }
        )
        print(
            f"{name} {sha[:10]}: {len(selection.tests)}/{selection.total} files, {len(changed)} changed, "
            f"{len(missed)} missed",
            file=sys.stderr,
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=25, help="commits per project")
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="volley-affected-") as scratch:
        for name, (test_dir, code) in PROJECTS.items():
            if (MIRRORS / name / "repo").is_dir():
                rows += replay(name, test_dir, code, args.commits, Path(scratch))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=1))
    print(
        "| project | commits | tests changing outcome | missed | median files selected | whole suite | "
        "median time (selected / whole) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in PROJECTS:
        mine = [r for r in rows if r["project"] == name]
        if not mine:
            continue
        fraction = statistics.median(r["selected_files"] / max(1, r["total_files"]) for r in mine)
        time_ratio = statistics.median(r["selected_s"] / max(1e-9, r["whole_s"]) for r in mine)
        print(
            f"| {name.replace('+', '/')} | {len(mine)} | {sum(r['changed_outcomes'] for r in mine)} | "
            f"{sum(len(r['missed']) for r in mine)} | {fraction:.0%} | {sum(r['whole_suite'] for r in mine)} | "
            f"{time_ratio:.0%} |"
        )
    for r in rows:
        for test_id in r["missed"]:
            print(f"MISSED {r['project']} {r['commit']}: {test_id}")
    return 1 if any(r["missed"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
