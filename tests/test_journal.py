"""A new server proves the content index kept on disk by watchman's journal instead of a stat per file, and
never trusts it further than watchman can say: a real watchman daemon of the test's own (its socket named by
WATCHMAN_SOCK), real servers, answers compared with a server that reads every file."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import INOTIFY, SERVER_ENV, serve, settle, text_of, write
from tests.test_ngram_index import tree  # noqa: F401  (the fixture)
from tests.test_stdio import _handshaken, logged_until
from volley.journal import Journal

pytestmark = pytest.mark.anyio
TOKENS = ("journal_appended", "journal_created", "fed vouches")


class Watchman:
    """A watchman daemon of the test's own: started by the first watch, stopped at the end."""

    def __init__(self, binary: str, state: Path) -> None:
        self.state = state
        self.argv = [binary, f"--sockname={state}/sock", f"--statefile={state}/state", f"--logfile={state}/log"]
        self.argv += [f"--pidfile={state}/pid", "--no-save-state"]

    @property
    def sockname(self) -> str:
        return f"{self.state}/sock"

    def watch(self, root: Path) -> None:
        """Watch ``root`` (the daemon started first if it is not running), once watchman has crawled it."""
        subprocess.run([*self.argv, "watch-project", str(root)], check=True, capture_output=True, timeout=60)

    def stop(self) -> None:
        subprocess.run([*self.argv, "shutdown-server"], capture_output=True, timeout=60)
        with contextlib.suppress(OSError, ValueError):  # (should it not have stopped: never left behind)
            os.kill(int((self.state / "pid").read_text()), signal.SIGKILL)
        with contextlib.suppress(OSError):
            (self.state / "pid").unlink()


@pytest.fixture
def watchman(monkeypatch: pytest.MonkeyPatch) -> Iterator[Watchman]:
    binary = shutil.which("watchman")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("watchman is not installed (Debian's package watchman: .ci/run installs it)")
        pytest.skip("watchman is not installed")
    state = Path(tempfile.mkdtemp(prefix="wm-"))  # (a short path: a socket's name holds 108 bytes at most)
    daemon = Watchman(binary, state)
    monkeypatch.setitem(SERVER_ENV, "WATCHMAN_SOCK", daemon.sockname)  # (the servers' and this process's)
    monkeypatch.setenv("WATCHMAN_SOCK", daemon.sockname)
    try:
        yield daemon
    finally:
        daemon.stop()
        shutil.rmtree(state, ignore_errors=True)


def _settled(root: Path) -> None:
    """Every file of the root old enough for its stat to prove it (else the index reads them all again)."""
    settle(max((p for p in root.rglob("*") if not p.is_symlink()), key=lambda p: p.stat().st_ctime_ns))


def _change_while_no_server_runs(root: Path) -> None:
    with (root / "lib/tools/grep.py").open("a") as f:
        f.write(f"# {TOKENS[0]}\n")
    write(root, "lib/new_module.py", f"X = '{TOKENS[1]}'\n")
    write(root, "build/artifact.txt", f"{TOKENS[1]}\n")  # ignored (build/): never in an answer
    victim = root / "lib/ngram/table.py"  # the same size, its mtime put back
    st = victim.stat()
    victim.write_bytes(victim.read_bytes().replace(b"def vouches", b"fed vouches"))
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
    (root / "lib/ngram/plan.py").unlink()


def _resumed_saying(root: Path, text: str) -> None:
    """A new server resumes the index at its handshake and logs ``text``: where watches follow the tree (the
    journal proves the index there; elsewhere each grep states the files it may answer from)."""
    if not INOTIFY:
        return
    server = _handshaken(root, "--set", "grep_index=eager")
    try:
        logged_until(server, text)
    finally:
        server.kill()
        server.communicate()


async def _answers(root: Path) -> tuple[list[str], list[str]]:
    """What an indexed server and one reading every file answer for each token (and a pattern of a gone file)."""
    mine, theirs = [], []
    async with serve(root, "--set", "grep_index=eager") as indexed, serve(root, "--set", "grep_index=off") as plain:
        for pattern in (*TOKENS, "def plan", "def narrowed"):
            args = {"pattern": pattern, "output_mode": "files", "max_results": 100_000}
            mine.append(text_of(await indexed.call_tool("grep", args)))
            theirs.append(text_of(await plain.call_tool("grep", args)))
    return mine, theirs


async def test_a_new_server_proves_the_index_by_the_journal_and_sees_what_changed_while_none_ran(
    tree: Path,  # noqa: F811
    watchman: Watchman,
) -> None:
    watchman.watch(tree)
    _settled(tree)
    async with serve(tree, "--set", "grep_index=eager") as client:
        await client.call_tool("grep", {"pattern": "warm the index"})  # built, kept with watchman's clock
    config = [sys.executable, "-m", "volley", "config", "--workspace", str(tree)]
    said = subprocess.run(config, env=SERVER_ENV, capture_output=True, text=True, check=True).stdout
    assert f"a new server proves it by watchman's journal (it watches {tree})" in said
    _change_while_no_server_runs(tree)
    _resumed_saying(tree, "watchman's journal proved the content index")
    mine, theirs = await _answers(tree)
    assert mine == theirs
    assert "new_module.py" in mine[1] and "lib/ngram/table.py" in mine[2] and "plan.py" not in mine[3]


async def test_a_journal_that_started_anew_is_not_trusted(tree: Path, watchman: Watchman) -> None:  # noqa: F811
    """watchman stopped while files changed: its new instance cannot say what changed before it; every file is
    stated, as with no journal."""
    watchman.watch(tree)
    async with serve(tree, "--set", "grep_index=eager") as client:
        await client.call_tool("grep", {"pattern": "warm the index"})
    watchman.stop()
    _change_while_no_server_runs(tree)
    watchman.watch(tree)
    _resumed_saying(tree, "watchman's journal cannot prove the content index")
    mine, theirs = await _answers(tree)
    assert mine == theirs and "new_module.py" in mine[1]


def test_the_journal_names_what_changed_since_a_clock_and_nothing_of_what_it_does_not_watch(
    tmp_path: Path, watchman: Watchman
) -> None:
    root = tmp_path / "ws"
    write(root, "sub/a.txt", "a\n")
    write(root, "b.txt", "b\n")
    assert Journal.of(str(root)) is None  # watchman runs, watching nothing
    watchman.watch(root)
    journal = Journal.of(str(root / "sub"))  # a folder below the watch: names relative to it
    assert journal is not None
    clock = journal.clock()
    assert clock is not None and journal.since(clock) == []
    write(root, "sub/a.txt", "changed\n")
    write(root, "sub/new/c.txt", "c\n")
    (root / "b.txt").unlink()
    assert sorted(journal.since(clock) or []) == ["a.txt", "new/c.txt"]  # folders are not named
    assert journal.since("c:0:0:0:0") is None  # a clock of another instance: it cannot say


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0, reason="gives a file to another user")
def test_a_socket_another_user_put_where_watchman_listens_is_not_asked(tmp_path: Path) -> None:
    """Debian's watchman listens in /tmp/<user>-state: a socket someone else made there first is not trusted."""
    from volley.journal import _ours

    state = tmp_path / "root-state"
    state.mkdir()
    with contextlib.closing(socket.socket(socket.AF_UNIX)) as listening:
        listening.bind(str(state / "sock"))
        assert _ours(str(state / "sock"))
        os.chown(state / "sock", 12345, -1)
        assert not _ours(str(state / "sock"))
        os.chown(state / "sock", 0, -1)
        os.chown(state, 12345, -1)
        assert not _ours(str(state / "sock"))
