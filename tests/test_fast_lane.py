"""The stdio fast lane: plain tool calls answered without the SDK's dispatcher, exactly as the SDK answers them."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SERVER_ENV, alive, write
from tests.test_stdio import INIT, INITIALIZED, _message

# Each call goes once as a client sends it (the lane takes it) and once with a `_meta` the SDK must
# read (the lane leaves it); the two answers must be the same, error or not.
CALLS: list[dict[str, Any]] = [
    {"name": "read_file", "arguments": {"path": "a.txt"}},
    {"name": "read_file", "arguments": {"path": "accents.txt", "limit": 1}},
    {"name": "read_file", "arguments": {"path": "missing.txt"}},
    {"name": "read_file", "arguments": {"path": 123}},
    {"name": "read_file", "arguments": {"paht": "a.txt"}},
    {"name": "no_such_tool", "arguments": {}},
    {"name": "grep", "arguments": {"pattern": "alpha"}},
    {"name": "grep", "arguments": {"pattern": "("}},
    {"name": "list_dir"},
    {"name": "batch", "arguments": {"calls": [{"tool": "read_file", "arguments": {"path": "a.txt"}}]}},
]


class Wire:
    """A `volley serve` over raw pipes, logging at DEBUG to a file."""

    def __init__(self, ws: Path, log: Path, *extra: str) -> None:
        self.log = log
        self.server = subprocess.Popen(
            [sys.executable, "-m", "volley", "serve", "--workspace", str(ws), "--log-level", "DEBUG", *extra],
            env=SERVER_ENV,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log.open("w"),
            text=True,
        )
        self.send(INIT + INITIALIZED)
        assert self.answer()["id"] == 1

    def send(self, text: str) -> None:
        assert self.server.stdin is not None
        self.server.stdin.write(text)
        self.server.stdin.flush()

    def answer(self) -> dict[str, Any]:
        assert self.server.stdout is not None
        return json.loads(self.server.stdout.readline())

    def close(self) -> None:
        assert self.server.stdin is not None
        self.server.stdin.close()
        assert self.server.wait(timeout=30) == 0

    def taken_by_lane(self) -> int:
        return self.log.read_text().count("runs in the fast lane")


@pytest.mark.parametrize("structured", [False, True])
def test_plain_calls_are_answered_as_the_sdk_answers_them(tmp_path: Path, structured: bool) -> None:
    ws = tmp_path / "ws"
    write(ws, "a.txt", "alpha\nbeta\n")
    write(ws, "accents.txt", 'café 🚀 \\ "quoted"\t\n')
    wire = Wire(ws, tmp_path / "log.txt", "--set", f"structured_output={str(structured).lower()}")
    try:
        for i, params in enumerate(CALLS):
            wire.send(_message(100 + i, "tools/call", params))
            plain = wire.answer()
            wire.send(_message(200 + i, "tools/call", {**params, "_meta": {"example.com/note": "via the SDK"}}))
            via_sdk = wire.answer()
            assert (plain.pop("id"), via_sdk.pop("id")) == (100 + i, 200 + i)
            assert plain == via_sdk, params
        assert wire.taken_by_lane() == len(CALLS)  # the plain ones, and only them
    finally:
        wire.close()


def test_a_call_cancelled_in_the_lane_is_stopped_and_never_answered(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    write(ws, "pyproject.toml", "[project]\nname = 'fixture'\nversion = '0'\n")
    write(
        ws,
        "tests/test_hang.py",
        "import os, time\n\ndef test_hangs():\n    open('pid.txt', 'w').write(str(os.getpid()))\n    time.sleep(600)\n",
    )
    write(ws, "a.txt", "alpha\n")
    wire = Wire(ws, tmp_path / "log.txt")
    try:
        wire.send(_message(7, "tools/call", {"name": "run_tests", "arguments": {"keyword": "hangs"}}))
        pid_file = ws / "pid.txt"
        deadline = time.monotonic() + 60
        while not (pid_file.exists() and pid_file.read_text()):
            assert time.monotonic() < deadline, wire.log.read_text()[-2000:]
            time.sleep(0.05)
        pid = int(pid_file.read_text())
        wire.send(_message(None, "notifications/cancelled", {"requestId": 7, "reason": "the user pressed stop"}))
        wire.send(_message(8, "tools/call", {"name": "read_file", "arguments": {"path": "a.txt"}}))
        assert wire.answer()["id"] == 8  # the next line on the wire is not an answer to 7
        deadline = time.monotonic() + 30
        while alive(pid):
            assert time.monotonic() < deadline, "the cancelled run's test process is still running"
            time.sleep(0.05)
        assert wire.taken_by_lane() == 2
    finally:
        wire.close()


def test_calls_before_the_handshake_and_with_progress_go_to_the_sdk(tmp_path: Path) -> None:
    """A call before `initialize` gets the SDK's refusal; one asking for progress gets its notifications."""
    ws = tmp_path / "ws"
    write(ws, "a.txt", "alpha\n")
    log = tmp_path / "log.txt"
    server = subprocess.Popen(
        [sys.executable, "-m", "volley", "serve", "--workspace", str(ws), "--log-level", "DEBUG"],
        env=SERVER_ENV,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
    )
    early = _message(2, "tools/call", {"name": "read_file", "arguments": {"path": "a.txt"}})
    progress = _message(3, "tools/call", {"name": "list_dir", "arguments": {}, "_meta": {"progressToken": "p"}})
    out, _ = server.communicate(early + INIT + INITIALIZED + progress, timeout=60)
    answers = {m["id"]: m for m in map(json.loads, out.splitlines()) if "id" in m}
    assert answers[2]["error"]["code"] == -32602  # the SDK's answer to a call before the handshake
    assert "result" in answers[3]
    assert "runs in the fast lane" not in log.read_text()


def test_an_answer_holding_a_lone_surrogate_is_one_the_client_can_parse() -> None:
    """The lane's answer with a lone surrogate (a name's byte that is not UTF-8, in an error's words) was
    written as the escape `\\udcff`, which the SDK's reader refuses as invalid JSON: the call never ended."""
    from mcp_types import jsonrpc_message_adapter

    from volley.server.fast_lane import _line

    line = _line({"jsonrpc": "2.0", "id": 7, "error": {"code": 0, "message": "no such file: 'caf\udce9.py'"}})
    message = jsonrpc_message_adapter.validate_json(line)
    assert message.error.message == "no such file: 'caf\ufffd.py'"  # type: ignore[union-attr]
