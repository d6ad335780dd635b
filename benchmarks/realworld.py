"""run_tests on published projects, against each runner's own report: `make realworld`.

Each project is its sdist from PyPI, laid out as its own workspace (one of them in a subfolder of a
larger workspace) with a `.venv` holding pytest and the project, and one failing test added beside its
own tests so that a failure's location can be checked. For each, Volley's answer (`volley call --json
run_tests`) is compared with the same runner run directly: pytest's JUnit report, unittest's own
closing lines. Checked: the counts are equal, every failure's path:line opens the failing line, and the
runner is the one the project's own config uses. Writes benchmarks/results/realworld.md.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
ROOT = Path(tempfile.gettempdir()) / "volley-realworld"  # outside any repository: pytest looks upwards for config


@dataclass(frozen=True)
class Project:
    label: str
    spec: str  # the sdist
    shape: str
    tests_dir: str  # where the added failing test goes, inside the project
    style: str  # "pytest", "unittest" or "vitest": how the added test is written
    subfolder: str = ""  # the project's place inside the workspace ('' = it is the workspace)
    deps: tuple[str, ...] = ()  # what its tests need besides pytest (for npm: the runner)

    @property
    def npm(self) -> bool:
        return self.spec.startswith("npm:")


PROJECTS = [
    Project("six 1.17.0", "six==1.17.0", "setup.cfg [tool:pytest], one test module at the root", ".", "pytest"),
    Project("toolz 1.2.0", "toolz==1.2.0", "pyproject, tests inside the package", "toolz/tests", "pytest"),
    Project("idna 3.20", "idna==3.20", "pyproject, tests/, hypothesis", "tests", "pytest", deps=("hypothesis",)),
    Project("pluggy 1.7.0", "pluggy==1.7.0", "src/ layout, tests in testing/", "testing", "pytest"),
    Project("boltons 26.2.0", "boltons==26.2.0", "tox.ini runs pytest, tests/", "tests", "pytest"),
    Project(
        "more-itertools 11.2.1",
        "more-itertools==11.2.1",
        "tox.ini runs `python -m unittest` (doctests through load_tests)",
        "tests",
        "unittest",
    ),
    Project(
        "zod 4.6.7 (npm)",
        "npm:zod@4.6.7",
        "npm package, vitest tests in src/; three test files import packages not installed",
        "src/v4/classic/tests",
        "vitest",
        deps=("vitest@3",),
    ),
    Project(
        "six, in a subfolder", "six==1.17.0", "the project in sub/six of a larger workspace", ".", "pytest", "sub/six"
    ),
]

FAILING = {
    "pytest": "def test_volley_realworld_fails():\n    value = 1\n    assert value == 2\n",
    "unittest": "import unittest\n\n\nclass VolleyRealworld(unittest.TestCase):\n"
    "    def test_fails(self):\n        value = 1\n        self.assertEqual(value, 2)\n",
    "vitest": 'import { expect, test } from "vitest";\n\ntest("volley realworld fails", () => {\n'
    "  const value = 1;\n  expect(value).toBe(2);\n});\n",
}
FAILING_FILE = {
    "pytest": "test_volley_realworld.py",
    "unittest": "test_volley_realworld.py",
    "vitest": "volley.test.ts",
}
FAILING_LINE = {
    "pytest": "assert value == 2",
    "unittest": "self.assertEqual(value, 2)",
    "vitest": "expect(value).toBe(2);",
}


def prepare(project: Project) -> tuple[Path, Path]:
    """The workspace and the project's directory in it, with .venv and the added failing test (cached)."""
    ws = ROOT / re.sub(r"\W+", "-", project.label).strip("-")
    home = ws / project.subfolder if project.subfolder else ws
    ready = ws / ("node_modules" if project.npm else ".venv") / ".ready"
    if ready.exists():
        return ws, home
    shutil.rmtree(ws, ignore_errors=True)
    staging = ROOT / "staging"
    shutil.rmtree(staging, ignore_errors=True)
    if project.npm:
        staging.mkdir(parents=True)
        subprocess.run(["npm", "pack", "--silent", project.spec.removeprefix("npm:")], cwd=staging, check=True)
        with tarfile.open(next(staging.glob("*.tgz"))) as tar:
            tar.extractall(staging, filter="data")
        home.parent.mkdir(parents=True, exist_ok=True)
        (staging / "package").rename(home)
        (home / project.tests_dir / FAILING_FILE[project.style]).write_text(FAILING[project.style])
        subprocess.run(["npm", "install", "--no-save", "--silent", *project.deps], cwd=home, check=True)
        ready.write_text("")
        return ws, home
    sdists = ROOT / "sdists"
    pip = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:", "-d", str(sdists)]
    subprocess.run([*pip, project.spec], check=True)
    name, version = project.spec.split("==")
    archive = next(
        p for p in sdists.glob("*.tar.gz") if p.name.lower().replace("_", "-").startswith(f"{name}-{version}")
    )
    with tarfile.open(archive) as tar:
        top = tar.getnames()[0].split("/")[0]
        tar.extractall(staging, filter="data")
    home.parent.mkdir(parents=True, exist_ok=True)
    (staging / top).rename(home)
    (home / project.tests_dir / FAILING_FILE[project.style]).write_text(FAILING[project.style])
    subprocess.run([sys.executable, "-m", "venv", str(ws / ".venv")], check=True)
    vpip = [str(ws / ".venv" / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*vpip, "pytest", *project.deps, str(home)], check=True)
    ready.write_text("")
    return ws, home


