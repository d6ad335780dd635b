"""Hostile input: escapes through every tool, bad input, load, and faults. Nothing leaks, nothing hangs."""

from __future__ import annotations

import json
import os
import unicodedata
from pathlib import Path

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import SECRET, serve, text_of, write
from volley.errors import VolleyError
from volley.workspace import Workspace

pytestmark = pytest.mark.anyio

PIECES = [
    "..",
    ".",
    "",
    "outside",
    "secret.txt",
    "ws",
    "ws-evil",
    "link_outside.txt",
    "dirlink_outside",
    "%2e%2e",
    "..%2f",
    "~",
    "..\\..",
    "\u2025",
    "\uff0e\uff0e",
    ".env",
    "keys",
    "server.pem",
    "src",
    "app.py",
    "env_link",
    "config",
    ".env.local",
    ".git",
    "loop",
    "a" * 300,
    "\x00",
    "\n",
    "\u0301",
    "con",
    "*",
    "?",
]
HOSTILE = [
    "../outside/secret.txt",
    "../../../../../../etc/passwd",
    "/etc/passwd",
    "~/.ssh/id_rsa",
    "link_outside.txt",
    "dirlink_outside/secret.txt",
    "dirlink_outside/../outside/secret.txt",
    "src/../../outside/secret.txt",
    "%2e%2e/outside/secret.txt",
    "..%2foutside%2fsecret.txt",
    "..\\outside\\secret.txt",
    "\u2025/outside/secret.txt",
    "\uff0e\uff0e/outside/secret.txt",
    "src/\x00/../../outside",
    "src\n../outside",
    ".env",
    "env_link",
    "config/.env.local",
    "keys/server.pem",
    "./keys/../keys/server.pem",
    ".git/config",
    "x" * 5000,
    "/".join([".."] * 200) + "/etc/passwd",
    "loop/a",
    "ws-evil/x.txt",
    "../ws-evil/x.txt",
]


@pytest.fixture
def hostile(project: Path, tmp_path: Path) -> Path:
    os.symlink("loop", project / "loop")
    (project / ".git").mkdir()
    write(project, ".git/config", f"[secret]\n{SECRET}\n")
    write(tmp_path, "ws-evil/x.txt", f"{SECRET}\n")
    return project


def _safe(ws: Workspace, path: str) -> None:
    try:
        target = ws.resolve(path)
    except VolleyError:
        return
    root = str(ws.root)
    assert target.abs == root or target.abs.startswith(root + os.sep), path
    assert ws.deny.check(target.rel, target.is_dir) is None if target.rel else True
    if not target.is_dir:
        assert SECRET not in Path(target.abs).read_text(errors="replace")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    pieces=st.lists(st.sampled_from(PIECES), min_size=1, max_size=6),
    absolute=st.booleans(),
    normal=st.sampled_from(["NFC", "NFD", "NFKC", None]),
)
def test_no_generated_path_resolves_outside_or_to_a_secret(
    hostile: Path, pieces: list[str], absolute: bool, normal: str | None
) -> None:
    ws = Workspace(hostile)
    path = "/".join(pieces)
    if normal:
        path = unicodedata.normalize(normal, path)
    _safe(ws, str(hostile / path) if absolute else path)


async def test_every_tool_that_takes_a_path_refuses_or_confines_hostile_paths(hostile: Path) -> None:
    calls = []
    for path in HOSTILE:
        calls += [
            ("read_file", {"path": path}),
            ("read_file", {"path": [path, "src/app.py"]}),
            ("grep", {"pattern": ".", "path": path}),
            ("grep", {"pattern": "SECRET|TOP", "glob": path, "include_ignored": True}),
            ("list_dir", {"path": path, "include_ignored": True}),
            ("list_dir", {"glob": path, "include_ignored": True}),
            ("run_linter", {"paths": [path]}),
            ("run_tests", {"targets": [path]}),
            ("batch", {"calls": [{"tool": "read_file", "arguments": {"path": path}}]}),
        ]
    async with serve(hostile) as client:
        for tool, args in calls:
            result = await client.call_tool(tool, args)
            blob = text_of(result) + json.dumps(result.structured_content or {})
            assert SECRET not in blob, (tool, args)
            assert "Traceback" not in blob, (tool, args)
    assert len(calls) == 9 * len(HOSTILE)


@pytest.mark.parametrize(
    ("tool", "args", "message"),
    [
        ("read_file", {}, "path"),
        ("read_file", {"path": 42}, "path"),
        ("read_file", {"path": "src/app.py", "limit": "many"}, "limit"),
        ("grep", {"pattern": ["a"]}, "pattern"),
        ("list_dir", {"depth": 10**9}, "depth"),
        ("run_tests", {"timeout_s": -1}, "timeout_s"),
        ("batch", {"calls": "read everything"}, "calls"),
    ],
)
async def test_wrong_types_and_missing_arguments_read_well(project: Path, tool: str, args: dict, message: str) -> None:
    async with serve(project) as client:
        result = await client.call_tool(tool, args)
    assert result.is_error and message in text_of(result) and "Traceback" not in text_of(result)


