"""Ignore rules as git applies them, on published projects' own .gitignore files (git is the oracle).

tests/fixtures/ignore_sets/ holds, per project, its .gitignore files as published and a sample of its
paths. Each set is laid out in a fresh git repository with those paths, paths made from every pattern
(and at a deeper level, for unanchored ones), and the usual build output and junk in each directory;
Volley's visible files must be exactly what `git ls-files --others --exclude-standard` lists, less
the secrets Volley denies whatever git says.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from volley.index import visible_files
from volley.workspace import Workspace

SETS = sorted((Path(__file__).parent / "fixtures" / "ignore_sets").glob("*.txt"))
JUNK = [
    "node_modules/m/index.js",
    "dist/out.js",
    "build/y.js",
    "coverage/lcov.info",
    "debug.log",
    ".DS_Store",
    "out.tsbuildinfo",
    ".cache/c",
    "tmp/t.txt",
    "x.tmp",
    "keep.tmp",
]


def _sections(path: Path) -> tuple[dict[str, list[str]], list[str]]:
    ignores: dict[str, list[str]] = {}
    current: list[str] | None = None
    paths: list[str] = []
    for line in path.read_text().splitlines()[1:]:
        if line.startswith("== "):
            name = line[3:]
            current = paths if name == "paths" else ignores.setdefault(name, [])
        elif current is not None:
            current.append(line)
    return ignores, paths


def _from_pattern(line: str) -> str | None:
    """A path the pattern matches (wildcards filled in), relative to its .gitignore's directory."""
    line = line.strip()
    if not line or line.startswith("#"):
        return None
    line = line.removeprefix("!").removeprefix("\\").strip("/")
    line = re.sub(r"\[!?([^\]]+)\]", lambda m: m[1][0], line)
    line = line.replace("**", "deep/er").replace("*", "x").replace("?", "q")
    return line or None


def _layout(root: Path, ignores: dict[str, list[str]], sample: list[str]) -> None:
    files: set[str] = set(sample)
    directories = {p.rpartition("/")[0] for p in sample} | {g.rpartition("/")[0] for g in ignores}
    for directory in sorted(directories)[:150]:
        files.update(f"{directory}/{junk}" if directory else junk for junk in JUNK)
    for ignore, lines in ignores.items():
        base = ignore.rpartition("/")[0]
        for line in lines:
            made = _from_pattern(line)
            if made is None:
                continue
            for rel in (made, f"nested/{made}", f"{made}/inside.txt"):
                files.add(f"{base}/{rel}" if base else rel)
    placed: set[str] = set()
    for rel in sorted(files, key=lambda p: (p.count("/"), p)):  # a path cannot be a file and a directory
        parts = rel.split("/")
        if any("/".join(parts[:i]) in placed for i in range(1, len(parts))) or any(
            other.startswith(rel + "/") for other in placed
        ):
            continue
        target = root / rel
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("x\n")
        placed.add(rel)
    for ignore, lines in ignores.items():
        (root / ignore).parent.mkdir(parents=True, exist_ok=True)
        (root / ignore).write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("ignore_set", SETS, ids=[s.stem for s in SETS])
def test_visible_files_match_git_on_a_published_projects_ignore_files(tmp_path: Path, ignore_set: Path) -> None:
    ignores, sample = _sections(ignore_set)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    _layout(tmp_path, ignores, sample)
    listed = subprocess.run(
        ["git", "ls-files", "--others", "--exclude-standard", "-z"], cwd=tmp_path, capture_output=True, check=True
    ).stdout.decode()
    ws = Workspace(tmp_path)

    def denied(rel: str) -> bool:
        parts = rel.split("/")
        dirs = ("/".join(parts[:i]) for i in range(1, len(parts)))
        return ws.deny.denies(rel, False) or any(ws.deny.denies(d, True) for d in dirs)

    expected = {p for p in listed.split("\0") if p and not denied(p)}
    walked = set(visible_files(ws, ws.resolve(".")))
    assert len(expected) > 300
    assert walked - expected == set(), "Volley shows what git ignores"
    assert expected - walked == set(), "Volley hides what git shows"
