"""Affected tests against real history: every test whose outcome a commit changed must be selected.

    python -m benchmarks.affected [--commits 25] [--projects …] [--no-testmon]     # `make affected`
    python -m benchmarks.affected --volley-times [--commits N] [--projects …]    # Volley's own runs, ~1 h

For each of the newest non-merge commits that change the package's code in itsdangerous, toolz, click,
more-itertools and rich (mirrors of the tool library, REALWORLD_MIRRORS; more-itertools's 20 s suite and rich's
5 s one spend their time in their tests, the others' sub-second suites in pytest's start-up), the commit's
whole suite runs twice (pytest, JUnit report): against the commit's code, and against its parent's code for
the modules the commit changed. The tests whose outcome differs are the ones the code change decides (as
fail-to-pass oracles do), less the flaky ones (an outcome that differs when the same state runs again: a failing
test that leaks state into later ones): each must be in Volley's selection, both ways:
- static (the import graph), computed at the commit against the parent;
- recorded: the run on the parent's code is the recording run (Volley's plugin, coverage.py), then the
  commit's code is put back and the selection is made against the record.
Then each selection runs alone, timed against the whole suite; fractions are of the suite's tests.

``--volley-times`` times the recorded way again at the commits in the results, as Volley runs it (volley.spare's
run_warm: recording, from a spare interpreter, the record taken in), beside the whole suite run the same way and
plain pytest's whole suite.

Each project runs in an environment of its own (benchmarks/.cache/affected-envs, made on the first run): its
test dependencies, coverage.py (the recorded way's) and pytest-testmon (loaded only for its own runs), as the
project's developers would have it; not Volley's, whose pytest plugins would add to every run's start. Runs
write bytecode as a developer's do (PYTHONDONTWRITEBYTECODE is dropped): pytest's rewritten test modules are
cached, as they are in a checkout someone works in.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import anyio.from_thread

from volley.affected import Selection, changed_files, select
from volley.affected.by_record import select_recorded
from volley.affected.pytest_plugins import choosing as as_chosen
from volley.affected.recorded import PRELOAD, Recording, prepare, take_in
from volley.spare import SPARES, run_warm
from volley.tools.run_tests import LATE
from volley.workspace import Workspace

MIRRORS = Path(os.environ.get("REALWORLD_MIRRORS", "/work/.mirror"))
RESULTS = Path(__file__).parent / "results" / "affected.json"
PARTIAL = RESULTS.with_suffix(".partial.jsonl")
HANG_S = 120  # a suite run this long hangs (the longest whole suite here takes 20 s, recorded 35 s): no outcomes
ENVS = Path(__file__).parent / ".cache" / "affected-envs"
TOOLS = ["pytest==9.2.0", "coverage==7.17.5", "pytest-testmon==2.2.0"]  # testmon: the anchor, side by side
PROJECTS = {  # mirror → (the suite, the package's code: commits that change it are replayed, its test deps)
    "pallets+itsdangerous": ("tests", "src/itsdangerous", ["freezegun==1.5.5"]),
    "pytoolz+toolz": ("toolz/tests", "toolz", []),
    "pallets+click": ("tests", "src/click", []),
    "more-itertools+more-itertools": ("tests", "more_itertools", []),  # a suite whose time is in its tests
    "Textualize+rich": (  # a 5 s suite over many modules (a console, tables, progress bars, syntax, …)
        "tests",
        "rich",
        ["pygments==2.19.2", "markdown-it-py==4.3.0", "mdurl==0.1.2", "attrs==26.1.0", "typing_extensions==4.16.0"],
    ),
}


def project_python(name: str, deps: list[str]) -> str:
    """The interpreter of the project's own test environment (made when missing or when its list changed)."""
    env = ENVS / name
    python = env / "bin" / "python"
    wanted = " ".join([*TOOLS, *deps])
    marker = env / ".installed"
    if not marker.exists() or marker.read_text() != wanted:
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", "--clear", str(env)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *TOOLS, *deps], check=True)
        marker.write_text(wanted)
    return str(python)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


