"""`make realworld`, part two: the cases Volley once misread (issue 26), each against the tool's own report.

Each row is a published project: a PyPI sdist, or a public repository's snapshot at a named commit (the
tool library's mirror, or a clone: REALWORLD_MIRRORS points at a directory holding `owner+name/repo` git
directories). Checked per row: Volley's counts equal the tool's own run, every location Volley gives for the
added failure opens its line, and, for linters, no file of the project changed (hashes before and after).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks.realworld import ROOT

MIRRORS = Path(os.environ.get("REALWORLD_MIRRORS", "/work/.mirror"))
BARE = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")}  # as Claude Desktop starts a server


@dataclass
class Row:
    label: str
    case: str
    volley: str
    direct: str
    equal: bool
    opens: bool | None  # None: not a check of this row
    unchanged: bool | None
    volley_s: float
    direct_s: float

    def markdown(self) -> str:
        mark = {True: "yes", False: "NO", None: "–"}
        return (
            f"| {self.label} | {self.case} | {self.volley} | {self.direct} | {mark[self.equal]} | {mark[self.opens]} "
            f"| {mark[self.unchanged]} | {self.volley_s:.1f} s / {self.direct_s:.1f} s |"
        )


def volley(ws: Path, tool: str, arguments: dict | None = None, env: dict | None = None) -> tuple[dict, float]:
    started = time.perf_counter()
    argv = [sys.executable, "-m", "volley", "call", "--json", "--workspace", str(ws), tool]
    done = subprocess.run([*argv, json.dumps(arguments or {})], capture_output=True, text=True, env=env or BARE)
    elapsed = time.perf_counter() - started
    try:
        return json.loads(done.stdout), elapsed
    except ValueError:
        return {"error": (done.stdout + done.stderr)[-2000:]}, elapsed


def timed(argv: list[str], cwd: Path, env: dict | None = None) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    return done, time.perf_counter() - started


def digest(root: Path, skip: tuple[str, ...] = (".venv", "node_modules", "target")) -> dict[str, str]:
    found = {}
    for directory, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in skip]
        for name in files:
            path = Path(directory, name)
            if not path.is_symlink():
                found[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def sdist(spec: str, into: Path) -> Path:
    """The sdist of ``spec`` unpacked at ``into`` (cached)."""
    if into.exists():
        return into
    sdists = ROOT / "sdists"
    pip = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:", "-d", str(sdists)]
    subprocess.run([*pip, spec], check=True)
    name, version = spec.split("==")
    archive = next(p for p in sdists.glob("*.tar.gz") if p.name.lower().startswith(f"{name}-{version}"))
    staging = ROOT / "staging"
    shutil.rmtree(staging, ignore_errors=True)
    with tarfile.open(archive) as tar:
        top = tar.getnames()[0].split("/")[0]
        tar.extractall(staging, filter="data")
    into.parent.mkdir(parents=True, exist_ok=True)
    (staging / top).rename(into)
    return into


def snapshot(repo: str, commit: str, into: Path) -> Path:
    """A repository's tree at ``commit`` (git archive from the mirror), at ``into`` (cached)."""
    if into.exists():
        return into
    git_dir = MIRRORS / repo.replace("/", "+") / "repo"
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(git_dir), "archive", commit], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def venv(home: Path, *packages: str) -> Path:
    python = home / ".venv" / "bin" / "python"
    if not (home / ".venv" / ".ready").exists():
        subprocess.run([sys.executable, "-m", "venv", str(home / ".venv")], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *packages], check=True)
        (home / ".venv" / ".ready").write_text("")
    return python


def opens(ws: Path, path: str | None, line: int | None, wanted: str) -> bool:
    if not path or not line:
        return False
    lines = (ws / path).read_text().splitlines()
    return 0 < line <= len(lines) and wanted in lines[line - 1]


# --- linters: a project's `fix = true` overruled; a project's own flake8 ---------------------------------


