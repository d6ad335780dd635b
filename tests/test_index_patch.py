"""Reading again only what changed gives what a walk of the whole tree gives.

Random changes (files and directories created, deleted, renamed, replaced; links; ignore files created,
edited, deleted), each followed by a call; after each, the kept index must equal a fresh walk, entry
for entry and in the same order, whether it was proven by inotify events or by stats.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pytest

from tests.conftest import needs_inotify, write
from tests.test_freshness import age
from volley.index import FileIndex, index_of, visible_files
from volley.workspace import Workspace

NAMES = ["a", "b", "c", "node_modules", "build", "src", "x.py", "y.txt", "z.log", ".gitignore"]
RULES = ["*.log\n", "build/\n", "node_modules/\n!keep.log\n", "b/*\n!b/x.py\n", "c/**\n", ""]


def fresh(root: Path, include_ignored: bool = False) -> dict[str, object]:
    snapshot = FileIndex(Workspace(root))._walk(include_ignored)  # a walk, never a kept one proven
    return _shape(snapshot)


def _shape(snapshot) -> dict[str, object]:
    return {
        "entries": snapshot.entries,
        "kinds": bytes(snapshot.kinds),
        "files": snapshot.files,
        "hidden": sorted(snapshot.hidden),
        # ignore files proven absent (None) depend on what the workspace's rule cache has seen: left out
        "stats": sorted(path for path, key in snapshot.stats.items() if key is not None),
        "directories": sorted(snapshot.directories),
        "ignore_files": sorted(p for files in snapshot.ignore_files.values() for p in files if snapshot.stats.get(p)),
        "not_whole": sorted(snapshot.not_whole),
        "cover": snapshot.cover(),
    }


def _paths(root: Path) -> tuple[list[Path], list[Path]]:
    dirs, files = [], []
    for directory, subdirs, names in os.walk(root):
        for d in subdirs:  # a link to a directory is listed here, but is no directory of the tree
            (files if os.path.islink(os.path.join(directory, d)) else dirs).append(Path(directory, d))
        files += [Path(directory, n) for n in names]
    return dirs, files


def change(rng: random.Random, root: Path) -> str:
    """One random change below ``root``; what it was."""
    dirs, files = _paths(root)
    where = rng.choice([root, *dirs])
    name = rng.choice(NAMES)
    target = where / name
    action = rng.choice(["file", "file", "dir", "delete", "rename", "replace", "link", "rules", "rules"])
    if action == "file" and not os.path.lexists(target):
        target.write_text("x\n")
    elif action == "dir" and not os.path.lexists(target):
        target.mkdir()
        (target / rng.choice(NAMES[6:9])).write_text("y\n")
    elif action == "delete" and (dirs or files):
        victim = rng.choice(dirs + files)
        shutil.rmtree(victim) if victim.is_dir() and not victim.is_symlink() else victim.unlink()
        target = victim
    elif action == "rename" and (dirs or files):
        victim = rng.choice(dirs + files)
        destination = rng.choice([root, *[d for d in dirs if not str(d).startswith(str(victim))]]) / name
        if not os.path.lexists(destination):
            victim.rename(destination)
        target = destination
    elif action == "replace" and dirs:
        victim = rng.choice(dirs)
        shutil.rmtree(victim)
        victim.mkdir()
        (victim / "new.py").write_text("z\n")
        target = victim
    elif action == "link" and not os.path.lexists(target):
        target.symlink_to(rng.choice([root, *files]) if files else root)
    elif action == "rules":
        target = where / rng.choice([".gitignore", ".gitignore", ".ignore"])
        if target.is_dir() or target.is_symlink():
            pass  # a directory or a link named like an ignore file: left as it is
        elif target.exists() and rng.random() < 0.3:
            target.unlink()
        else:
            with open(target, "a") as f:
                f.write(rng.choice(RULES))
    return f"{action} {target.relative_to(root) if target.is_relative_to(root) else target}"


def seed_tree(root: Path) -> None:
    for rel in ["src/a/x.py", "src/b/y.txt", "build/out.js", "node_modules/p/index.js", "c/z.log", "x.py"]:
        write(root, rel, "x\n")
    write(root, "src/.gitignore", "*.log\n")
    age(root)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("watched", [pytest.param(True, marks=needs_inotify), False], ids=["events", "stats"])
def test_after_each_change_the_kept_index_equals_a_fresh_walk(tmp_path: Path, seed: int, watched: bool) -> None:
    root = tmp_path / "ws"
    seed_tree(root)
    ws = Workspace(root)
    index = index_of(ws)
    if watched:
        assert index.watch(1000) is None
    rng = random.Random(seed)
    visible_files(ws, ws.resolve("."))
    done = []
    for _ in range(60):
        done.append(change(rng, root))
        visible_files(ws, ws.resolve("."))
        kept = index._snapshots[False]
        assert _shape(kept) == fresh(root), done
        for directory in (path[:-1] for path in kept.entries if path.endswith("/")):  # found by its range
            assert kept.files_below(directory) == [f for f in kept.files if f.startswith(directory + "/")], done
    assert index.patches > 30, (index.patches, index.walks)  # most changes were patched, not walked again


@pytest.mark.parametrize("seed", range(2))
def test_the_list_with_ignored_files_is_patched_too(tmp_path: Path, seed: int) -> None:
    root = tmp_path / "ws"
    seed_tree(root)
    ws = Workspace(root)
    rng = random.Random(seed)
    visible_files(ws, ws.resolve("."), include_ignored=True)
    done = []
    for _ in range(30):
        done.append(change(rng, root))
        visible_files(ws, ws.resolve("."), include_ignored=True)
        assert _shape(index_of(ws)._snapshots[True]) == fresh(root, include_ignored=True), done


@needs_inotify
def test_a_patch_that_fails_gives_way_to_a_walk_of_the_whole_tree(tmp_path: Path, monkeypatch) -> None:
    """The events a failed patch took are gone with it: the list is walked again rather than trusted."""
    root = tmp_path / "ws"
    seed_tree(root)
    ws = Workspace(root)
    index = index_of(ws)
    assert index.watch(1000) is None
    visible_files(ws, ws.resolve("."))

    def broken(*_: object) -> None:
        raise RuntimeError("a bug in the patch")

    monkeypatch.setattr("volley.index.patched", broken)
    write(root, "src/a/new.py", "x\n")
    assert "src/a/new.py" in visible_files(ws, ws.resolve("."))
    assert (index.walks, index.patches) == (2, 0)
    assert visible_files(ws, ws.resolve(".")) == fresh(root)["files"]  # and the new walk is watched again
    assert index.events() is not None and index.walks == 2
