"""list_dir's glob answered from the index: the same entries as walking the tree, and never stale."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from pathspec import GitIgnoreSpec

from tests.conftest import serve, write
from volley.workspace import Workspace

pytestmark = pytest.mark.anyio
GLOBS = ["**/*.py", "*.md", "src/**", "**/tests", "**/tests/", "a*/b?/*.txt", "docs", "!*.py", "**/link*", "**"]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    write(tmp_path, ".gitignore", "build/\n*.log\n**/node_modules/**\n!keep.log\n")
    for rel in (
        "src/app.py",
        "src/tests/test_app.py",
        "src/tests/data.txt",
        "docs/index.md",
        "README.md",
        "ab/bc/x.txt",
        "ab/bcd/y.txt",
        "build/out.py",
        "x.log",
        "keep.log",
        "node_modules/pkg/index.js",
        "pkg/tests/t.py",
        "weird name.py",
        "new\nline.md",
    ):
        write(tmp_path, rel, "x\n")
    (tmp_path / "empty" / "tests").mkdir(parents=True)
    os.symlink("src/app.py", tmp_path / "link_to_app.py")
    os.symlink("/etc", tmp_path / "link_out")
    return tmp_path


def _walked(root: Path, glob: str, path: str = ".") -> list[str]:
    """The oracle: the tree walked, every entry checked with the glob (list_dir before the index)."""
    ws = Workspace(root)
    target = ws.resolve(path)
    spec, prefix = GitIgnoreSpec.from_lines([glob]), len(target.rel) + 1 if target.rel else 0
    entries = ws.walk(target)
    return [e.rel for e in entries if spec.check_file(e.rel[prefix:] + ("/" if e.is_dir else "")).include]


@pytest.mark.parametrize("path", [".", "src"])
async def test_a_glob_lists_what_walking_the_tree_lists(tree: Path, path: str) -> None:
    async with serve(tree) as client:
        for glob in GLOBS:
            data = (await client.call_tool("list_dir", {"path": path, "glob": glob})).structured_content
            assert [e["path"] for e in data["entries"]] == _walked(tree, glob, path), glob
            assert data["total"] == len(data["entries"])
    links = {e["path"]: e for e in data["entries"] if e["type"] == "symlink"}
    if path == ".":
        assert links["link_to_app.py"]["target"] == "src/app.py" and links["link_out"]["target"] is None


async def test_a_glob_answer_follows_creation_deletion_renaming_and_new_ignore_rules(tree: Path) -> None:
    """Each step fails if the index were served without proving itself current."""

    async def found(client: Any) -> set[str]:
        data = (await client.call_tool("list_dir", {"glob": "**/*.py"})).structured_content
        return {e["path"] for e in data["entries"] if e["type"] == "file"}

    async with serve(tree) as client:
        before = await found(client)
        write(tree, "src/deep/new.py", "x\n")
        assert await found(client) == before | {"src/deep/new.py"}
        (tree / "src/app.py").unlink()
        assert await found(client) == before - {"src/app.py"} | {"src/deep/new.py"}
        (tree / "src/deep/new.py").rename(tree / "src/deep/renamed.py")
        assert await found(client) == before - {"src/app.py"} | {"src/deep/renamed.py"}
        write(tree, "src/.gitignore", "deep/\n")
        assert await found(client) == before - {"src/app.py"}
