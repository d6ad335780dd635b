"""The stdio wire itself: pipes served on the event loop, a regular file served by the SDK's transport."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SERVER_ENV, inotify_watches, needs_inotify, write


def _message(id_: int | None, method: str, params: dict[str, Any] | None = None) -> str:
    body: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if id_ is not None:
        body["id"] = id_
    if params is not None:
        body["params"] = params
    return json.dumps(body) + "\n"


INIT = _message(
    1,
    "initialize",
    {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
)
INITIALIZED = _message(None, "notifications/initialized")


def _call(id_: int, tool: str, arguments: dict[str, Any]) -> str:
    return _message(id_, "tools/call", {"name": tool, "arguments": arguments})


def _serve(ws: Path, stdin: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "volley", "serve", "--workspace", str(ws)],
        env=SERVER_ENV,
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def test_requests_from_a_regular_file_are_answered(tmp_path: Path) -> None:
    """`volley serve < requests.jsonl`: asyncio cannot watch a regular file, so the SDK's transport serves it.

    The file ends at once, which is the client leaving (MCP's stdio shutdown); the calls it sent are
    answered before the server exits (the SDK alone answered them "Connection closed").
    """
    ws = tmp_path / "ws"
    write(ws, "a.txt", "alpha\n")
    requests = tmp_path / "requests.jsonl"
    calls = _call(2, "read_file", {"path": "a.txt"}) + _call(3, "grep", {"pattern": "a"})
    requests.write_text(INIT + INITIALIZED + calls)
    with requests.open() as stdin:
        server = _serve(ws, stdin)
        out, _ = server.communicate(timeout=60)
    answers = {m["id"]: m for m in map(json.loads, out.splitlines())}
    assert answers[1]["result"]["serverInfo"]["name"] == "volley"
    assert "alpha" in answers[2]["result"]["content"][0]["text"]
    assert answers[3]["result"]["content"][0]["text"] == "a.txt:1:alpha"
    assert server.returncode == 0


def test_calls_piped_in_are_answered_after_stdin_closes(tmp_path: Path) -> None:
    """`printf … | volley serve`: the pipe ends right after the calls; each is answered, then the server exits."""
    ws = tmp_path / "ws"
    write(ws, "a.txt", "alpha\n")
    server = _serve(ws, subprocess.PIPE)
    calls = [_call(i, "read_file", {"path": "a.txt"}) for i in range(2, 12)]
    out, _ = server.communicate(INIT + INITIALIZED + "".join(calls), timeout=60)
    answers = {m["id"]: m for m in map(json.loads, out.splitlines())}
    assert sorted(answers) == list(range(1, 12))
    assert all("alpha" in answers[i]["result"]["content"][0]["text"] for i in range(2, 12))
    assert server.returncode == 0


def test_pipes_take_long_lines_and_nothing_else_reaches_the_wire(tmp_path: Path) -> None:
    """A request line far over asyncio's 64 KiB default is read whole; while serving, fd 0 and 1 are not the wire."""
    ws = tmp_path / "ws"
    write(ws, "a.txt", "alpha\n")
    server = _serve(ws, subprocess.PIPE)
    assert server.stdin is not None and server.stdout is not None
    try:
        server.stdin.write(INIT)
        server.stdin.flush()
        assert json.loads(server.stdout.readline())["id"] == 1
        server.stdin.write(INITIALIZED + _call(2, "grep", {"pattern": "alpha|" + "z" * 300_000}))
        server.stdin.write(_call(3, "read_file", {"path": "a.txt"}))
        server.stdin.flush()
        answers = {m["id"]: m for m in (json.loads(server.stdout.readline()) for _ in range(2))}
        assert answers[2]["result"]["content"][0]["text"] == "a.txt:1:alpha"
        assert "alpha" in answers[3]["result"]["content"][0]["text"]

        def target(pid: int, fd: int) -> str:
            return os.readlink(f"/proc/{pid}/fd/{fd}")

        mine = os.getpid()
        assert target(server.pid, 0) == os.devnull  # a child or a stray read() gets EOF, not the client's bytes
        assert target(server.pid, 1) == target(server.pid, 2)  # a stray print goes to stderr
        wire = {target(mine, server.stdin.fileno()), target(mine, server.stdout.fileno())}
        assert not wire & {target(server.pid, 0), target(server.pid, 1)}
    finally:
        server.stdin.close()
    assert server.wait(timeout=30) == 0


def logged_until(server: subprocess.Popen[str], text: str) -> str:
    """The server's log read until ``text`` shows (30 s at most: that stops a hung test, not a slow one)."""
    assert server.stderr is not None
    err, deadline, seen = server.stderr.fileno(), time.monotonic() + 30, ""
    while text not in seen and time.monotonic() < deadline:
        if select.select([err], [], [], 0.5)[0]:
            seen += os.read(err, 65536).decode()
    assert text in seen, seen[-2000:]
    return seen


def _handshaken(ws: Path, *extra: str) -> subprocess.Popen[str]:
    """`volley serve` logging at DEBUG to a pipe, its handshake done."""
    server = subprocess.Popen(
        [sys.executable, "-m", "volley", "serve", "--workspace", str(ws), "--log-level", "DEBUG", *extra],
        env=SERVER_ENV,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert server.stdin is not None and server.stdout is not None
    server.stdin.write(INIT + INITIALIZED)
    server.stdin.flush()
    assert json.loads(server.stdout.readline())["id"] == 1
    return server


def test_the_watcher_starts_once_the_handshake_is_done(tmp_path: Path) -> None:
    """Watching begins after `notifications/initialized` (not before, where it slowed the answer to initialize)."""
    ws = tmp_path / "ws"
    write(ws, "a.txt", "alpha\n")
    server = _handshaken(ws)
    assert server.stdin is not None and server.stderr is not None
    try:
        err, seen = server.stderr.fileno(), ""
        for i in range(100):  # the watch is set up in the background: add files until one is reported
            write(ws, f"new{i}.txt", "x\n")
            while select.select([err], [], [], 0.3)[0] and (chunk := os.read(err, 65536)):
                seen += chunk.decode()
            if "volley.watcher" in seen and " changes in " in seen:
                break
        assert " changes in " in seen, seen[-2000:]
    finally:
        server.stdin.close()
    assert server.wait(timeout=30) == 0


def test_only_visible_directories_are_watched(tmp_path: Path) -> None:
    """No watch inside an ignored directory: node_modules/ here has 40 directories, the visible tree 3."""
    ws = tmp_path / "ws"
    write(ws, ".gitignore", "node_modules/\n")
    write(ws, "src/app.py", "x = 1\n")
    write(ws, "src/sub/mod.py", "y = 2\n")
    for i in range(40):
        write(ws, f"node_modules/pkg{i}/index.js", "module.exports = 1\n")
    server = _handshaken(ws)
    assert server.stdin is not None and server.stderr is not None
    try:
        err, seen = server.stderr.fileno(), logged_until(server, "watching 3 directories")
        for i in range(100):  # watches are in place once a change is seen
            write(ws, f"src/new{i}.py", "z = 3\n")
            while select.select([err], [], [], 0.3)[0] and (chunk := os.read(err, 65536)):
                seen += chunk.decode()
            if " changes in " in seen:
                break
        assert inotify_watches(server.pid) == 3  # root, src, src/sub: none in node_modules/
    finally:
        server.stdin.close()
    assert server.wait(timeout=30) == 0


@needs_inotify
def test_a_tree_with_more_directories_than_the_cap_is_watched_up_to_it_and_says_so(tmp_path: Path) -> None:
    """Several servers on one machine must not exhaust the user's inotify watches: the cap holds (the other
    directories are proven by stat, tests/test_inotify_proof.py)."""
    for i in range(5):
        write(tmp_path, f"d{i}/f.py", "x = 1\n")
    server = _handshaken(tmp_path, "--set", "watch_max_directories=3")
    assert server.stdin is not None and server.stderr is not None
    try:
        seen = logged_until(server, "watching 3 of 6 visible directories")
        assert "watch_max_directories (3) reached" in seen, seen[-2000:]
        assert inotify_watches(server.pid) == 3
    finally:
        server.stdin.close()
    assert server.wait(timeout=30) == 0


def test_a_path_holding_a_lone_surrogate_gets_an_error_the_client_can_read(tmp_path: Path) -> None:
    """JSON may escape a lone surrogate (`"\\udcff"`): Python's json takes it, the SDK's reader refused the line
    and answered nothing, and the fast lane then held every later answer for it (a valid read never came)."""
    ws = tmp_path / "ws"
    write(ws, "a.txt", "alpha\n")
    server = _serve(ws, subprocess.PIPE)
    assert server.stdin is not None and server.stdout is not None
    calls = [("read_file", {"path": "a\udcffb.py"}), ("grep", {"pattern": "x", "path": "a\udcffb"})]
    calls += [("list_dir", {"path": "d\udcff"}), ("read_file", {"path": "a.txt"})]
    try:
        server.stdin.write(INIT + INITIALIZED + "".join(_call(10 + n, *call) for n, call in enumerate(calls)))
        server.stdin.flush()
        answers: dict[Any, Any] = {}
        pending, out = b"", server.stdout.fileno()
        deadline = time.monotonic() + 30  # (stops a hung test, not a slow one: an answer never written)
        while len(answers) < len(calls) + 1 and time.monotonic() < deadline:
            if select.select([out], [], [], 0.5)[0]:
                *lines, pending = (pending + os.read(out, 65536)).split(b"\n")
                answers.update((m.get("id"), m) for m in map(json.loads, lines))
        assert sorted(answers) == [1, 10, 11, 12, 13], answers
    finally:
        server.stdin.close()
    assert server.wait(timeout=30) == 0
    for n in range(3):
        assert (
            answers[10 + n]["error"]["code"] == -32602
            and "lone leading surrogate" in answers[10 + n]["error"]["message"]
        )
    assert "alpha" in answers[13]["result"]["content"][0]["text"]


def _peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads a process's peak memory from /proc")
def test_a_client_that_reads_no_answers_is_read_no_further_and_every_call_is_answered(tmp_path: Path) -> None:
    """A client that writes calls and reads no answers: the server reads no more requests once a bound of
    answers is unread (or of calls unanswered), instead of piling them up in memory (it grew by 130 MB a
    second), and answers every call once the client reads."""
    ws = tmp_path / "ws"
    write(ws, "big.txt", "".join(f"line {i} {'x' * 80}\n" for i in range(600)))  # answers of 54 KB
    calls = 3000  # 160 MB of answers
    server = subprocess.Popen(
        [sys.executable, "-m", "volley", "serve", "--workspace", str(ws), "--log-level", "INFO"],
        env=SERVER_ENV,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert server.stdin is not None and server.stdout is not None
    try:
        server.stdin.write((INIT + INITIALIZED).encode())
        server.stdin.flush()
        assert json.loads(server.stdout.readline())["id"] == 1
        lines = "".join(_call(n, "read_file", {"path": "big.txt", "limit": 600}) for n in range(2, calls + 2))
        writer = threading.Thread(target=lambda: (server.stdin.write(lines.encode()), server.stdin.flush()))  # type: ignore[union-attr]
        writer.start()
        logged_until(server, "no more requests are read until")  # type: ignore[arg-type]
        assert _peak_rss_mb(server.pid) < 400
        answered = [json.loads(server.stdout.readline()) for _ in range(calls)]
        writer.join()
        assert sorted(a["id"] for a in answered) == list(range(2, calls + 2))
        assert all("result" in a and not a["result"].get("isError") for a in answered)
    finally:
        server.kill()
        server.communicate()