def ruff_fix_true() -> Row:
    """flask sets `fix = true` for ruff: run_linter once applied its fixes (14 files lost imports)."""
    ws = sdist("flask==3.1.3", ROOT / "truth-flask")
    before = digest(ws)
    answer, volley_s = volley(ws, "run_linter", {"linter": "ruff"})
    unchanged = digest(ws) == before
    from ruff.__main__ import find_ruff_bin

    own, direct_s = timed([find_ruff_bin(), "check", "--no-fix", "--no-cache", "--output-format", "json"], ws)
    expected = sorted(
        (d["filename"][len(str(ws)) + 1 :], d["location"]["row"], d["code"]) for d in json.loads(own.stdout)
    )
    got = sorted((d["path"], d["line"], d["code"]) for d in answer.get("diagnostics", []))
    equal = got == expected and answer.get("total") == len(expected)
    return Row(
        "flask 3.1.3 (sdist)",
        "ruff `fix = true`",
        f"{answer.get('total')} diagnostics",
        f"{len(expected)}",
        equal,
        None,
        unchanged,
        volley_s,
        direct_s,
    )


def flake8_project() -> Row:
    """parso configures flake8 only: Volley ran its own ruff with default rules (948 findings)."""
    ws = sdist("parso==0.8.7", ROOT / "truth-parso")
    venv(ws, "flake8")
    before = digest(ws)
    answer, volley_s = volley(ws, "run_linter", {"paths": ["parso"]})
    unchanged = digest(ws) == before
    own, direct_s = timed([str(ws / ".venv/bin/flake8"), "parso"], ws)
    expected = sorted(
        (m[1], int(m[2]), m[3]) for m in re.finditer(r"^(.+?):(\d+):\d+: (\w+) ", own.stdout, re.MULTILINE)
    )
    got = sorted((d["path"], d["line"], d["code"]) for d in answer.get("diagnostics", []))
    linters = [r["linter"] for r in answer.get("runs", [])]
    equal = got == expected and linters == ["flake8"]
    return Row(
        "parso 0.8.7 (sdist)",
        "flake8 configured, no ruff",
        f"{answer.get('total')} ({', '.join(linters)})",
        f"{len(expected)} (flake8)",
        equal,
        None,
        unchanged,
        volley_s,
        direct_s,
    )


# --- test runners -----------------------------------------------------------------------------------------


