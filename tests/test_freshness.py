"""Nothing is served stale: changes on disk show at once through the caches, for read_file and grep."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import serve, settle, text_of, write
from volley.index import index_of, visible_files
from volley.workspace import Workspace

pytestmark = pytest.mark.anyio
LONG_AGO = 1_500_000_000  # timestamps this old let the caches trust what they hold


def age(root: Path) -> None:
    """Make every timestamp old, so the index and the line cache keep their entries."""
    for directory, _, files in os.walk(root):
        for name in files:
            os.utime(os.path.join(directory, name), (LONG_AGO, LONG_AGO), follow_symlinks=False)
        os.utime(directory, (LONG_AGO, LONG_AGO))


def test_the_index_is_reused_while_nothing_changes_and_read_again_where_something_does(tmp_path: Path) -> None:
    write(tmp_path, "a/one.py", "x")
    write(tmp_path, "b/two.py", "x")
    age(tmp_path)
    ws = Workspace(tmp_path)
    root = ws.resolve(".")
    assert visible_files(ws, root) == ["a/one.py", "b/two.py"]
    assert visible_files(ws, root) == ["a/one.py", "b/two.py"] and index_of(ws).walks == 1
    write(tmp_path, "b/three.py", "x")
    assert visible_files(ws, root) == ["a/one.py", "b/three.py", "b/two.py"]
    assert (index_of(ws).walks, index_of(ws).patches) == (1, 1)  # b/ alone was listed again


def test_a_subtree_is_proved_current_by_what_shaped_it(tmp_path: Path) -> None:
    write(tmp_path, "src/app/one.py", "x")
    write(tmp_path, "src/app/deep/two.py", "x")
    write(tmp_path, "docs/guide.md", "x")
    age(tmp_path)
    ws = Workspace(tmp_path)
    app = ws.resolve("src/app")
    assert visible_files(ws, app) == ["src/app/deep/two.py", "src/app/one.py"]
    write(tmp_path, "docs/new.md", "x")  # outside the subtree: nothing below src/app changed
    os.utime(tmp_path / "docs", (LONG_AGO, LONG_AGO))  # (a fresh mtime would make the index distrust it)
    assert visible_files(ws, app) == ["src/app/deep/two.py", "src/app/one.py"] and index_of(ws).walks == 1
    write(tmp_path, "src/app/deep/three.py", "x")  # inside it
    assert visible_files(ws, app) == ["src/app/deep/three.py", "src/app/deep/two.py", "src/app/one.py"]
    age(tmp_path)
    with open(tmp_path / "src" / "app" / "deep" / ".gitignore", "w") as f:  # a new ignore file inside
        f.write("two.py\n")
    assert visible_files(ws, app) == ["src/app/deep/.gitignore", "src/app/deep/three.py", "src/app/one.py"]
    age(tmp_path)
    with open(tmp_path / "src" / "app" / "deep" / ".gitignore", "a") as f:  # edited in place: mtimes of dirs stay
        f.write("three.py\n")
    os.utime(tmp_path / "src" / "app" / "deep", (LONG_AGO, LONG_AGO))
    assert visible_files(ws, app) == ["src/app/deep/.gitignore", "src/app/one.py"]
    age(tmp_path)
    write(tmp_path, "src/.gitignore", "one.py\n")  # a new ignore file above the subtree
    age(tmp_path)
    os.utime(tmp_path / "src", (LONG_AGO + 1, LONG_AGO + 1))  # creating it changed its directory's mtime
    assert visible_files(ws, app) == ["src/app/deep/.gitignore"]
    with open(tmp_path / "src" / ".gitignore", "w") as f:  # and edited in place, its directory's mtime kept
        f.write("deep/\n")
    os.utime(tmp_path / "src", (LONG_AGO, LONG_AGO))
    assert visible_files(ws, app) == ["src/app/one.py"]
    (tmp_path / ".ignore").write_text("app/\n")  # at the root
    assert visible_files(ws, ws.resolve("src")) == ["src/.gitignore"]


async def test_grep_sees_files_created_deleted_and_newly_ignored(tmp_path: Path) -> None:
    write(tmp_path, ".gitignore", "*.tmp\n")
    write(tmp_path, "src/a.py", "needle = 1\n")
    write(tmp_path, "src/b.py", "needle = 2\n")
    age(tmp_path)
    async with serve(tmp_path) as client:
        first = await client.call_tool("grep", {"pattern": "needle", "output_mode": "files"})
        assert first.structured_content["files"] == ["src/a.py", "src/b.py"]
        write(tmp_path, "src/deep/c.py", "needle = 3\n")
        (tmp_path / "src" / "a.py").unlink()
        second = await client.call_tool("grep", {"pattern": "needle", "output_mode": "files"})
        assert second.structured_content["files"] == ["src/b.py", "src/deep/c.py"]
        age(tmp_path)
        with open(tmp_path / ".gitignore", "a") as f:  # edited in place: its directory's mtime stays
            f.write("deep/\n")
        os.utime(tmp_path, (LONG_AGO, LONG_AGO))
        third = await client.call_tool("grep", {"pattern": "needle", "output_mode": "files"})
        assert third.structured_content["files"] == ["src/b.py"]


async def test_read_file_never_serves_a_cached_file_after_it_changed(tmp_path: Path) -> None:
    path = write(tmp_path, "notes.txt", "old text\n")
    settle(path)  # old enough for the cache to keep it
    stamp = path.stat().st_mtime_ns
    async with serve(tmp_path) as client:
        assert "old text" in text_of(await client.call_tool("read_file", {"path": "notes.txt"}))
        assert "old text" in text_of(await client.call_tool("read_file", {"path": "notes.txt"}))  # cached
        path.write_text("new text\n")  # the same size
        os.utime(path, ns=(stamp, stamp))  # and the same mtime (cp -p, touch -r): only the ctime differs
        assert "new text" in text_of(await client.call_tool("read_file", {"path": "notes.txt"}))


async def test_config_changes_apply_without_a_restart(tmp_path: Path) -> None:
    write(tmp_path, "keep.py", "needle\n")
    write(tmp_path, "gen/out.py", "needle\n")
    age(tmp_path)
    async with serve(tmp_path) as client:
        before = await client.call_tool("grep", {"pattern": "needle", "output_mode": "files"})
        write(tmp_path, ".volley.toml", "ignore = ['gen/']\n")
        after = await client.call_tool("grep", {"pattern": "needle", "output_mode": "files"})
    assert before.structured_content["files"] == ["gen/out.py", "keep.py"]
    assert after.structured_content["files"] == ["keep.py"]
