"""The handshake answered while the SDK imports (volley/server/early.py): byte for byte the SDK's own answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SERVER_ENV, write

INITIALIZE = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}


READ = {"name": "read_file", "arguments": {"path": "a.py"}}


def _session(
    root: Path,
    cache: Path,
    ids: tuple[object, object],
    early: bool,
    calls: tuple[dict, ...] = (READ,),
    version: str = "2025-06-18",
    argv: tuple[str, ...] = (),
) -> tuple[list[bytes], str]:
    """Raw answer lines to initialize, tools/list, the calls and tools/list again; and the server's log."""
    messages = [
        {"jsonrpc": "2.0", "id": ids[0], "method": "initialize", "params": {**INITIALIZE, "protocolVersion": version}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": ids[1], "method": "tools/list"},
        *({"jsonrpc": "2.0", "id": 90 + n, "method": "tools/call", "params": call} for n, call in enumerate(calls)),
        {"jsonrpc": "2.0", "id": 80, "method": "tools/list", "params": {}},
    ]
    env = {**SERVER_ENV, "VOLLEY_CACHE_DIR": str(cache), "VOLLEY_EARLY": "1" if early else "0"}
    command = [sys.executable, "-m", "volley", "serve", "--workspace", str(root), "--log-level", "INFO", *argv]
    server = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert server.stdin is not None and server.stdout is not None
    answers = []
    for message in messages:
        server.stdin.write(json.dumps(message).encode() + b"\n")
        server.stdin.flush()
        if "id" in message:
            answers.append(server.stdout.readline())
    server.stdin.close()
    server.wait(timeout=60)
    assert server.stderr is not None
    return answers, server.stderr.read().decode()


def test_the_early_handshake_is_the_sdks_own_answer_byte_for_byte(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    write(root, "a.py", "x = 1\n")
    cache = tmp_path / "cache"
    sdk, _ = _session(root, cache, (1, 2), early=False)
    first, first_log = _session(root, cache, (1, 2), early=True)  # nothing kept yet: the SDK answers, and is kept
    kept, kept_log = _session(root, cache, (1, 2), early=True)
    assert "before the SDK was up" not in first_log and list(cache.glob("early/*.json"))
    assert "answered initialize (protocol 2025-06-18) before the SDK was up" in kept_log
    assert "answered tools/list (protocol 2025-06-18) before the SDK was up" in kept_log
    assert first == sdk and kept == sdk
    assert b"x = 1" in kept[2]  # the SDK serves the calls that follow


@pytest.mark.slow  # (a long one: make test-slow, which CI runs too)
def test_other_ids_and_another_configuration_get_their_own_answers(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    write(root, "a.py", "x = 1\n")
    cache = tmp_path / "cache"
    _session(root, cache, (1, 2), early=True)
    sdk, _ = _session(root, cache, ("init-7", "list.8"), early=False)
    kept, log = _session(root, cache, ("init-7", "list.8"), early=True)
    assert kept == sdk and "before the SDK was up" in log
    write(root, ".volley.toml", "read_only = true\n")  # fewer tools: the kept answers are not this server's
    changed_sdk, _ = _session(root, cache, (1, 2), early=False)
    changed, changed_log = _session(root, cache, (1, 2), early=True)
    assert changed == changed_sdk and changed[1] != sdk[1] and "before the SDK was up" not in changed_log
    assert os.path.isdir(cache / "early")


@pytest.mark.slow  # (a long one: make test-slow, which CI runs too)
def test_a_read_answered_before_the_sdk_is_up_is_the_sdks_own_answer_byte_for_byte(tmp_path: Path) -> None:
    """read_file, answered by early_calls.py while the SDK imports: every kind of answer equals the SDK's, in
    both protocol eras, with and without structured results; what it does not take, the SDK answers."""
    root = tmp_path / "ws"
    write(root, "a.py", "x = 'héllo'\n" + "y = 2\n" * 30)
    write(root, ".env", "SECRET=1\n")
    write(root, "b.txt", '\x1b[31m\t"quoted"\u2028\n')
    calls = (
        READ,
        {"name": "read_file", "arguments": {"path": "a.py", "offset": 3, "limit": 5}},
        {"name": "read_file", "arguments": {"path": ["a.py", "b.txt", "missing.py", ".env"]}},
        {"name": "read_file", "arguments": {"path": ".env"}},  # refused: a tool error
        {"name": "read_file", "arguments": {"path": "nowhere/x.py"}},
        {"name": "read_file", "arguments": {"path": "a.py", "offset": 0}},  # invalid: the SDK's own words
        {"name": "read_file", "arguments": {"path": "a.py", "offset": 99}},
        {"name": "list_dir", "arguments": {}},  # not taken early
    )
    cache = tmp_path / "cache"
    for version in ("2025-06-18", "2026-07-28"):
        for argv in ((), ("--set", "structured_output=true")):
            sdk, first_log = _session(root, cache, (1, 2), True, calls, version, argv)  # keeps the handshake's
            assert "before the SDK was up" not in first_log  # answers: nothing kept yet, all the SDK's own
            early, log = _session(root, cache, (1, 2), True, calls, version, argv)
            assert early == sdk, (version, argv)
            # five answered early; the invalid one is the SDK's, which is then up and answers the rest
            assert log.count("answered tools/call read_file before the SDK was up") == 5, log
            assert b"Input should be greater than or equal to 1" in early[7] and b"x = 'h\xc3\xa9llo'" in early[2]


def test_no_read_is_answered_early_while_an_interrupted_edit_waits_to_be_completed(tmp_path: Path, monkeypatch) -> None:
    """A crash left an edit of two files half renamed: the server completes it before serving, so a read
    answered before that would show a file as it is about to stop being."""
    from volley.edits import writer

    root = tmp_path / "ws"
    write(root, "a.py", "x = 1\n")
    write(root, "two.py", "two = 1\n")
    cache = tmp_path / "cache"
    _session(root, cache, (1, 2), True)  # keeps the handshake's answers
    monkeypatch.setenv("VOLLEY_CACHE_DIR", str(cache))  # the journal where that server looks for it
    writes = [writer.Write(str(root / "a.py"), b"x = 2\n"), writer.Write(str(root / "two.py"), b"two = 2\n")]
    temps = {w.path: writer._temp_name(w.path, "crashtest", n) for n, w in enumerate(writes)}
    with writer._Directories(create=set()) as dirs:
        for w in writes:
            dirs.write(temps[w.path], w.content or b"", None)
    writer._write_journal(writer._journal_path(str(root), "crashtest"), "committing", str(root), writes, temps)
    os.replace(temps[writes[0].path], writes[0].path)  # the first rename happened, then the crash
    calls = ({"name": "read_file", "arguments": {"path": "two.py"}},)
    answers, log = _session(root, cache, (1, 2), True, calls)
    assert b"two = 2" in answers[2] and "answered tools/call" not in log
    assert "answered tools/list (protocol 2025-06-18) before the SDK was up" in log


@pytest.mark.slow  # (a long one: make test-slow, which CI runs too)
def test_volley_call_reads_without_the_sdk_and_says_what_the_sdk_would(tmp_path: Path) -> None:
    """`volley call read_file …` (one tool, one process) is answered by early_calls.py: the same output and
    exit code as through the SDK, and the SDK is never imported."""
    root = tmp_path / "ws"
    write(root, "a.py", "x = 'héllo'\n" + "y = 2\n" * 30)
    write(root, ".env", "SECRET=1\n")
    cases = [["path=a.py", "offset=3", "limit=4"], ["path=.env"], ["path=a.py", "offset=0"], ['{"path": ["a.py"]}']]
    for n, arguments in enumerate(cases):
        for extra in ([], ["--json"]) if n < 2 else ([],):  # (--json for a read and a refusal)
            argv = [sys.executable, "-m", "volley", "call", "read_file", *arguments, "--workspace", str(root), *extra]
            runs = [
                subprocess.run(argv, capture_output=True, env={**SERVER_ENV, "VOLLEY_EARLY": early}, timeout=60)
                for early in ("0", "1")
            ]
            assert (runs[0].returncode, runs[0].stdout, runs[0].stderr) == (
                runs[1].returncode,
                runs[1].stdout,
                runs[1].stderr,
            ), arguments
    probe = "import sys, volley.cli\nsys.argv = ['volley', *sys.argv[1:]]\ntry:\n    volley.cli.main()\n"
    probe += "except SystemExit:\n    pass\nprint('mcp' in sys.modules, file=sys.stderr)\n"
    seen = subprocess.run(
        [sys.executable, "-c", probe, "call", "read_file", "path=a.py", "--workspace", str(root)],
        capture_output=True,
        text=True,
        env=SERVER_ENV,
        timeout=60,
    )
    assert "x = 'héllo'" in seen.stdout and seen.stderr.strip().endswith("False"), seen.stderr


def test_a_read_stuck_past_the_hand_over_is_left_to_the_sdk_and_never_answered_twice(monkeypatch) -> None:
    """A read that hangs (a hung network filesystem) must not hold the server's start: the SDK takes the call
    over after HAND_OVER_S, and the early thread, when the read returns at last, writes nothing."""
    import threading

    from volley.server import early as early_module

    monkeypatch.setattr(early_module, "HAND_OVER_S", 0.05)
    started, release = threading.Event(), threading.Event()

    class Stuck:
        def answer(self, name: str, arguments: object) -> str:
            started.set()
            release.wait()
            return '{"content":[],"isError":false}'

    read_in, write_in = os.pipe()
    read_out, write_out = os.pipe()
    early = early_module.Early(read_in, write_out, "stuck-read-test")
    early.handshaken = True
    early.take_calls(Stuck())  # type: ignore[arg-type]
    call = b'{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"a"}}}\n'
    os.write(write_in, call + b'{"jsonrpc":"2.0","method":"notifications/x"}\n{"partial')
    assert started.wait(30)
    handed = early.hand_over()
    assert handed == call + b'{"jsonrpc":"2.0","method":"notifications/x"}\n{"partial'  # in order, nothing lost
    release.set()
    early._thread.join(30)
    os.set_blocking(read_out, False)
    try:
        written = os.read(read_out, 1 << 16)
    except BlockingIOError:
        written = b""
    assert written == b"" and not early._thread.is_alive()
