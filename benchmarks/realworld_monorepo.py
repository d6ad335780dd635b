"""Monorepo rows of `make realworld`: published packages assembled into the layouts real repositories have,
served at the repository's root, each project with its own environment and one failing test added.

For each layout, one `volley call run_tests` with no targets (every project's suite, at once) against each
project's runner run directly in its own folder: per project the counts must be equal, every added failure's
path:line (relative to the workspace) must open the failing line, and the whole run's time stands beside the
sum of the direct runs.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.realworld import FAILING, FAILING_FILE, FAILING_LINE, ROOT, Project, _opens, direct


@dataclass(frozen=True)
class Layout:
    label: str
    members: tuple[Project, ...]  # each with its subfolder


LAYOUTS = [
    Layout(
        "backend/ + libs/toolz/ (two Python projects, a .venv each)",
        (
            Project("six", "six==1.17.0", "", ".", "pytest", "backend"),
            Project("toolz", "toolz==1.2.0", "", "toolz/tests", "pytest", "libs/toolz"),
        ),
    ),
    Layout(
        "api/ (Python) + web/ (npm, vitest)",
        (
            Project("idna", "idna==3.20", "", "tests", "pytest", "api", deps=("hypothesis",)),
            Project("zod", "npm:zod@4.6.7", "", "src/v4/classic/tests", "vitest", "web", deps=("vitest@3",)),
        ),
    ),
    Layout(
        "services/*/ (three Python services)",
        (
            Project("pluggy", "pluggy==1.7.0", "", "testing", "pytest", "services/pluggy"),
            Project("boltons", "boltons==26.2.0", "", "tests", "pytest", "services/boltons"),
            Project("more-itertools", "more-itertools==11.2.1", "", "tests", "unittest", "services/more-itertools"),
        ),
    ),
]


def prepare(layout: Layout) -> Path:
    """The layout's workspace: a git repository holding each member in its folder, with its own environment."""
    ws = ROOT / ("mono-" + re.sub(r"\W+", "-", layout.label).strip("-")[:40])
    if (ws / ".ready").exists():
        return ws
    shutil.rmtree(ws, ignore_errors=True)
    for member in layout.members:
        home = ws / member.subfolder
        staging = ROOT / "staging"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        if member.npm:
            subprocess.run(["npm", "pack", "--silent", member.spec.removeprefix("npm:")], cwd=staging, check=True)
            archive, top = next(staging.glob("*.tgz")), "package"
        else:
            pip = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:", "-d"]
            subprocess.run([*pip, str(staging), member.spec], check=True)
            archive = next(staging.glob("*.tar.gz"))
            top = ""
        with tarfile.open(archive) as tar:
            top = top or tar.getnames()[0].split("/")[0]
            tar.extractall(staging, filter="data")
        home.parent.mkdir(parents=True, exist_ok=True)
        (staging / top).rename(home)
        (home / member.tests_dir / FAILING_FILE[member.style]).write_text(FAILING[member.style])
        if member.npm:
            subprocess.run(["npm", "install", "--no-save", "--silent", *member.deps], cwd=home, check=True)
        else:
            subprocess.run([sys.executable, "-m", "venv", str(home / ".venv")], check=True)
            vpip = [str(home / ".venv" / "bin" / "python"), "-m", "pip", "install", "--quiet"]
            subprocess.run([*vpip, "pytest", *member.deps, str(home)], check=True)
    (ws / ".gitignore").write_text(".venv/\nnode_modules/\n")
    subprocess.run(["git", "init", "-q"], cwd=ws, check=True)
    (ws / ".ready").write_text("")
    return ws


def rows() -> tuple[list[str], int]:
    out = [
        "| monorepo layout | project | Volley: passed / failed / errors / skipped+xfailed | direct, in its folder "
        "| counts equal | failure opens the failing line |",
        "|---|---|---|---|---|---|",
    ]
    timing = ["", "| monorepo layout | whole workspace, one call | sum of the projects' direct runs |"]
    timing.append("|---|---:|---:|")
    problems = 0
    fmt = lambda c: " / ".join(str(c[k]) for k in ("passed", "failed", "errors", "skipped+xfailed"))  # noqa: E731
    for layout in LAYOUTS:
        ws = prepare(layout)
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "volley", "call", "--json", "--workspace", str(ws), "run_tests"],
            capture_output=True,
            text=True,
            env={"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")},  # as Claude Desktop starts it
        )
        whole_s = time.perf_counter() - started
        answer = json.loads(done.stdout)
        per_project = {line.split(":", 1)[0]: line for line in answer.get("projects", [])}
        direct_sum = 0.0
        for member in layout.members:
            home = ws / member.subfolder
            expected, took = direct(dataclasses.replace(member, subfolder=""), home, home)
            direct_sum += took
            line = per_project.get(member.subfolder, "")
            found = re.findall(r"(\d+) (passed|failed|errors|subtests passed)", line.split(" (")[0])
            numbers = {what: int(n) for n, what in found}
            got = {
                "passed": numbers.get("passed", -1) + numbers.get("subtests passed", 0),  # JUnit lists subtests
                "failed": numbers.get("failed", -1),
                "errors": numbers.get("errors", -1),
                "skipped+xfailed": expected["skipped+xfailed"],  # the project line does not carry them
            }
            added = [
                f
                for f in answer["failures"]
                if f.get("path", "").startswith(member.subfolder + "/") and "volley" in f["test_id"].lower()
            ]
            opens = bool(added) and all(_opens(ws, f, FAILING_LINE[member.style]) for f in added)
            equal = got == expected
            problems += (not equal) + (not opens)
            out.append(
                f"| {layout.label} | {member.subfolder} ({member.spec}) | {fmt(got)} | {fmt(expected)} | "
                f"{'yes' if equal else 'NO'} | {'yes' if opens else 'NO'} |"
            )
            print(out[-1], flush=True)
        timing.append(f"| {layout.label} | {whole_s:.1f} s | {direct_sum:.1f} s |")
    return out + timing, problems


if __name__ == "__main__":
    found, count = rows()
    print("\n".join(found))
    sys.exit(1 if count else 0)
