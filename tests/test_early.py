"""The handshake answered while the SDK imports (volley/server/early.py): byte for byte the SDK's own answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import SERVER_ENV, write

INITIALIZE = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}


def _session(root: Path, cache: Path, ids: tuple[object, object], early: bool) -> tuple[list[bytes], str]:
    """Raw answer lines to initialize, tools/list, a read_file and tools/list again; and the server's log."""
    messages = [
        {"jsonrpc": "2.0", "id": ids[0], "method": "initialize", "params": INITIALIZE},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": ids[1], "method": "tools/list"},
        {
            "jsonrpc": "2.0",
            "id": 90,
            "method": "tools/call",
            "params": {"name": "read_file", "arguments": {"path": "a.py"}},
        },
        {"jsonrpc": "2.0", "id": 91, "method": "tools/list", "params": {}},
    ]
    env = {**SERVER_ENV, "VOLLEY_CACHE_DIR": str(cache), "VOLLEY_EARLY": "1" if early else "0"}
    argv = [sys.executable, "-m", "volley", "serve", "--workspace", str(root), "--log-level", "INFO"]
    server = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
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
