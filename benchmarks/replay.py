"""Real history as edit's oracle: each commit's changes sent as one `edit` call, applied by Volley on the parent.

    python -m benchmarks.replay [--commits 100]      # per repository; `make replay`

For every non-merge commit, the files it adds, changes and deletes are laid out as they were in its parent,
in a workspace of their own; each changed file's diff hunks become `replace` changes (the old lines with
their context → the new lines, context grown until the old text is unique in the file, as a client that
read the file would send), added files `create`, deleted ones `delete`; all in one call over a real
`volley serve`. Afterwards every file must equal git's own bytes for the commit: applied, refused (with the
reason) or wrong. Then the same corpus with each `old` perturbed (LF sent for a CRLF file, trailing spaces,
the block's indentation shifted, one character changed): how many apply, and how many at the wrong place.

Repositories come from the tool library's mirror (REALWORLD_MIRRORS, default /work/.mirror): itsdangerous
(Python), commander.js (JavaScript), semver (Rust) and Newtonsoft.Json before April 2012 (C#, CRLF files).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcp import Client
from mcp.client.stdio import StdioServerParameters

MIRRORS = Path(os.environ.get("REALWORLD_MIRRORS", "/work/.mirror"))
RESULTS = Path(__file__).parent / "results" / "replay.json"
REPOS = {  # mirror → git log arguments choosing the commits
    "pallets+itsdangerous": [],
    "tj+commander.js": [],
    "dtolnay+semver": [],
    "JamesNK+Newtonsoft.Json": ["--before=2012-04-01"],
}
PERTURBATIONS = ("LF for CRLF", "trailing spaces", "indentation shifted", "one character changed")
_HUNK = re.compile(rb"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@", re.MULTILINE)
MAX_FILE_BYTES = 1_000_000


@dataclass
class Commit:
    sha: str
    files: dict[str, bytes | None]  # path → the parent's bytes (None: the commit adds it)
    expected: dict[str, bytes | None]  # path → the commit's bytes (None: it deletes it)
    changes: list[dict[str, Any]]
    hunks: list[tuple[int, str, str]] = field(default_factory=list)  # (index in changes, old, new) of replaces


def git(repo: Path, *args: str) -> bytes:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=True).stdout


def commits(repo: Path, extra: list[str], count: int) -> list[str]:
    out = git(repo, "log", "--no-merges", "--format=%H", f"-{count * 3}", *extra, "HEAD").decode().split()
    return out


def build(repo: Path, sha: str) -> Commit | str:
    """The commit as one edit call, or why it cannot be one."""
    status = git(repo, "diff", "--no-renames", "--name-status", f"{sha}^", sha).decode().splitlines()
    numstat = git(repo, "diff", "--no-renames", "--numstat", f"{sha}^", sha).decode().splitlines()
    if not status:
        return "no file changed"
    if any(line.startswith("-\t-\t") for line in numstat):
        return "binary file"
    commit = Commit(sha, {}, {}, [])
    for line in status:
        kind, path = line.split("\t", 1)
        before = git(repo, "show", f"{sha}^:{path}") if kind != "A" else None
        after = git(repo, "show", f"{sha}:{path}") if kind != "D" else None
        if max(len(before or b""), len(after or b"")) > MAX_FILE_BYTES:
            return "file over 1 MB"
        try:
            old_text = _text(before)
            new_text = _text(after)
        except UnicodeDecodeError:
            return "not UTF-8"
        if (
            before is not None
            and after is not None
            and before.startswith(b"\xef\xbb\xbf") != after.startswith(b"\xef\xbb\xbf")
        ):
            return "byte-order mark added or removed"
        commit.files[path], commit.expected[path] = before, after
        if kind == "A":  # a whole new file: its byte-order mark is a character of what is sent
            commit.changes.append({"path": path, "action": "create", "new": (after or b"").decode("utf-8")})
        elif kind == "D":
            commit.changes.append({"path": path, "action": "delete"})
        else:
            diff = git(repo, "diff", "--no-renames", "-U3", f"{sha}^", sha, "--", path)
            for old, new in _hunks(diff, old_text, new_text):
                if not old:
                    commit.changes.append({"path": path, "action": "overwrite", "new": new_text})
                    break
                commit.hunks.append((len(commit.changes), old, new))
                commit.changes.append({"path": path, "old": old, "new": new})
    return commit


def _text(data: bytes | None) -> str:
    return "" if data is None else data.decode("utf-8").removeprefix("\ufeff")


def _hunks(diff: bytes, old_text: str, new_text: str) -> list[tuple[str, str]]:
    """Each hunk as (old, new) taken from the two texts, grown by a line each side until old is unique (never
    into a neighbouring hunk: outside the hunks the two texts' lines correspond one to one)."""
    old_lines, new_lines = old_text.splitlines(keepends=True), new_text.splitlines(keepends=True)
    spans = []
    for m in _HUNK.finditer(diff):
        a, b = int(m[1]), int(m[2] if m[2] is not None else 1)
        c, d = int(m[3]), int(m[4] if m[4] is not None else 1)
        spans.append((a - 1 if b else a, b, c - 1 if d else c, d))  # a hunk that removes nothing names the line before
    found = []
    for n, (a0, b, c0, d) in enumerate(spans):
        floor = spans[n - 1][0] + spans[n - 1][1] if n else 0
        ceiling = spans[n + 1][0] if n + 1 < len(spans) else len(old_lines)
        grow = 0
        while True:
            lo, hi = max(floor, a0 - grow), min(ceiling, a0 + b + grow)
            old = "".join(old_lines[lo:hi])
            new = "".join(new_lines[c0 - (a0 - lo) : c0 + d + (hi - a0 - b)])
            if not old or old_text.count(old) <= 1 or (lo == floor and hi == ceiling):
                break
            grow += 1
        found.append((old, new))
    return found


def perturbed(commit: Commit, how: str) -> list[dict[str, Any]] | None:
    """The commit's changes with every `old` (and, where a client would, `new`) perturbed; None: not applicable."""
    if not commit.hunks:
        return None
    changes = [dict(c) for c in commit.changes]
    touched = False
    for index, old, new in commit.hunks:
        if how == "LF for CRLF":
            if "\r\n" not in old:
                continue
            changes[index].update(old=old.replace("\r\n", "\n"), new=new.replace("\r\n", "\n"))
        elif how == "trailing spaces":
            changes[index]["old"] = re.sub(r"(\r?\n)", r"  \1", old)
        elif how == "indentation shifted":
            shift = lambda text: re.sub(r"(?m)^(?=[^\r\n])", "    ", text)  # noqa: E731
            changes[index].update(old=shift(old), new=shift(new))
        else:
            middle = len(old) // 2
            while middle < len(old) and not old[middle].isalnum():
                middle += 1
            if middle >= len(old):
                continue
            changes[index]["old"] = old[:middle] + ("x" if old[middle] != "x" else "y") + old[middle + 1 :]
        touched = True
    return changes if touched else None


def lay_out(root: Path, commit: Commit) -> None:
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    for path, content in commit.files.items():
        if content is not None:
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)


