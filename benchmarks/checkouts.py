"""The kept file index across real `git checkout`s: `make checkouts REPO=/path/to/a/git/clone`.

A server-side index watched by inotify follows the checkouts of a published repository's history; after
each, its list must equal a fresh walk entry for entry, and git's own listing of the same tree (tracked
and untracked files git does not ignore; tracked files that ignore rules match, links, and files Volley's
deny rules keep out are set aside, as Volley shows none of them). The clone is checked out in place:
give a scratch clone. Prints a Markdown table; writes benchmarks/results/checkouts.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.run import RESULTS
from volley.index import FileIndex, index_of, visible_files
from volley.workspace import Workspace

STEPS = ["ORIG~3000", "ORIG~2000", "ORIG~1500", "ORIG~200", "ORIG~199", "ORIG~198", "ORIG", "ORIG~3000", "ORIG"]


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout


def git_files(root: Path, ws: Workspace) -> tuple[set[str], int]:
    """What git lists that Volley should show, and how many of git's files Volley's deny rules keep out."""

    def listed(*args: str) -> set[str]:
        return {p for p in git(root, "ls-files", "-z", *args).split("\0") if p}

    files = listed("--cached", "--others", "--exclude-standard") - listed("--cached", "-i", "--exclude-standard")
    files = {p for p in files if os.path.isfile(root / p) and not os.path.islink(root / p)}
    denied = {p for p in files if ws.deny.denies(p, False)}
    return files - denied, len(denied)


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("REPO", "")).resolve()
    if not (root / ".git").exists():
        sys.exit("give a scratch git clone: make checkouts REPO=/path/to/clone (it is checked out in place)")
    original = git(root, "rev-parse", "HEAD").strip()
    ws = Workspace(root)
    index = index_of(ws)
    why_not = index.watch(65_536)
    rows = [
        f"The kept index across `git checkout`s of {root.name} ({'inotify' if why_not is None else why_not}); "
        "`make checkouts`.",
        "",
        "| checkout (ORIG: the clone's HEAD) | files | files changed (git diff) | next call | read again | "
        "= a fresh walk | = git's list |",
        "|---|---|---|---|---|---|---|",
    ]
    git(root, "checkout", "-q", STEPS[0].replace("ORIG", original))
    visible_files(ws, ws.resolve("."))
    previous = git(root, "rev-parse", "HEAD").strip()
    try:
        for step in STEPS[1:]:
            rev = step.replace("ORIG", original)
            git(root, "checkout", "-q", rev)
            changed = len(git(root, "diff", "--name-only", previous, "HEAD").splitlines())
            walks, patches = index.walks, index.patches
            started = time.perf_counter()
            kept = visible_files(ws, ws.resolve("."))
            took = time.perf_counter() - started
            fresh = FileIndex(Workspace(root))._current(False)
            expected, denied = git_files(root, ws)
            how = "the whole tree" if index.walks > walks else f"{index.patches - patches} patch"
            same_walk = kept == fresh.files and index._snapshots[False].entries == fresh.entries
            rows.append(
                f"| {step} | {len(kept):,} | {changed:,} files | {took * 1e3:.0f} ms | {how} | "
                f"{'yes' if same_walk else 'NO'} | {'yes' if set(kept) == expected else 'NO'} ({denied} denied) |"
            )
            previous = git(root, "rev-parse", "HEAD").strip()
    finally:
        git(root, "checkout", "-q", original)
    report = "\n".join(rows) + "\n"
    print(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "checkouts.md").write_text(report)


if __name__ == "__main__":
    main()