def run_suite(
    python: str, root: Path, targets: list[str], recording: Recording | None = None, testmon: str | None = None
) -> tuple[dict[str, str], float]:
    """Outcome per test id and the wall time of a pytest run over ``targets`` (recorded into the workspace's
    store when ``recording`` is given; with pytest-testmon and its data file ``testmon``, when given)."""
    report = root / ".affected-report.xml"
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{root / 'src'}"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as on a developer's machine: bytecode and rewritten tests cached
    argv = [python, "-m", "pytest", "-q", "-o", "junit_family=xunit1"]
    argv.append(f"--junitxml={report}")  # xunit1: each case names its file, so class-based ids are found
    if testmon:  # testmon needs pytest's cache provider (without it: INTERNALERROR, KeyError 'lf')
        argv += ["--testmon", "-o", f"cache_dir={testmon}.cache"]
        env["TESTMON_DATAFILE"] = testmon
    else:
        argv += ["-p", "no:cacheprovider", "-p", "no:pytest-testmon"]
    argv += ["--", *targets]
    if recording is not None:
        argv, env = prepare(argv, env, str(root), recording)
    started = time.perf_counter()
    try:
        done = subprocess.run(argv, cwd=root, env=env, capture_output=True, timeout=HANG_S)
    except subprocess.TimeoutExpired:  # a commit that fixes an endless loop: its tests hang at the parent
        return {}, time.perf_counter() - started
    took = time.perf_counter() - started
    if recording is not None:
        take_in(str(root), recording, done.returncode in (0, 1))
    outcomes: dict[str, str] = {}
    _located.cache_clear()  # the checkout changed since the last run
    try:
        tree = ET.parse(report)
    except (OSError, ET.ParseError):
        return outcomes, took
    for case in tree.iter("testcase"):
        test_id = node_id(root, case.get("file") or "", case.get("classname") or "", case.get("name") or "")
        kinds = [child.tag for child in case]
        outcomes[test_id] = next((k for k in ("failure", "error", "skipped") if k in kinds), "passed")
    report.unlink(missing_ok=True)
    return outcomes, took


class VolleyRuns:
    """pytest runs as run_tests makes them once affected tests have been asked for: recording (the plugin,
    coverage.py, then the record taken in, which the answer waits for), from a spare interpreter when one waits
    (volley/spare), on one event loop, which the spares belong to."""

    def __enter__(self) -> VolleyRuns:
        self._portal = anyio.from_thread.start_blocking_portal()
        self.portal = self._portal.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.portal.call(SPARES.aclose)
        self._portal.__exit__(None, None, None)

    def run(self, python: str, root: Path, targets: list[str], chosen: bool = False) -> float:
        """The seconds a recording run over ``targets`` takes, its record taken in (``chosen``: a selection,
        run as part of the suite as run_tests runs it)."""
        with tempfile.TemporaryDirectory(prefix="record-") as record:
            env = {"PYTHONPATH": f"{root}{os.pathsep}{root / 'src'}"}
            argv = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:pytest-testmon"]
            recording = Recording(record, targets, whole_files=True)
            argv, env = prepare(argv if chosen else [*argv, "--", *targets], env, str(root), recording)
            if chosen:
                argv, env = as_chosen(argv, env, str(root), targets, record)
            started = time.perf_counter()
            warm = functools.partial(
                run_warm, cwd=str(root), env=env, late=LATE, root=str(root), preload=[PRELOAD], timeout=HANG_S
            )
            done = self.portal.call(warm, argv)
            take_in(str(root), recording, done.exit_code in (0, 1))
            return time.perf_counter() - started


def node_id(root: Path, path: str, classname: str, name: str) -> str:
    """pytest's node id of a JUnit (xunit1) test case: the module its classname names (the file attribute names
    where an inherited test is defined, not where it runs), its classes, its name."""
    parts = classname.split(".") if classname else []
    for end in range(len(parts), 0, -1):
        module = _located(root, "/".join(parts[:end]) + ".py")
        if module:
            return "::".join([module, *parts[end:], name])
    return f"{path}::{name}"


@functools.cache
def _located(root: Path, module: str) -> str | None:
    """A module's path from the root: as named, or the one file below that ends so (a test folder without an
    ``__init__.py`` is on sys.path itself: rich's ``tests/test_cells.py`` is ``test_cells``)."""
    if (root / module).is_file():
        return module
    found = [p for p in root.glob(f"**/{module}") if ".git" not in p.parts]
    return found[0].relative_to(root).as_posix() if len(found) == 1 else None


def covers(selection: Selection, test_id: str) -> bool:
    """Whether a selection (test files, directories, node ids) holds a test."""
    if selection.whole_suite:
        return True
    path = test_id.split("::", 1)[0]
    return any(
        target == test_id if "::" in target else path == target or path.startswith(target.rstrip("/") + "/")
        for target in selection.tests
    )


