"""A path swapped for a link while a tool reads it: what was checked is what is read, or nothing is.

An attacker who can write in the workspace swaps a checked file (or a directory on its way) for a link to a
file outside and back, again and again, while the tools run; no answer may hold the outside file's text.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from tests.conftest import needs_inotify, serve, settle, text_of, write
from volley.exact_open import (
    FINE_FILESYSTEMS,
    FINE_MARGIN_NS,
    Moved,
    NotRegular,
    _open_by_components,
    changed_since,
    margin_of,
    open_exact,
    read_exact,
)
from volley.index import index_of, visible_files
from volley.inotify import filesystem_of
from volley.platform import PROC
from volley.workspace import Workspace

OUTSIDE = "OUTSIDE_MARKER_77"
pytestmark = pytest.mark.anyio


def test_open_exact_refuses_a_link_at_any_depth_and_never_waits_on_a_fifo(tmp_path: Path) -> None:
    write(tmp_path, "real/dir/a.py", "inside\n")
    write(tmp_path, "outside/dir/a.py", f"{OUTSIDE}\n")
    os.symlink(tmp_path / "outside/dir", tmp_path / "real/linked")
    os.symlink(tmp_path / "outside/dir/a.py", tmp_path / "real/dir/b.py")
    os.mkfifo(tmp_path / "real/dir/fifo.py")
    for opener in (open_exact, _open_by_components):
        fd = opener(f"{tmp_path}/real/dir/a.py")
        assert os.read(fd, 100) == b"inside\n"
        os.close(fd)
        for linked in ("real/linked/a.py", "real/dir/b.py"):
            with pytest.raises(OSError):
                os.close(opener(f"{tmp_path}/{linked}"))
    with pytest.raises(NotRegular):
        open_exact(f"{tmp_path}/real/dir/fifo.py")
    with pytest.raises(Moved if PROC else OSError):  # a link on the way: opened, seen elsewhere (/proc), refused
        open_exact(f"{tmp_path}/real/linked/a.py")


def test_a_name_swapped_and_put_back_is_seen_as_changed(tmp_path: Path) -> None:
    write(tmp_path, "pkg/a.py", "inside\n")
    write(tmp_path, "pkg/b.py", "inside\n")
    write(tmp_path, "other/c.py", "inside\n")
    for path in (tmp_path, tmp_path / "pkg", tmp_path / "pkg/b.py", tmp_path / "other/c.py"):
        settle(path)  # nothing written within a timestamp's margin of the search
    started = time.time_ns()
    assert changed_since(str(tmp_path), ["pkg/a.py", "other/c.py"], started) == set()
    os.rename(tmp_path / "pkg", tmp_path / "pkg.away")  # the directory swapped for a link, then put back
    os.symlink(tmp_path / "other", tmp_path / "pkg")
    os.unlink(tmp_path / "pkg")
    os.rename(tmp_path / "pkg.away", tmp_path / "pkg")
    assert changed_since(str(tmp_path), ["pkg/a.py", "pkg/b.py"], started) == {"pkg/a.py", "pkg/b.py"}
    assert read_exact(f"{tmp_path}/pkg/a.py") == b"inside\n"


def test_a_directory_changed_more_than_a_tick_before_a_search_is_no_suspect_where_timestamps_have_ns(
    tmp_path: Path,
) -> None:
    """With a 2 s margin everywhere, a file created at the root made every match of the next grep a suspect,
    each read again through a private copy (100-200 ms at 200k files, more with more matches)."""
    write(tmp_path, "d/a.txt", "x\n")
    changed = max(tmp_path.stat().st_ctime_ns, (tmp_path / "d").stat().st_ctime_ns)
    if filesystem_of(str(tmp_path)) not in FINE_FILESYSTEMS or changed % 1_000_000_000 == 0:
        pytest.skip("timestamps in whole seconds here: the 2 s margin stands")
    assert margin_of(str(tmp_path))[1] == FINE_MARGIN_NS
    assert changed_since(str(tmp_path), ["d/a.txt"], changed + FINE_MARGIN_NS + 10_000_000) == set()
    assert changed_since(str(tmp_path), ["d/a.txt"], changed + FINE_MARGIN_NS - 10_000_000) == {"d/a.txt"}


@needs_inotify
def test_where_watches_vouch_for_every_directory_on_the_way_their_events_tell_what_changed(tmp_path: Path) -> None:
    """No stat is needed (they were 17 ms of a 54 ms grep at 1M files): events read before the reader started
    are no suspects, even within a timestamp's margin where a stat cannot tell; a swap after it is one, at any
    depth, and only for the files below it."""
    for rel in ("pkg/a.py", "pkg/b.py", "deep/x/y/z.py", "other/c.py"):
        write(tmp_path, rel, "inside\n")
    ws = Workspace(tmp_path)
    files = index_of(ws)
    assert files.watch(100) is None
    rels = ["deep/x/y/z.py", "other/c.py", "pkg/a.py", "pkg/b.py"]
    assert visible_files(ws, ws.resolve(".")) == rels
    write(tmp_path, "pkg/new.py", "inside\n")  # just before the search: its event is read by the proof below
    visible_files(ws, ws.resolve("."))
    since = files.since()
    assert files.changed_since(since, rels) == set()
    os.rename(tmp_path / "deep/x", tmp_path / "deep/x.away")  # swapped for a link, then put back
    os.symlink(tmp_path / "other", tmp_path / "deep/x")
    os.unlink(tmp_path / "deep/x")
    os.rename(tmp_path / "deep/x.away", tmp_path / "deep/x")
    assert files.changed_since(since, rels) == {"deep/x/y/z.py"}
    assert files.changed_since(since, ["pkg/a.py", "other/c.py"]) == set()
    (tmp_path / "pkg/a.py").write_text("changed in place\n")  # content: the name still leads to the same file
    assert files.changed_since(since, ["pkg/a.py"]) == set()


@needs_inotify
def test_lost_events_or_a_directory_beyond_the_watches_cap_are_proven_by_stat(tmp_path: Path) -> None:
    for rel in ("a/one.py", "b/two.py"):
        write(tmp_path, rel, "inside\n")
    ws = Workspace(tmp_path)
    files = index_of(ws)
    assert files.watch(2) is None  # the root and a/; b/ beyond the cap
    visible_files(ws, ws.resolve("."))
    for path in (tmp_path, tmp_path / "a", tmp_path / "b"):
        settle(path)
    since = files.since()
    assert files.changed_since(since, ["a/one.py", "b/two.py"]) == set()
    write(tmp_path, "b/three.py", "x")  # no event: b/'s ctime says so
    assert files.changed_since(since, ["a/one.py", "b/two.py"]) == {"b/two.py"}
    events = files.events()
    assert events is not None
    queue = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    if queue > 100_000:
        pytest.skip(f"the kernel queues {queue:,} events: too many files to make to overflow it")
    for n in range(queue + 10):
        os.close(os.open(tmp_path / "a" / f"f{n}", os.O_CREAT | os.O_WRONLY))  # the kernel's queue overflows
    assert events.changed_since(since.mark) is None
    assert files.changed_since(since, ["a/one.py"]) == {"a/one.py"}  # (a stat: a/ changed since)


@contextlib.contextmanager
def swapping(root: Path, outside: Path) -> Iterator[None]:
    """A thread swapping names for links outside while the block runs; a swapper that died fails the test."""
    stop, failed = threading.Event(), []

    def run() -> None:
        try:
            _swap(root, outside, stop)
        except BaseException as exc:
            failed.append(exc)

    swapper = threading.Thread(target=run)
    swapper.start()
    try:
        yield
    finally:
        stop.set()
        swapper.join()
    assert not failed, failed


def _swap(root: Path, outside: Path, stop: threading.Event) -> None:
    """src/a.py and the directory pkg/ swapped for links outside and back, as fast as it goes."""
    keep = root / ".keep"
    os.link(root / "src/a.py", keep / "a.py")
    while not stop.is_set():
        os.symlink(outside / "a.py", root / "src/tmp")
        os.rename(root / "src/tmp", root / "src/a.py")
        os.link(keep / "a.py", root / "src/tmp")
        os.rename(root / "src/tmp", root / "src/a.py")
        os.rename(root / "pkg", keep / "pkg")
        os.symlink(outside / "pkg", root / "pkg")
        os.unlink(root / "pkg")
        os.rename(keep / "pkg", root / "pkg")


async def test_tools_never_show_what_a_swapped_in_link_points_to(tmp_path: Path) -> None:
    root, outside = tmp_path / "ws", tmp_path / "outside"
    write(root, ".gitignore", ".keep/\n")
    write(root, ".keep/README", "the swapper's spare names\n")
    write(root, "src/a.py", "def inside_a():\n    return shared('marker a')\n")
    write(root, "pkg/b.py", "def inside_b():\n    return shared('marker b')\n")
    write(outside, "a.py", f"def {OUTSIDE}():\n    return shared('{OUTSIDE} marker')\n")
    write(outside, "pkg/b.py", f"def {OUTSIDE}_B():\n    return shared('{OUTSIDE} marker')\n")
    calls = [
        ("grep", {"pattern": "marker"}),
        ("grep", {"pattern": "marker", "path": "src/a.py"}),
        ("grep", {"pattern": "marker", "path": "pkg"}),
        ("outline", {"path": "src/a.py"}),
        ("outline", {"path": "pkg"}),
        ("find_symbol", {"name": "*", "include_body": True}),
        ("find_references", {"name": "shared"}),
        ("repo_map", {}),
        ("read_file", {"path": "src/a.py"}),
        ("read_file", {"path": "pkg/b.py"}),
    ]
    answers: list[str] = []
    async with serve(root) as client:
        with swapping(root, outside):
            for _ in range(25):
                async with anyio.create_task_group() as group:
                    for tool, args in calls:

                        async def one(tool: str = tool, args: dict = args) -> None:
                            result = await client.call_tool(tool, args)
                            answers.append(f"{tool}: {text_of(result)} {result.structured_content}")

                        group.start_soon(one)
    leaked = [answer for answer in answers if OUTSIDE in answer]
    assert not leaked, leaked[:3]
    assert any("marker a" in answer for answer in answers)


async def test_an_edit_never_writes_through_a_swapped_in_link(tmp_path: Path) -> None:
    """The directory of the file being edited swapped for a link outside while edits run: every write lands in
    the workspace's own directory or fails; the outside file is never changed."""
    root, outside = tmp_path / "ws", tmp_path / "outside"
    write(root, ".gitignore", ".keep/\n")
    write(root, ".keep/README", "the swapper's spare names\n")
    write(root, "src/a.py", "def inside_a():\n    return shared('marker a')\n")
    write(root, "pkg/b.py", "counter = 0\n")
    write(outside, "a.py", f"def {OUTSIDE}():\n    return 1\n")
    write(outside, "pkg/b.py", "counter = 0\n")
    async with serve(root) as client:
        with swapping(root, outside):
            for n in range(60):
                change = {"path": "pkg/b.py", "action": "overwrite", "new": f"counter = {n + 1}\n"}
                await client.call_tool("edit", {"changes": [change], "lint": False})
    assert (outside / "pkg/b.py").read_text() == "counter = 0\n"
    assert (outside / "a.py").read_text().startswith(f"def {OUTSIDE}")
    assert not list(outside.rglob(".volley-edit-*"))
