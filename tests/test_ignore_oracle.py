"""Ignore semantics checked against git itself on generated trees (git is the oracle)."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from volley.ignore import _core_ignorecase
from volley.index import visible_files
from volley.workspace import Workspace

DIRS = ["", "a", "b", "a/b", "a/c", "b/a", "a/b/c", "c"]
FILES = ["x.py", "y.log", "keep.log", "z", "a", "c.txt"]
PATTERNS = [
    "*.log",
    "!keep.log",
    "b/",
    "/a",
    "a",
    "**/c",
    "a/**/z",
    "*",
    "!*.py",
    "x.py",
    "/b/",
    "c/",
    "!a/",
    "z",
    "!b",
    "*/z",
    "a/b",
    "!/a/b/",
    "c.txt",
    "!z",
    "**/b/*.py",
    "[xy].*",
    "?",
    "#comment",
    "",
    # a directory's contents, not the directory: git enters it, and a deeper negation re-includes
    "a/**",
    "!a/**",
    "**/b/**",
    "!**/b/**/*",
    "b/**/",
    "**/c/**",
    "!**/c/**",
    "/a/b/**",
]

trees = st.fixed_dictionaries(
    {
        "files": st.sets(st.tuples(st.sampled_from(DIRS), st.sampled_from(FILES)), min_size=1, max_size=25),
        "ignores": st.dictionaries(
            st.sampled_from(DIRS), st.lists(st.sampled_from(PATTERNS), min_size=1, max_size=5), max_size=4
        ),
        "exclude": st.lists(st.sampled_from(PATTERNS), max_size=2),
    }
)


def _build(root: Path, tree: dict) -> set[str]:
    files = set()
    for directory, name in tree["files"]:
        rel = f"{directory}/{name}" if directory else name
        if any(rel.startswith(f + "/") for f in files) or any(f.startswith(rel + "/") for f in files):
            continue  # a name cannot be both a file and a directory
        clash = any(d and (rel == d or d.startswith(rel + "/")) for d in DIRS)
        if clash:
            continue
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x\n")
        files.add(rel)
    for directory, lines in tree["ignores"].items():
        (root / directory).mkdir(parents=True, exist_ok=True)
        (root / directory / ".gitignore").write_text("\n".join(lines) + "\n")
    return files


EXAMPLES = int(os.environ.get("VOLLEY_ORACLE_EXAMPLES", "150"))  # 4,000 passed when this was written


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=trees)
def test_visible_files_match_git_ls_files(tree: dict) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        subprocess.run(["git", "init", "-q", str(root)], check=True)
        (root / ".git" / "info" / "exclude").write_text("\n".join(tree["exclude"]) + "\n")
        _build(root, tree)
        listed = subprocess.run(
            ["git", "ls-files", "--others", "--exclude-standard", "-z"], cwd=root, capture_output=True, check=True
        ).stdout.decode()
        expected = {p for p in listed.split("\0") if p}
        ws = Workspace(root)
        walked = set(visible_files(ws, ws.resolve(".")))
        assert walked == expected
        every = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and ".git" not in p.parts}
        direct = {p for p in every if ws.ignored(p, is_dir=False) is None}
        assert direct == expected


def test_gitignore_applies_without_a_git_repository(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("out/\n")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "x.txt").write_text("x")
    (tmp_path / "y.txt").write_text("y")
    ws = Workspace(tmp_path)
    assert visible_files(ws, ws.resolve(".")) == [".gitignore", "y.txt"]


def test_parent_repo_gitignore_applies_to_a_workspace_inside_it(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("*.tmp\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.tmp").write_text("x")
    (tmp_path / "pkg" / "a.py").write_text("x")
    ws = Workspace(tmp_path / "pkg")
    assert visible_files(ws, ws.resolve(".")) == ["a.py"]
    decision = ws.ignored("a.tmp", is_dir=False)
    assert decision is not None and decision.pattern == "*.tmp"


def test_a_directorys_contents_pattern_lets_a_deeper_negation_re_include(tmp_path: Path) -> None:
    """A monorepo's root `**/node_modules/**` ignores what is inside node_modules, not the directory, so a
    package's own `!**/node_modules/**/*` re-includes its files (Volley hid them: the directory was excluded)."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("**/node_modules/**\ndist/**\n")
    (tmp_path / "packages/app/.gitignore").parent.mkdir(parents=True)
    (tmp_path / "packages/app/.gitignore").write_text("!**/node_modules/**/*\n")
    for rel in (
        "node_modules/x/y.js",
        "node_modules/z.js",
        "packages/app/node_modules/pkg/lib/a.js",
        "packages/app/node_modules/top.js",
        "packages/app/main.js",
        "dist/out.js",
        "dist/sub/o.js",
    ):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x\n")
    listed = subprocess.run(
        ["git", "ls-files", "--others", "--exclude-standard"], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.split()
    ws = Workspace(tmp_path)
    assert sorted(visible_files(ws, ws.resolve("."))) == sorted(listed)
    assert "packages/app/node_modules/pkg/lib/a.js" in listed and "node_modules/z.js" not in listed


CASE_DIRS = ["", "Src", "src2", "Src/Build", "docs/API", "Docs"]
CASE_FILES = ["Main.PY", "debug.Log", "KEEP.log", "Readme", "x.txt"]
CASE_PATTERNS = ["*.log", "!keep.LOG", "build/", "/SRC2", "**/api", "main.py", "[Rr]EADME", "src/**", "!SRC/build/**"]
case_trees = st.fixed_dictionaries(
    {
        "files": st.sets(st.tuples(st.sampled_from(CASE_DIRS), st.sampled_from(CASE_FILES)), min_size=1, max_size=20),
        "ignores": st.dictionaries(
            st.sampled_from(CASE_DIRS), st.lists(st.sampled_from(CASE_PATTERNS), min_size=1, max_size=4), max_size=3
        ),
        "ignorecase": st.booleans(),
    }
)


@settings(max_examples=EXAMPLES // 2, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=case_trees)
def test_ignore_rules_follow_gits_core_ignorecase(tree: dict) -> None:
    """On macOS and Windows git sets core.ignorecase, and `Build/` is then ignored by `build/`: Volley follows
    the repository's setting, either way (git is the oracle, on this case-sensitive filesystem too)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        subprocess.run(["git", "init", "-q", str(root)], check=True)
        subprocess.run(["git", "-C", str(root), "config", "core.ignorecase", str(tree["ignorecase"]).lower()])
        for directory, name in tree["files"]:
            (root / directory).mkdir(parents=True, exist_ok=True)
            (root / directory / name).write_text("x\n")
        for directory, lines in tree["ignores"].items():
            (root / directory).mkdir(parents=True, exist_ok=True)
            (root / directory / ".gitignore").write_text("\n".join(lines) + "\n")
        listed = subprocess.run(
            ["git", "ls-files", "--others", "--exclude-standard", "-z"], cwd=root, capture_output=True, check=True
        ).stdout.decode()
        ws = Workspace(root)
        assert set(visible_files(ws, ws.resolve("."))) == {p for p in listed.split("\0") if p}


def test_core_ignorecase_is_read_as_git_writes_it(tmp_path: Path) -> None:
    config = tmp_path / "config"
    for text, expected in [
        ("[core]\n\trepositoryformatversion = 0\n\tignorecase = true\n", True),
        ("[core]\n\tIgnoreCase = false ; a comment\n", False),
        ('[core]\n\tignorecase\n[remote "origin"]\n\tignorecase = false\n', True),
        ("[user]\n\tname = n\n", None),
    ]:
        config.write_text(text)
        assert _core_ignorecase(config) is expected, text