def way_row(
    python: str,
    selection: Selection,
    after: dict[str, str],
    changed: list[str],
    root: Path,
    whole_s: float,
    test_dir: str,
    choosing_s: float,
) -> dict:
    """A way's selection measured: tests selected, missed, and the time of choosing them and running them. The
    suite here is ``test_dir``'s (toolz's bench/ and sandbox tests are not in it): test files outside it are not
    run."""
    selection.tests = [t for t in selection.tests if t.startswith(test_dir.rstrip("/") + "/")]
    chosen = [t for t in after if covers(selection, t)]
    if selection.whole_suite:
        took = whole_s
    elif selection.tests:
        took = run_suite(python, root, selection.tests)[1]
    else:
        took = 0.0
    return {
        "selected": len(chosen),
        "whole_suite": selection.whole_suite,
        "missed": [t for t in changed if not covers(selection, t)],
        "why": "; ".join(selection.reasons)[:300],
        "selected_s": choosing_s + took,  # what run_tests(affected=true) takes, against the whole suite's run
        "choosing_s": choosing_s,
    }


def checkout(name: str, scratch: Path) -> tuple[str, Path]:
    """The project's interpreter and a clone of its mirror, installed into its environment."""
    _, _, deps = PROJECTS[name]
    python = project_python(name, deps)
    mirror = MIRRORS / name / "repo"
    root = scratch / name.split("+")[1]
    subprocess.run(["git", "clone", "-q", "--shared", str(mirror), str(root)], check=True)
    install = [python, "-m", "pip", "install", "--quiet", "--no-deps", "-e", str(root)]
    subprocess.run(install, check=True, capture_output=True)  # its metadata: click's tests read its version
    return python, root


def code_changed(root: Path, sha: str, code_dir: str) -> list[str]:
    """The package's Python files a commit modified."""
    changed = git(root, "diff", "--name-only", "--diff-filter=M", f"{sha}^", sha, "--", code_dir).split()
    return [f for f in changed if f.endswith(".py")]


def volley_times(name: str, rows: list[dict[str, Any]], scratch: Path) -> None:
    """Time the recorded way as Volley runs it, for replayed commits (``rows``, updated in place): the record made
    on the parent's code, then at the commit the whole suite and the selection, each a recording run from a
    spare interpreter with its record taken in (as run_tests does once affected tests were asked for), and the
    whole suite as plain pytest runs it, side by side."""
    test_dir, code_dir, _ = PROJECTS[name]
    python, root = checkout(name, scratch)
    with VolleyRuns() as volley:
        for row in rows:
            sha = git(root, "rev-parse", row["commit"]).strip()
            git(root, "checkout", "-q", "-f", sha)
            git(root, "clean", "-qfdx")
            shutil.rmtree(Path(os.environ["VOLLEY_CACHE_DIR"]) / "affected", ignore_errors=True)
            git(root, "checkout", "-q", f"{sha}^", "--", *code_changed(root, sha, code_dir))
            volley.run(python, root, [test_dir])  # the record
            git(root, "checkout", "-q", "-f", sha)
            ws = Workspace(root)
            started = time.perf_counter()
            selection = select_recorded(ws, changed_files(ws, None), [])
            choosing = time.perf_counter() - started
            whole = volley.run(python, root, [test_dir])
            plain = run_suite(python, root, [test_dir])[1]  # the whole suite as `python -m pytest` alone runs it
            if selection is None:
                continue
            tests = [t for t in selection.tests if t.startswith(test_dir.rstrip("/") + "/")]
            selected = whole if selection.whole_suite else volley.run(python, root, tests, True) if tests else 0.0
            row["volley"] = {"whole_s": whole, "plain_s": plain, "selected_s": choosing + selected}
            row["volley"]["choosing_s"] = choosing
            print(f"{name} {row['commit']}: whole {whole:.2f} s, selected {choosing + selected:.2f} s", file=sys.stderr)


