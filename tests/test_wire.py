"""Nothing a client writes on stdio ends the server or goes unanswered: each malformed line gets the JSON-RPC
error a client can act on, and the calls around it are answered."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import SERVER_ENV, write

INIT = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
DEEP = "[" * 900 + "]" * 900


def exchange(workspace: Path, lines: list[str]) -> dict[object, dict]:
    """Write the lines after a handshake, close stdin, and return every answer by id (None: the id-less ones,
    in order, under ("null", i))."""
    head = [json.dumps(INIT), json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"})]
    done = subprocess.run(
        [sys.executable, "-m", "volley", "serve", "--workspace", str(workspace)],
        input="\n".join(head + lines) + "\n",
        capture_output=True,
        text=True,
        env=SERVER_ENV,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    answers: dict[object, dict] = {}
    for i, line in enumerate(done.stdout.splitlines()):
        message = json.loads(line)
        answers[message["id"] if message["id"] is not None else ("null", i)] = message
    return answers


def test_malformed_lines_are_answered_and_the_server_goes_on(tmp_path: Path) -> None:
    write(tmp_path, "a.txt", "alpha\n")
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "read_file", "arguments": {}}}
    call["params"]["arguments"] = {"path": "a.txt"}
    answers = exchange(
        tmp_path,
        [
            json.dumps(call),
            "this is not json",
            '{"a": ' + "[" * 30_000 + '"tools/call"' + "]" * 30_000 + "}",  # once a RecursionError: exit 1
            '{"jsonrpc": "2.0", "id": 1.5, "method": "tools/list"}',
            '{"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": [1, 2]}',
            '[{"jsonrpc": "2.0", "id": 3, "method": "tools/list"}]',
            '{"jsonrpc": "2.0", "id": 4, "method": "tools/list", "params": {"x": ' + DEEP + "}}",
            '{"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "grep", "arguments": '
            + DEEP
            + "}}",
            '{"jsonrpc": "2.0", "method": "notifications/cancelled", "params": 7}',  # a notification: no answer
            '"just a string"',
            json.dumps({**call, "id": 6}),
        ],
    )
    codes = sorted(m["error"]["code"] for key, m in answers.items() if isinstance(key, tuple))
    assert codes == [-32700, -32700, -32600, -32600, -32600]  # not JSON, too deep, id 1.5, a batch, a string
    assert answers[2]["error"]["code"] == -32602 and answers[4]["error"]["code"] == -32602
    assert "error" in answers[5] or answers[5]["result"]["isError"]
    for request_id in (1, 6):
        assert "alpha" in answers[request_id]["result"]["content"][0]["text"]
    assert all(m["error"]["message"] for m in answers.values() if "error" in m)  # never empty