def direct(project: Project, ws: Path, home: Path) -> tuple[dict[str, int], float]:
    """The runner run directly as Volley runs it, its counts from its own report."""
    python = str(ws / ".venv" / "bin" / "python")
    started = time.perf_counter()
    if project.style == "vitest":
        report = ws / "direct.json"
        subprocess.run(
            [str(home / "node_modules/.bin/vitest"), "run", "--reporter=json", f"--outputFile={report}"],
            cwd=home,
            capture_output=True,
        )
        elapsed = time.perf_counter() - started
        data = json.loads(report.read_text())
        report.unlink()
        unloaded = sum(
            r["status"] == "failed" and not any(a["status"] == "failed" for a in r["assertionResults"])
            for r in data["testResults"]
        )
        return {
            "passed": data["numPassedTests"],
            "failed": data["numFailedTests"],
            "errors": unloaded,  # a file that failed to load (vitest marks it failed, with no failed test)
            "skipped+xfailed": data["numPendingTests"] + data["numTodoTests"],
        }, elapsed
    if project.style == "unittest":
        done = subprocess.run([python, "-m", "unittest", "-v"], cwd=ws, capture_output=True, text=True)
        elapsed = time.perf_counter() - started
        out = done.stdout + done.stderr
        ran = int(re.search(r"^Ran (\d+) tests?", out, re.M)[1])
        tail = re.search(r"^(OK|FAILED)(?: \((.*)\))?\s*$", out, re.M)
        parts = {k.strip(): int(v) for k, v in (p.split("=") for p in (tail[2] or "").split(",") if "=" in p)}
        failed, errors = parts.get("failures", 0), parts.get("errors", 0)
        skipped, xfailed = parts.get("skipped", 0), parts.get("expected failures", 0)
        passed = ran - failed - errors - skipped - xfailed - parts.get("unexpected successes", 0)
        return {"passed": passed, "failed": failed, "errors": errors, "skipped+xfailed": skipped + xfailed}, elapsed
    report = ws / "direct.xml"
    target = [project.subfolder] if project.subfolder else []
    subprocess.run([python, "-m", "pytest", "-q", f"--junitxml={report}", *target], cwd=ws, capture_output=True)
    elapsed = time.perf_counter() - started
    suite = ET.parse(report).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    tests, failures, errors, skipped = (int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped"))
    return {
        "passed": tests - failures - errors - skipped,
        "failed": failures,
        "errors": errors,
        "skipped+xfailed": skipped,
    }, elapsed


def volley(project: Project, ws: Path) -> tuple[dict, float]:
    args = [json.dumps({"targets": [project.subfolder]})] if project.subfolder else []
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "volley", "call", "--json", "--workspace", str(ws), "run_tests", *args],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")},  # as Claude Desktop starts it
    )
    elapsed = time.perf_counter() - started
    return json.loads(done.stdout), elapsed


def main() -> None:
    rows = [
        "| project | shape | runner chosen | Volley: passed / failed / errors / skipped+xfailed | direct "
        "| counts equal | failure opens the failing line | Volley / direct time |",
        "|---|---|---|---|---|---|---|---|",
    ]
    problems = 0
    for project in PROJECTS:
        ws, home = prepare(project)
        expected, direct_s = direct(project, ws, home)
        answer, volley_s = volley(project, ws)
        got = {
            "passed": answer["passed"] + answer["subtests_passed"],  # JUnit lists each subtest as a test
            "failed": answer["failed"],
            "errors": answer["errors"],
            "skipped+xfailed": answer["skipped"] + answer["xfailed"],
        }
        added = [f for f in answer["failures"] if "volley" in f["test_id"].lower() or "Volley" in f["test_id"]]
        opens = bool(added) and all(_opens(ws, f, FAILING_LINE[project.style]) for f in added)
        equal = got == expected
        problems += (not equal) + (not opens)
        fmt = lambda c: " / ".join(str(c[k]) for k in ("passed", "failed", "errors", "skipped+xfailed"))  # noqa: E731
        rows.append(
            f"| {project.label} | {project.shape} | {answer['runner']} | {fmt(got)} | {fmt(expected)} | "
            f"{'yes' if equal else 'NO'} | {'yes' if opens else 'NO'} | {volley_s:.1f} s / {direct_s:.1f} s |"
        )
        print(rows[-1], flush=True)
    lint, lint_problems = mypy_rows()
    rows += ["", *lint]
    problems += lint_problems
    from benchmarks.realworld_truth import rows as truth_rows

    truth, truth_problems = truth_rows()  # the cases Volley once misread, each against the tool's own run
    rows += ["", *truth]
    problems += truth_problems
    from benchmarks.realworld_monorepo import rows as monorepo_rows

    monorepo, monorepo_problems = monorepo_rows()  # several projects in one workspace
    rows += ["", *monorepo]
    problems += monorepo_problems
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "realworld.md").write_text("\n".join(rows) + "\n")
    print("\n".join(rows))
    if problems:
        raise SystemExit(f"{problems} problems")