def replay(name: str, count: int, scratch: Path, testmon: bool) -> list[dict[str, Any]]:
    test_dir, code_dir, _ = PROJECTS[name]
    python, root = checkout(name, scratch)
    shas = git(root, "log", "--no-merges", "--format=%H", "-300", "--", code_dir).split()
    rows: list[dict[str, Any]] = []
    for sha in shas:
        if len(rows) >= count:
            break
        git(root, "checkout", "-q", "-f", sha)
        git(root, "clean", "-qfdx")
        after, _ = run_suite(python, root, [test_dir])  # (the first run at a commit compiles everything)
        whole_s = run_suite(python, root, [test_dir])[1]  # bytecode and rewritten tests cached, as selected runs find
        code = code_changed(root, sha, code_dir)
        if not after or not code:
            continue  # the suite does not run here (an old commit's Python or dependencies), or no code changed
        shutil.rmtree(Path(os.environ["VOLLEY_CACHE_DIR"]) / "affected", ignore_errors=True)
        git(root, "checkout", "-q", f"{sha}^", "--", *code)  # the commit's tests against its parent's code
        with tempfile.TemporaryDirectory(prefix="record-") as record:
            before, _ = run_suite(python, root, [test_dir], Recording(record, [test_dir], whole_files=True))
        if not before:
            print(f"{name} {sha[:10]}: the parent's code does not finish the suite: not decided", file=sys.stderr)
            continue
        decided = [t for t in after if before.get(t) != after[t] and t in before]
        before_again = run_suite(python, root, [test_dir])[0] if decided else before  # flaky tests are not decided
        data = str(scratch / f"testmon-{sha[:10]}.db")  # pytest-testmon side by side: its data on the same state
        if testmon:
            run_suite(python, root, [test_dir], testmon=data)
        git(root, "checkout", "-q", "-f", sha)
        after_again = run_suite(python, root, [test_dir])[0] if decided else after
        flaky = sorted(t for t in decided if before_again.get(t) != before[t] or after_again.get(t) != after[t])
        changed = sorted(t for t in decided if t not in flaky)
        testmon_row = None
        if testmon:
            ran, took = run_suite(python, root, [test_dir], testmon=data)  # then its selection
            testmon_row = {"selected": len(ran), "missed": [t for t in changed if t not in ran], "selected_s": took}
        ws = Workspace(root)
        started = time.perf_counter()
        static_selection = select(ws, changed_files(ws, f"{sha}^"), [])
        static = way_row(
            python, static_selection, after, changed, root, whole_s, test_dir, time.perf_counter() - started
        )
        started = time.perf_counter()
        recorded_selection = select_recorded(ws, changed_files(ws, None), [])
        choosing = time.perf_counter() - started
        if recorded_selection is None:
            print(f"{name} {sha[:10]}: nothing recorded", file=sys.stderr)
            continue
        recorded = way_row(python, recorded_selection, after, changed, root, whole_s, test_dir, choosing)
        rows.append(
            {
                "project": name,
                "commit": sha[:10],
                "tests": len(after),
                "changed_outcomes": len(changed),
                "flaky": flaky,
                "whole_s": whole_s,
                "static": static,
                "recorded": recorded,
                "testmon": testmon_row,
            }
        )
        print(
            f"{name} {sha[:10]}: {len(after)} tests, {len(changed)} changed; static {static['selected']} "
            f"({len(static['missed'])} missed), recorded {recorded['selected']} ({len(recorded['missed'])} missed)",
            file=sys.stderr,
        )
        PARTIAL.parent.mkdir(exist_ok=True)
        with PARTIAL.open("a") as out:  # a run stopped midway keeps what it measured
            out.write(json.dumps(rows[-1]) + "\n")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=25, help="commits per project")
    parser.add_argument("--projects", nargs="*", default=list(PROJECTS), help="mirrors to replay (default: all)")
    parser.add_argument("--no-testmon", action="store_true", help="leave pytest-testmon's runs out (the longest)")
    parser.add_argument("--tables-from", nargs="*", type=Path, help="print the tables of earlier runs' .jsonl rows")
    parser.add_argument(
        "--volley-times", action="store_true", help="time Volley's own runs for the commits in the results"
    )
    args = parser.parse_args()
    if args.tables_from:
        return tables([json.loads(line) for path in args.tables_from for line in path.read_text().splitlines()])
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # as on a developer's machine (Volley's runs take this one)
    rows: list[dict[str, Any]] = []
    PARTIAL.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="volley-affected-") as scratch:
        os.environ["VOLLEY_CACHE_DIR"] = str(Path(scratch) / "cache")  # the records, not the user's
        if args.volley_times:
            kept = json.loads(RESULTS.read_text())
            for name in PROJECTS:
                if name in args.projects:
                    mine = [row for row in kept if row["project"] == name][: args.commits]
                    volley_times(name, mine, Path(scratch))
                    RESULTS.write_text(json.dumps(kept, indent=1))  # (after each project: a stopped run keeps them)
            return tables(kept)
        for name in PROJECTS:
            if name in args.projects and (MIRRORS / name / "repo").is_dir():
                rows += replay(name, args.commits, Path(scratch), not args.no_testmon)
    RESULTS.parent.mkdir(exist_ok=True)
    replayed = {row["project"] for row in rows}
    kept = json.loads(RESULTS.read_text()) if RESULTS.exists() else []  # the other projects' rows stay
    earlier = {(row["project"], row["commit"]): row for row in kept}
    for row in rows:  # --no-testmon: pytest-testmon's measures of the same commit stay (they are its alone)
        if row["testmon"] is None and (same := earlier.get((row["project"], row["commit"]))) and same.get("testmon"):
            row["testmon"] = {"whole_s": same["whole_s"], **same["testmon"]}  # its ratio: to its run's whole suite
    rows = [row for row in kept if row["project"] not in replayed] + rows
    RESULTS.write_text(json.dumps(rows, indent=1))
    return tables(rows)


