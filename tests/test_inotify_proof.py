"""The index proven by inotify: a watched directory's listing stands while no event came, whatever its stat.

Each test makes a change a stat proof cannot see (the directory's mtime put back, its size unchanged), so
it fails if the events are not what proves the list; and a change outside the watches, which a stat must see.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.conftest import inotify_watches, needs_inotify, write
from tests.test_freshness import age
from tests.test_stdio import _call, _handshaken, logged_until
from volley.index import index_of, visible_files
from volley.workspace import Workspace

pytestmark = needs_inotify


def hidden_change(directory: Path, change) -> None:
    """Make ``change`` in ``directory``, then put its mtime back: its stat then proves nothing changed."""
    st = directory.stat()
    change()
    os.utime(directory, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert directory.stat().st_size == st.st_size, "the directory grew: pick a change a stat cannot see"


def watched(tmp_path: Path, cap: int = 100) -> Workspace:
    ws = Workspace(tmp_path)
    assert index_of(ws).watch(cap) is None, "tmp_path must be on a local filesystem for this test"
    return ws


def test_a_watched_list_follows_creation_deletion_and_renaming_its_stats_cannot_see(tmp_path: Path) -> None:
    write(tmp_path, "a/one.py", "x")
    write(tmp_path, "b/two.py", "x")
    age(tmp_path)
    ws, root = watched(tmp_path), Workspace(tmp_path).resolve(".")
    assert visible_files(ws, root) == ["a/one.py", "b/two.py"]
    events = index_of(ws).events()
    assert events is not None and events.watched == 3  # the root, a, b: each before it was read
    assert visible_files(ws, root) == ["a/one.py", "b/two.py"] and index_of(ws).walks == 1
    hidden_change(tmp_path / "b", lambda: write(tmp_path, "b/three.py", "x"))
    assert visible_files(ws, root) == ["a/one.py", "b/three.py", "b/two.py"]
    assert (index_of(ws).walks, index_of(ws).patches) == (1, 1)  # b/ alone was read again
    hidden_change(tmp_path / "a", lambda: (tmp_path / "a" / "one.py").unlink())
    assert visible_files(ws, root) == ["b/three.py", "b/two.py"]
    hidden_change(tmp_path / "b", lambda: (tmp_path / "b" / "two.py").rename(tmp_path / "b" / "four.py"))
    assert visible_files(ws, root) == ["b/four.py", "b/three.py"]
    hidden_change(tmp_path / "b", lambda: write(tmp_path, "b/.gitignore", "three.py\n"))  # newly ignored
    assert visible_files(ws, root) == ["b/.gitignore", "b/four.py"]
    with open(tmp_path / "b" / ".gitignore", "a") as f:  # edited in place: its watched directory says so
        f.write("four.py\n")
    assert visible_files(ws, root) == ["b/.gitignore"]


def test_an_ignore_file_in_a_watched_directory_takes_no_stat_unless_it_is_a_link_or_has_other_names(
    tmp_path: Path,
) -> None:
    """Its content changes are the watch's events (1,000 stats at each proof of the 1M tree before), but a
    link's target, or the same file under another name, changes with no event in its directory."""
    write(tmp_path, "a/.gitignore", "*.log\n")
    write(tmp_path, "b/keep.txt", ".\n")
    os.symlink(tmp_path / "b/keep.txt", tmp_path / "b/.gitignore")
    write(tmp_path, "c/.gitignore", "*.tmp\n")
    os.link(tmp_path / "c/.gitignore", tmp_path / "other-name")
    for rel in ("a/x.log", "b/x.md", "c/x.tmp"):
        write(tmp_path, rel, "x")
    age(tmp_path)
    ws, root = watched(tmp_path), Workspace(tmp_path).resolve(".")
    visible_files(ws, root)
    snapshot = index_of(ws)._snapshots[False]
    stated = {p[len(str(tmp_path)) + 1 :] for p in snapshot.by_stat() if p not in snapshot.rule_files}
    assert stated == {"b/.gitignore", "c/.gitignore"}
    (tmp_path / "b/keep.txt").write_text("*.md\n")  # through the link: no event in b/
    with open(tmp_path / "other-name", "a") as f:  # through its other name: no event in c/
        f.write("x.tmp\n")
    hidden = visible_files(ws, root)
    assert "b/x.md" not in hidden and "a/x.log" not in hidden and "c/x.tmp" not in hidden