async def test_catastrophic_patterns_huge_lines_and_large_files_stay_bounded(project: Path) -> None:
    write(project, "one_line.txt", "a" * 50_000_000 + "\n")
    write(project, ".volley.toml", "[limits]\nmax_file_bytes = 60000000\n")
    with open(project / "huge.bin", "wb") as f:
        f.truncate(1 << 30)  # 1 GiB, sparse
    write(project, "bad.txt", b"ok\xff\xfe\xfdstill ok\n")
    async with serve(project) as client:
        regex = await client.call_tool("grep", {"pattern": "(a+)+$", "path": "big.txt"})
        line = await client.call_tool("read_file", {"path": "one_line.txt"})
        grep_line = await client.call_tool("grep", {"pattern": "b", "path": "one_line.txt"})
        huge = await client.call_tool("read_file", {"path": "huge.bin"})
        bad = await client.call_tool("read_file", {"path": "bad.txt"})
        offset = await client.call_tool("read_file", {"path": "big.txt", "offset": 10**15})
    assert not regex.is_error  # ripgrep's engine is linear: no catastrophic backtracking
    assert line.structured_content["files"][0]["cut_lines"] == 1 and len(text_of(line)) < 10_000
    assert "no matches" in text_of(grep_line)
    assert huge.is_error and "too large" in text_of(huge)
    assert bad.structured_content["files"][0]["content"] == "ok\ufffd\ufffd\ufffdstill ok"
    assert offset.is_error and "past the end" in text_of(offset)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
async def test_permission_denied_is_a_clear_error(project: Path) -> None:
    (project / "docs" / "guide.md").chmod(0)
    async with serve(project) as client:
        result = await client.call_tool("read_file", {"path": "docs/guide.md"})
    assert result.is_error and "permission denied" in text_of(result)


@pytest.mark.slow
async def test_a_directory_with_100000_entries_is_listed_within_the_cap(tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.mkdir()
    for i in range(100_000):
        (big / f"f{i:06}").touch()
    async with serve(tmp_path) as client:
        result = await client.call_tool("list_dir", {"path": "big"})
    assert result.structured_content["total"] == 100_000 and len(result.structured_content["entries"]) == 1000


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.slow
async def test_a_thousand_mixed_calls_in_flight_each_get_their_own_answer(tmp_path: Path) -> None:
    for i in range(100):
        write(tmp_path, f"files/f{i:03}.txt", f"content of file {i}\n")
    answers: dict[int, str] = {}
    async with serve(tmp_path) as client:

        async def call(i: int) -> None:
            k = i % 100
            if i % 3 == 0:
                result = await client.call_tool("read_file", {"path": f"files/f{k:03}.txt"})
                answers[i] = result.structured_content["files"][0]["content"]
            elif i % 3 == 1:
                result = await client.call_tool("grep", {"pattern": f"file {k}$", "output_mode": "files"})
                answers[i] = ",".join(result.structured_content["files"])
            else:
                result = await client.call_tool("list_dir", {"path": "files", "glob": f"f{k:03}.txt"})
                answers[i] = result.structured_content["entries"][0]["path"]

        pinged_midway = 0

        async def ping_throughout() -> None:
            # The server answers pings while calls are in flight. No time bound: a ping sent behind a thousand
            # requests on one pipe is read after them, and at load 8 on 2 cores that took over 10 s (the cause
            # of this test's failures under load); what must hold is that it is answered before the calls end.
            nonlocal pinged_midway
            while len(answers) < 1000:
                await client.send_ping()
                pinged_midway += len(answers) < 1000
                await anyio.sleep(0.01)

        with anyio.fail_after(600):  # a hang, not a speed: the calls' own answers are what is checked
            async with anyio.create_task_group() as tg:
                tg.start_soon(ping_throughout)
                for i in range(1000):
                    tg.start_soon(call, i)
    for i, answer in answers.items():
        k = i % 100
        expected = [f"content of file {k}", f"files/f{k:03}.txt", f"files/f{k:03}.txt"][i % 3]
        assert answer == expected, i
    assert len(answers) == 1000 and pinged_midway >= 1


async def test_the_workspace_deleted_under_a_running_server_gives_clear_errors(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    write(ws, "a.txt", "x\n")
    async with serve(ws) as client:
        assert not (await client.call_tool("read_file", {"path": "a.txt"})).is_error
        ws.rename(tmp_path / "moved")
        read = await client.call_tool("read_file", {"path": "a.txt"})
        grep = await client.call_tool("grep", {"pattern": "x"})
        listing = await client.call_tool("list_dir", {})
    for result in (read, grep, listing):
        assert result.is_error and "no longer exists" in text_of(result)