def tables(rows: list[dict[str, Any]]) -> int:
    """The replay's tables (markdown) and every missed test; 1 when a test was missed."""
    print(
        "| project | commits | tests changing outcome | way | missed | median tests selected | whole suite | "
        "median time (selected / whole) |"
    )
    print("|---|---:|---:|---|---:|---:|---:|---:|")
    for name in PROJECTS:
        mine = [r for r in rows if r["project"] == name]
        if not mine:
            continue
        for way in ("recorded", "static"):
            fraction = statistics.median(r[way]["selected"] / max(1, r["tests"]) for r in mine)
            time_ratio = statistics.median(r[way]["selected_s"] / max(1e-9, r["whole_s"]) for r in mine)
            print(
                f"| {name.replace('+', '/')} | {len(mine)} | {sum(r['changed_outcomes'] for r in mine)} | {way} | "
                f"{sum(len(r[way]['missed']) for r in mine)} | {fraction:.0%} | "
                f"{sum(r[way]['whole_suite'] for r in mine)} | {time_ratio:.0%} |"
            )
    tm = [r for r in rows if r.get("testmon")]
    for name in PROJECTS:
        mine = [r for r in tm if r["project"] == name]
        if mine:
            fraction = statistics.median(r["testmon"]["selected"] / max(1, r["tests"]) for r in mine)
            # (the whole suite of testmon's own run where its rows were kept from one: ratios within one run)
            time_ratio = statistics.median(
                r["testmon"]["selected_s"] / max(1e-9, r["testmon"].get("whole_s", r["whole_s"])) for r in mine
            )
            missed = sum(len(r["testmon"]["missed"]) for r in mine)
            shown = name.replace("+", "/")
            print(f"| {shown} | {len(mine)} | | pytest-testmon | {missed} | {fraction:.0%} | | {time_ratio:.0%} |")
    for way in ("recorded", "static"):
        fraction = statistics.median(r[way]["selected"] / max(1, r["tests"]) for r in rows) if rows else 0
        time_ratio = statistics.median(r[way]["selected_s"] / max(1e-9, r["whole_s"]) for r in rows) if rows else 0
        print(
            f"| all | {len(rows)} | | {way} | {sum(len(r[way]['missed']) for r in rows)} | {fraction:.0%} | | "
            f"{time_ratio:.0%} |"
        )
    timed = [r for r in rows if r.get("volley")]
    if timed:
        print("\n| project | commits | median time, Volley's runs (choosing + selected / whole) | against pytest |")
        print("|---|---:|---:|---:|")
        for name in [*PROJECTS, "all"]:
            mine = [r for r in timed if name in ("all", r["project"])]
            if mine:
                own = statistics.median(r["volley"]["selected_s"] / r["volley"]["whole_s"] for r in mine)
                plain = statistics.median(r["volley"]["selected_s"] / r["volley"]["plain_s"] for r in mine)
                print(f"| {name.replace('+', '/')} | {len(mine)} | {own:.0%} | {plain:.0%} |")
    for r in rows:
        for way in ("recorded", "static"):
            for test_id in r[way]["missed"]:
                print(f"MISSED ({way}) {r['project']} {r['commit']}: {test_id}")
    return 1 if any(r[w]["missed"] for r in rows for w in ("recorded", "static")) else 0


if __name__ == "__main__":
    sys.exit(main())