def _junit_counts(report: Path) -> dict[str, int]:
    suite = ET.parse(report).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    tests, failures, errors, skipped = (int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped"))
    return {"passed": tests - failures - errors - skipped, "failed": failures, "errors": errors, "skipped": skipped}


def _counts(answer: dict) -> dict[str, int]:
    return {k: answer.get(k, -1) for k in ("passed", "failed", "errors", "skipped")}


def _fmt(counts: dict[str, int]) -> str:
    return " / ".join(str(counts[k]) for k in ("passed", "failed", "errors", "skipped"))


BROKEN = "def volley_broken(:\n"


def source_syntax_error() -> Row:
    """A SyntaxError in a source module was located at the test's import line."""
    ws = sdist("six==1.17.0", ROOT / "truth-six-syntax")
    python = venv(ws, "pytest")
    source = (ws / "six.py").read_text()
    if BROKEN not in source:
        (ws / "six.py").write_text(source + "\n\n" + BROKEN)
    line = (ws / "six.py").read_text().splitlines().index(BROKEN.strip()) + 1
    answer, volley_s = volley(ws, "run_tests")
    report = ws / "direct.xml"
    _, direct_s = timed([str(python), "-m", "pytest", "-q", f"--junitxml={report}"], ws)
    expected = _junit_counts(report)
    located = [(f["path"], f["line"]) for f in answer.get("failures", [])]
    return Row(
        "six 1.17.0 (sdist)",
        "a SyntaxError added to six.py",
        f"{_fmt(_counts(answer))}, at {located}",
        f"{_fmt(expected)}, six.py:{line}",
        _counts(answer) == expected,
        located == [("six.py", line)],
        None,
        volley_s,
        direct_s,
    )


FAILING_PY = "def test_volley_realworld_fails():\n    value = 1\n    assert value == 2\n"


def xdist_project() -> Row:
    """pytest-xdist: partial counts were 0; the whole run must equal pytest's own report too."""
    ws = sdist("toolz==1.2.0", ROOT / "truth-toolz-xdist")
    python = venv(ws, "pytest", "pytest-xdist", str(ws))
    (ws / "toolz/tests/test_volley_realworld.py").write_text(FAILING_PY)
    answer, volley_s = volley(
        ws, "run_tests", {"keyword": "not volley_nothing"}, env={**BARE, "PYTEST_ADDOPTS": "-n 2"}
    )
    report = ws / "direct.xml"
    _, direct_s = timed([str(python), "-m", "pytest", "-q", "-n", "2", f"--junitxml={report}"], ws)
    expected = _junit_counts(report)
    added = [f for f in answer.get("failures", []) if "volley" in f["test_id"]]
    located = bool(added) and all(opens(ws, f["path"], f["line"], "assert value == 2") for f in added)
    return Row(
        "toolz 1.2.0 (sdist)",
        "pytest-xdist, -n 2",
        _fmt(_counts(answer)),
        _fmt(expected),
        _counts(answer) == expected,
        located,
        None,
        volley_s,
        direct_s,
    )


NODE_FAILING = (
    "const test = require('node:test');\nconst assert = require('node:assert');\n\n"
    "test('volley realworld fails', () => {\n  const value = 1;\n  assert.strictEqual(value, 2);\n});\n"
)


def node_test_runner() -> Row:
    """commander.js: `"test": "node --test && npm run check:type:ts"` was '0 passed' or CRASHED."""
    ws = snapshot("tj/commander.js", "ba6d13dd", ROOT / "truth-commander-node")
    (ws / "tests/volley.realworld.test.cjs").write_text(NODE_FAILING)
    answer, volley_s = volley(ws, "run_tests")
    report = ws / "direct.xml"
    node = shutil.which("node") or "node"
    argv = [node, "--test", "--test-reporter=junit", f"--test-reporter-destination={report}"]
    _, direct_s = timed(argv, ws)
    totals = {k: int(n) for k, n in re.findall(r"<!-- (\w+) (\d+) -->", report.read_text())}
    expected = {
        "passed": totals["pass"],
        "failed": totals["fail"],
        "errors": totals["cancelled"],
        "skipped": totals["skipped"] + totals["todo"],
    }
    added = [f for f in answer.get("failures", []) if "volley" in f["test_id"]]
    located = bool(added) and all(opens(ws, f["path"], f["line"], "assert.strictEqual(value, 2)") for f in added)
    return Row(
        "commander.js ba6d13dd (git)",
        "node --test, in a compound test script",
        _fmt(_counts(answer)),
        _fmt(expected),
        _counts(answer) == expected,
        located,
        None,
        volley_s,
        direct_s,
    )


JEST_FAILING = "test('volley realworld fails', () => {\n  const value = 1;\n  expect(value).toBe(2);\n});\n"


def jest_runner() -> Row:
    """commander.js before its move to node:test: its tests parse process.argv (Volley's --json was seen)
    and any failing test made the suite CRASHED."""
    ws = snapshot("tj/commander.js", "3dd60861~1", ROOT / "truth-commander-jest")
    if not (ws / "node_modules" / ".ready").exists():
        npm = ["npm", "install", "--no-save", "--no-audit", "--no-fund", "--silent", "jest@29", "ts-jest@29"]
        subprocess.run([*npm, "typescript@5"], cwd=ws, check=True)
        (ws / "node_modules" / ".ready").write_text("")
    (ws / "tests/volley.realworld.test.js").write_text(JEST_FAILING)
    answer, volley_s = volley(ws, "run_tests", {"runner": "jest"})
    # as the project runs it, `jest` alone: with --json in process.argv its own tests fail (they parse it)
    own, direct_s = timed([str(ws / "node_modules/.bin/jest")], ws)
    summary = re.search(r"^Tests:\s+(.*?) total$", own.stderr + own.stdout, re.MULTILINE)
    parts = {
        kind: int(n) for n, kind in re.findall(r"(\d+) (passed|failed|skipped|todo)", summary[1] if summary else "")
    }
    suites = re.search(r"^Test Suites:\s+(.*)$", own.stderr + own.stdout, re.MULTILINE)
    expected = {
        "passed": parts.get("passed", 0),
        "failed": parts.get("failed", 0),
        "errors": 0,
        "skipped": parts.get("skipped", 0) + parts.get("todo", 0),
    }
    if suites and "failed" in suites[1] and not parts.get("failed"):
        expected["errors"] = int(re.search(r"(\d+) failed", suites[1])[1])
    added = [f for f in answer.get("failures", []) if "volley" in f["test_id"]]
    located = bool(added) and all(opens(ws, f["path"], f["line"], "expect(value).toBe(2)") for f in added)
    return Row(
        "commander.js 3dd60861~1 (git)",
        "jest; tests that parse process.argv",
        _fmt(_counts(answer)),
        _fmt(expected),
        _counts(answer) == expected,
        located,
        None,
        volley_s,
        direct_s,
    )


DOC_FAILING = "/// ```\n/// assert_eq!(1 + 1, 3);\n/// ```\npub fn volley_realworld() {}\n"


def cargo_doc_test() -> Row:
    """semver: doc-tests never ran after a failing binary; doc-test failures were counted but not listed."""
    ws = snapshot("dtolnay/semver", "HEAD", ROOT / "truth-semver")
    manifest = (ws / "Cargo.toml").read_text()
    # no crates.io here: the optional serde and the criterion bench (a dev-dependency) are taken out
    manifest = re.sub(r"\[target\.'cfg\(not\(miri\)\)'\.dev-dependencies\]\ncriterion = .*\n", "", manifest)
    manifest = re.sub(r"\[\[bench\]\]\nname = \"parse\"\n(harness = false\n)?", "", manifest)
    manifest = manifest.replace('serde = ["dep:serde"]\n', "").replace('features = ["serde"]\n', "")
    manifest = re.sub(r"\[dependencies\]\nserde = .*\n", "", manifest)
    manifest = re.sub(r"\[target\.'cfg\(any\(\)\)'\.dependencies\]\nserde = .*\n", "", manifest)
    (ws / "Cargo.toml").write_text(manifest)
    shutil.rmtree(ws / "benches", ignore_errors=True)
    lib = (ws / "src/lib.rs").read_text()
    if DOC_FAILING not in lib:
        (ws / "src/lib.rs").write_text(lib + "\n" + DOC_FAILING)
    unit = "#[test]\nfn volley_realworld_fails() {\n    let value = 1;\n    assert_eq!(value, 2);\n}\n"
    (ws / "tests/volley_realworld.rs").write_text(unit)
    env = {**BARE, "PATH": f"{Path.home()}/.cargo/bin:/usr/bin:/bin", "RUST_BACKTRACE": "0"}
    answer, volley_s = volley(ws, "run_tests", env=env)
    own, direct_s = timed(["cargo", "test", "--no-fail-fast", "--offline"], ws, {"RUST_BACKTRACE": "0"})
    results = re.findall(r"^test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored", own.stdout, re.MULTILINE)
    expected = {
        "passed": sum(int(r[0]) for r in results),
        "failed": sum(int(r[1]) for r in results),
        "errors": 0,
        "skipped": sum(int(r[2]) for r in results),
    }
    failures = {f["test_id"]: f for f in answer.get("failures", [])}
    doc = [f for name, f in failures.items() if name.startswith("src/lib.rs - volley_realworld")]
    unit_failure = failures.get("volley_realworld_fails")
    located = (
        bool(doc)
        and unit_failure is not None
        and opens(ws, unit_failure["path"], unit_failure["line"], "assert_eq!(value, 2);")
    )
    return Row(
        "semver 1.0.27 (git, no serde or criterion)",
        "cargo: a failing binary, then a failing doc-test",
        _fmt(_counts(answer)),
        _fmt(expected),
        _counts(answer) == expected,
        located,
        None,
        volley_s,
        direct_s,
    )


ROWS: list[Callable[[], Row]] = [
    ruff_fix_true,
    flake8_project,
    source_syntax_error,
    xdist_project,
    node_test_runner,
    jest_runner,
    cargo_doc_test,
]
HEADER = [
    "| project | case | Volley | the tool's own run | equal | failure opens its line | no file changed "
    "| Volley / direct time |",
    "|---|---|---|---|---|---|---|---|",
]


def rows() -> tuple[list[str], int]:
    lines, problems = list(HEADER), 0
    for make in ROWS:
        try:
            row = make()
        except Exception as exc:  # a row that cannot be prepared here says so, and counts as a problem
            lines.append(f"| {make.__name__} | could not run: {str(exc)[:200]} | | | NO | | | |")
            problems += 1
            print(lines[-1], flush=True)
            continue
        problems += (not row.equal) + (row.opens is False) + (row.unchanged is False)
        lines.append(row.markdown())
        print(lines[-1], flush=True)
    return lines, problems


if __name__ == "__main__":
    found, count = rows()
    print("\n".join(found))
    raise SystemExit(1 if count else 0)