def outcome(root: Path, commit: Commit) -> str:
    for path, expected in commit.expected.items():
        target = root / path
        actual = target.read_bytes() if target.exists() else None
        if actual != expected:
            return f"wrong: {path}"
    return "applied"


async def replay(repo_name: str, extra: list[str], count: int, root: Path) -> dict[str, Any]:
    repo = MIRRORS / repo_name / "repo"
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "volley", "serve", "--workspace", str(root), "--set", "structured_output=true", "--no-watch"],
        env=dict(os.environ),
    )
    tally: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    wrong: list[str] = []
    perturb: dict[str, Counter[str]] = {how: Counter() for how in PERTURBATIONS}
    crlf_commits = 0
    root.mkdir(parents=True, exist_ok=True)
    async with Client(params, mode="legacy") as client:
        for sha in commits(repo, extra, count):
            if tally["commits"] >= count:
                break
            built = build(repo, sha)
            if isinstance(built, str):
                reasons[f"not replayable: {built}"] += 1
                continue
            tally["commits"] += 1
            tally["files"] += len(built.files)
            crlf_commits += any(b"\r\n" in (c or b"") for c in built.files.values())
            lay_out(root, built)
            result = await client.call_tool("edit", {"changes": built.changes, "lint": False})
            if result.is_error:
                text = " ".join(getattr(b, "text", "") for b in result.content)
                tally["refused"] += 1
                reasons[_reason(text)] += 1
                continue
            verdict = outcome(root, built)
            tally["applied" if verdict == "applied" else "wrong"] += 1
            if verdict != "applied":
                wrong.append(f"{sha[:10]} {verdict}")
            for how in PERTURBATIONS:
                changes = perturbed(built, how)
                if changes is None:
                    continue
                lay_out(root, built)
                perturb[how]["tried"] += 1
                result = await client.call_tool("edit", {"changes": changes, "lint": False})
                if result.is_error:
                    perturb[how]["refused"] += 1
                elif outcome(root, built) == "applied":
                    perturb[how]["applied"] += 1
                else:
                    perturb[how]["wrong place"] += 1
                    wrong.append(f"{sha[:10]} perturbed ({how})")
    return {
        "repo": repo_name,
        "commits": tally["commits"],
        "files": tally["files"],
        "crlf_commits": crlf_commits,
        "applied": tally["applied"],
        "refused": tally["refused"],
        "wrong": tally["wrong"],
        "reasons": dict(reasons.most_common()),
        "wrong_cases": wrong[:20],
        "perturbed": {how: dict(c) for how, c in perturb.items()},
    }


