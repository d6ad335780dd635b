"""Nothing is served stale: changes on disk show at once through the caches, for read_file and grep."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import serve, text_of, write
from volley.workspace import Workspace

pytestmark = pytest.mark.anyio
LONG_AGO = 1_500_000_000  # timestamps this old let the caches trust what they hold


def age(root: Path) -> None:
    """Make every timestamp old, so the index and the line cache keep their entries."""
    for directory, _, files in os.walk(root):
        for name in files:
            os.utime(os.path.join(directory, name), (LONG_AGO, LONG_AGO), follow_symlinks=False)
        os.utime(directory, (LONG_AGO, LONG_AGO))


def test_the_index_is_reused_while_nothing_changes_and_rebuilt_when_something_does(tmp_path: Path) -> None:
    write(tmp_path, "a/one.py", "x")
    write(tmp_path, "b/two.py", "x")
    age(tmp_path)
    ws = Workspace(tmp_path)
    root = ws.resolve(".")
    assert ws.visible_files(root) == ["a/one.py", "b/two.py"]
    assert ws.visible_files(root) == ["a/one.py", "b/two.py"] and ws.index.walks == 1
    write(tmp_path, "b/three.py", "x")
    assert ws.visible_files(root) == ["a/one.py", "b/three.py", "b/two.py"] and ws.index.walks == 2


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
    age(tmp_path)
    async with serve(tmp_path) as client:
        assert "old text" in text_of(await client.call_tool("read_file", {"path": "notes.txt"}))
        assert "old text" in text_of(await client.call_tool("read_file", {"path": "notes.txt"}))  # cached
        path.write_text("new text\n")  # the same size
        os.utime(path, (LONG_AGO + 5, LONG_AGO + 5))  # and an old, but different, mtime
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
