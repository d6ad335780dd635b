"""A new server takes up the walk a former one kept on disk, proves it, and answers as a fresh walk would.

Random changes between servers (as test_index_patch.py makes them within one); each new index must equal a
fresh walk entry for entry. Then through real servers: what the walk met of denied files, another
configuration, and a kept walk that cannot be read.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

from tests.conftest import needs_inotify, serve, settle, text_of, write
from tests.test_index_patch import _shape, change, fresh, seed_tree
from volley import index_disk
from volley.index import FileIndex
from volley.platform import INOTIFY
from volley.workspace import Workspace


@pytest.mark.parametrize("seed", range(4))
def test_each_new_server_takes_up_the_kept_walk_and_equals_a_fresh_walk(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stat proves a directory unchanged once the clock has moved past its timestamps' tick (<= 10 ms on
    # Linux); 2 s as in production would leave every directory of this young tree racy (read again), and
    # the proof by equal stats untested.
    monkeypatch.setattr(index_disk, "RACY_NS", 50_000_000)
    root = tmp_path / "ws"
    seed_tree(root)
    rng = random.Random(seed)
    first = FileIndex(Workspace(root))
    if INOTIFY:
        assert first.watch(1000) is None  # a watched walk keeps no racy marks of its own: saving must add them
    first._current(False)
    assert first.walks == 1 and index_disk.path_of(first.ws).is_file()
    done, walked, proven = [], 0, 0
    for step in range(40):
        done.append(change(rng, root))
        later = FileIndex(Workspace(root))
        if INOTIFY and step % 2:
            assert later.watch(1000) is None
        kept = later._current(False)
        assert later.loads == 1, done
        assert _shape(kept) == fresh(root), done
        walked += later.walks
        proven += later.walks == 0 and later.patches == 0
    assert walked < 20, walked  # most were proven or patched, not walked again
    assert proven + walked < 40  # and some changes were read again by a patch


def test_a_kept_walk_is_proven_without_reading_a_directory_again(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    seed_tree(root)
    first = FileIndex(Workspace(root))
    expected = first._current(False)
    kept = json.loads(index_disk.path_of(first.ws).read_text())
    later = FileIndex(Workspace(root))
    assert _shape(later._current(False)) == _shape(expected)
    assert (later.loads, later.walks) == (1, 0)
    assert later.patches == (1 if kept["racy"] else 0)  # a young directory is read again, the others are not


@pytest.mark.anyio
async def test_a_new_server_still_refuses_a_hard_link_to_a_denied_file_its_walk_never_met(tmp_path: Path) -> None:
    """The denied files' inodes are met by a walk; a new server that proves a kept walk walks nothing."""
    ws = tmp_path / "ws"
    write(ws, ".env", "API_KEY=TOP-SECRET-VALUE-41\n")
    os.link(ws / ".env", ws / "notes.txt")
    write(ws, "a.txt", "plain words\n")
    settle(ws)  # the kept walk proven by its stats alone: no directory read again, no denied file met
    async with serve(ws) as client:
        await client.call_tool("list_dir", {})
    async with serve(ws) as client:
        read = await client.call_tool("read_file", {"path": "notes.txt"})
        found = await client.call_tool("grep", {"pattern": "TOP-SECRET"})
    assert read.is_error and "hard link" in text_of(read) and "TOP-SECRET" not in text_of(read)
    assert found.structured_content["total_matches"] == 0


@pytest.mark.anyio
async def test_a_server_configured_otherwise_does_not_take_up_the_kept_walk(tmp_path: Path) -> None:
    """A walk made without a deny rule lists the file it would deny."""
    ws = tmp_path / "ws"
    write(ws, "private/notes.txt", "k\n")
    write(ws, "a.txt", "a\n")
    settle(ws)  # a kept walk would be proven by its stats alone
    async with serve(ws) as client:
        before = text_of(await client.call_tool("list_dir", {"depth": 3}))
    async with serve(ws, "--set", 'deny=["private/"]') as client:
        after = text_of(await client.call_tool("list_dir", {"depth": 3}))
        found = await client.call_tool("grep", {"pattern": "k", "output_mode": "files"})
    assert "notes.txt" in before and "notes.txt" not in after
    assert "notes.txt" not in text_of(found)


@pytest.mark.parametrize("damage", ["{not json", '{"format": 1}', "[]", ""])
def test_a_kept_walk_that_cannot_be_read_is_walked_again(tmp_path: Path, damage: str) -> None:
    root = tmp_path / "ws"
    seed_tree(root)
    first = FileIndex(Workspace(root))
    expected = first._current(False)
    index_disk.path_of(first.ws).write_text(damage)
    later = FileIndex(Workspace(root))
    assert _shape(later._current(False)) == _shape(expected)
    assert (later.loads, later.walks) == (0, 1)


def test_a_directory_changed_just_before_the_walk_is_kept_racy(tmp_path: Path) -> None:
    """Its stat proves nothing to the next server: a change in the same clock tick can keep every field. A
    watched walk marks nothing racy itself (events vouch for it while it is served): saving adds them."""
    root = tmp_path / "ws"
    seed_tree(root)
    write(root, "src/a/new.py", "x\n")  # its directory changed now, within RACY_NS of the walk
    first = FileIndex(Workspace(root))
    if INOTIFY:
        assert first.watch(1000) is None
    first._current(False)
    kept = json.loads(index_disk.path_of(first.ws).read_text())
    assert f"{root}/src/a" in kept["racy"]


@needs_inotify
def test_a_kept_walk_that_needed_reading_again_is_watched(tmp_path: Path) -> None:
    """A new server patched the kept walk without watches, and its watcher stopped watching for good."""
    root = tmp_path / "ws"
    seed_tree(root)
    FileIndex(Workspace(root))._current(False)
    write(root, "src/a/new.py", "x\n")
    later = FileIndex(Workspace(root))
    assert later.watch(1000) is None
    assert "src/a/new.py" in later._current(False).files
    assert later.loads == 1 and later.events() is not None
    write(root, "src/b/later.py", "x\n")  # seen by an event from now on
    assert "src/b/later.py" in later._current(False).files and later.events() is not None


@needs_inotify
def test_an_edit_to_a_file_keeps_the_listing_and_what_was_made_from_it(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    seed_tree(root)
    index = FileIndex(Workspace(root))
    assert index.watch(1000) is None
    before = index._current(False)
    before.cover()
    (root / "src/a/x.py").write_text("changed\n")  # a content event: the directory's listing stands
    assert index._current(False) is before and index.walks == 1


def test_a_walk_kept_by_other_rules_or_older_code_is_replaced_not_left_behind(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    seed_tree(root)
    FileIndex(Workspace(root))._current(False)
    FileIndex(Workspace(root, flags={"deny": ["src/"]}))._current(False)
    ws = Workspace(root)
    kept = list(index_disk.path_of(ws).parent.glob(f"{index_disk._prefix(ws)}*"))
    assert kept == [index_disk.path_of(Workspace(root, flags={"deny": ["src/"]}))]