MYPY_PROJECT = "packaging==25.0"  # [tool.mypy] strict in pyproject.toml
TYPE_ERROR = 'def volley_realworld() -> int:\n    return "not an int"\n'


def mypy_rows() -> tuple[list[str], int]:
    """run_linter linter=mypy on a project that configures mypy, against mypy's own JSON report."""
    ws = ROOT / "packaging-mypy"
    ready = ws / ".venv" / ".ready"
    if not ready.exists():
        shutil.rmtree(ws, ignore_errors=True)
        sdists = ROOT / "sdists"
        pip = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:", "-d"]
        subprocess.run([*pip, str(sdists), MYPY_PROJECT], check=True)
        staging = ROOT / "staging"
        shutil.rmtree(staging, ignore_errors=True)
        with tarfile.open(sdists / "packaging-25.0.tar.gz") as tar:
            tar.extractall(staging, filter="data")
        (staging / "packaging-25.0").rename(ws)
        (ws / "src/packaging/volley_realworld.py").write_text(TYPE_ERROR)
        subprocess.run([sys.executable, "-m", "venv", str(ws / ".venv")], check=True)
        vpip = [str(ws / ".venv/bin/python"), "-m", "pip", "install", "--quiet", "mypy", "pytest", "pretend"]
        subprocess.run(vpip, check=True)
        ready.write_text("")
    started = time.perf_counter()
    # what Volley checks when the config names no files: src/ in a src layout (list_toolchains says so)
    argv = [str(ws / ".venv/bin/mypy"), "-O", "json", "--cache-dir", os.devnull, "src"]
    done = subprocess.run(argv, cwd=ws, capture_output=True, text=True)
    direct_s = time.perf_counter() - started
    reported = [json.loads(line) for line in done.stdout.splitlines()]
    severity = {"note": "info"}  # Volley's scale: error, warning, info
    expected = sorted((d["file"], d["line"], severity.get(d["severity"], d["severity"])) for d in reported)
    started = time.perf_counter()
    answer = json.loads(
        subprocess.run(
            [
                sys.executable,
                "-m",
                "volley",
                "call",
                "--json",
                "--workspace",
                str(ws),
                "run_linter",
                '{"linter": "mypy"}',
            ],
            capture_output=True,
            text=True,
            env={"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")},
        ).stdout
    )
    volley_s = time.perf_counter() - started
    got = sorted((d["path"], d["line"], d["severity"]) for d in answer["diagnostics"])
    added = [d for d in answer["diagnostics"] if d["path"].endswith("volley_realworld.py")]
    opens = bool(added) and all(_opens(ws, d, 'return "not an int"') for d in added)
    by_severity = {sev: sum(e[2] == sev for e in expected) for sev in ("error", "warning", "info")}
    # the answer lists up to 200 of them (the rest by rule): every one listed is in mypy's report
    equal = answer["counts"] == by_severity and set(got) <= set(expected) and answer["total"] == len(expected)
    rows = [
        "| project | linter chosen | Volley: diagnostics (errors / notes) | direct (mypy -O json src) "
        "| counts equal, each listed path:line:severity in mypy's "
        "| the added error opens its line | Volley / direct time |",
        "|---|---|---|---|---|---|---|",
        f"| {MYPY_PROJECT.replace('==', ' ')} (`[tool.mypy] strict`) | {answer['runs'][0]['linter']} "
        f"| {answer['total']} ({answer['counts']['error']} / {answer['counts']['info']}) "
        f"| {len(expected)} ({sum(e[2] == 'error' for e in expected)} / {sum(e[2] == 'info' for e in expected)}) "
        f"| {'yes' if equal else 'NO'} | {'yes' if opens else 'NO'} | {volley_s:.1f} s / {direct_s:.1f} s |",
    ]
    print(rows[-1], flush=True)
    return rows, (not equal) + (not opens)


def _opens(ws: Path, failure: dict, wanted: str) -> bool:
    path, line = failure.get("path"), failure.get("line")
    if not path or not line:
        return False
    lines = (ws / path).read_text().splitlines()
    return 0 < line <= len(lines) and lines[line - 1].strip() == wanted


if __name__ == "__main__":
    main()