def _reason(text: str) -> str:
    if "places" in text:
        return "refused: old matches several places"
    if "not found" in text:
        return "refused: old not found"
    return "refused: " + text.split(":", 1)[-1].strip()[:80]


def report(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| repository | commits | files | with CRLF | applied | refused | wrong |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['repo'].replace('+', '/')} | {r['commits']} | {r['files']} | {r['crlf_commits']} | {r['applied']} | "
            f"{r['refused']} | {r['wrong']} |"
        )
    total = {k: sum(r[k] for r in rows) for k in ("commits", "files", "crlf_commits", "applied", "refused", "wrong")}
    lines.append(
        f"| **all** | {total['commits']} | {total['files']} | {total['crlf_commits']} | {total['applied']} | "
        f"{total['refused']} | {total['wrong']} |"
    )
    lines += ["", "| `old` perturbed | tried | applied | refused | applied at a wrong place |"]
    lines.append("|---|---:|---:|---:|---:|")
    for how in PERTURBATIONS:
        c = Counter()
        for r in rows:
            c.update(r["perturbed"][how])
        lines.append(f"| {how} | {c['tried']} | {c['applied']} | {c['refused']} | {c['wrong place']} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=100, help="commits per repository")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="volley-replay-") as scratch:
        for name, extra in REPOS.items():
            if not (MIRRORS / name / "repo").is_dir():
                print(f"{name}: no mirror at {MIRRORS / name} (fetch it with the tool library)", file=sys.stderr)
                continue
            print(f"{name}…", file=sys.stderr)
            rows.append(asyncio.run(replay(name, extra, args.commits, Path(scratch) / name.split("+")[1])))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=1))
    print(report(rows))
    for r in rows:
        for case in r["wrong_cases"]:
            print(f"WRONG {r['repo']}: {case}")
        print(f"{r['repo']}: {r['reasons']}", file=sys.stderr)
    return 1 if any(r["wrong"] or any(p.get("wrong place") for p in r["perturbed"].values()) for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