def test_a_subtree_call_is_proven_by_the_events_too(tmp_path: Path) -> None:
    write(tmp_path, "src/app/one.py", "x")
    write(tmp_path, "docs/guide.md", "x")
    age(tmp_path)
    ws = watched(tmp_path)
    app = ws.resolve("src/app")
    assert visible_files(ws, app) == ["src/app/one.py"]
    hidden_change(tmp_path / "src" / "app", lambda: write(tmp_path, "src/app/two.py", "x"))
    assert visible_files(ws, app) == ["src/app/one.py", "src/app/two.py"]


def test_beyond_the_cap_the_other_directories_are_proven_by_stat(tmp_path: Path) -> None:
    for name in "abcde":
        write(tmp_path, f"{name}/f.py", "x")
    age(tmp_path)
    ws = watched(tmp_path, cap=2)
    root = ws.resolve(".")
    assert len(visible_files(ws, root)) == 5
    events = index_of(ws).events()
    assert events is not None and events.watched == 2 and events.full == "watch_max_directories (2)"
    unwatched = [name for name in "abcde" if str(tmp_path / name) not in index_of(ws)._snapshots[False].watched]
    assert len(unwatched) == 4
    write(tmp_path, f"{unwatched[-1]}/g.py", "x")  # its mtime changes: the stat proof sees it
    assert f"{unwatched[-1]}/g.py" in visible_files(ws, root)


def test_a_list_walked_before_watching_began_is_watched_from_then_on(tmp_path: Path) -> None:
    write(tmp_path, "a/one.py", "x")
    age(tmp_path)
    ws = Workspace(tmp_path)
    root = ws.resolve(".")
    assert visible_files(ws, root) == ["a/one.py"] and index_of(ws).events() is None
    assert index_of(ws).watch(100) is None
    assert visible_files(ws, root) == ["a/one.py"] and index_of(ws).walks == 1  # proven by stat, then watched
    assert index_of(ws).events() is not None
    hidden_change(tmp_path / "a", lambda: write(tmp_path, "a/two.py", "x"))
    assert visible_files(ws, root) == ["a/one.py", "a/two.py"]


def test_releasing_the_watches_drops_the_list_they_vouched_for(tmp_path: Path) -> None:
    write(tmp_path, "a/one.py", "x")
    age(tmp_path)
    ws = watched(tmp_path)
    root = ws.resolve(".")
    visible_files(ws, root)
    index_of(ws).unwatch()
    assert index_of(ws).events() is None
    hidden_change(tmp_path / "a", lambda: write(tmp_path, "a/two.py", "x"))
    assert visible_files(ws, root) == ["a/one.py", "a/two.py"]  # walked again, not trusted on stale stats


def test_the_server_sees_a_change_its_stats_cannot_once_watching(tmp_path: Path) -> None:
    """Over stdio: once the watcher has set its watches, a glob shows a file whose directory kept its mtime."""
    write(tmp_path, "src/a.py", "x")
    age(tmp_path)
    server = _handshaken(tmp_path)
    assert server.stdin is not None and server.stdout is not None and server.stderr is not None
    try:
        logged_until(server, "watching 2 directories")
        assert inotify_watches(server.pid) == 2
        hidden_change(tmp_path / "src", lambda: write(tmp_path, "src/b.py", "x"))
        server.stdin.write(_call(2, "list_dir", {"glob": "**/*.py"}))
        server.stdin.flush()
        answer = json.loads(server.stdout.readline())
        assert "src/b.py" in answer["result"]["content"][0]["text"], answer
    finally:
        server.stdin.close()
    assert server.wait(timeout=30) == 0
