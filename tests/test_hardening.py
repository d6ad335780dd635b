"""Nothing a workspace holds blocks a tool for good, and nothing a tool starts outlives its call or the server:
a FIFO named as a path, files deleted mid-search, a search nobody waits for, a server ended by SIGTERM,
SIGKILL or the client closing stdin while a test run's daemon ignores SIGTERM."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import anyio
import pytest

from tests.conftest import SERVER_ENV, serve, settle, text_of, wait_for, wait_until_gone, write
from volley import process, ripgrep

pytestmark = pytest.mark.anyio


async def test_a_fifo_named_as_a_path_is_refused_by_every_search(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.py")
    write(tmp_path, "real.py", "def real():\n    pass\n")
    async with serve(tmp_path) as client:
        with anyio.fail_after(60):  # a hang fails here, not at the suite's end
            grep = await client.call_tool("grep", {"pattern": "x", "path": "pipe.py"})
            symbol = await client.call_tool("find_symbol", {"name": "real", "path": "pipe.py"})
            uses = await client.call_tool("find_references", {"name": "real", "path": "pipe.py"})
            after = await client.call_tool("grep", {"pattern": "def real", "output_mode": "files"})
    assert grep.is_error and "not a regular file" in text_of(grep)
    assert symbol.structured_content["total"] == 0 and not uses.is_error
    assert after.structured_content["files"] == ["real.py"]


def test_files_deleted_between_listing_and_search_have_no_match_and_no_error(tmp_path: Path) -> None:
    """rg exits 2 with nothing said (--no-messages) for a file it cannot open: that was an empty error."""
    kept = write(tmp_path, "kept.py", "needle\n")
    chunks = ripgrep.search(
        "rg", "needle", [str(tmp_path / "gone.py"), str(kept)], before=0, after=0, max_count=None, multiline=False
    )
    assert [chunk.strip() for chunk in chunks] == [f"{kept}\0" + "1:needle"]
    assert (
        ripgrep.search("rg", "x", [str(tmp_path / "gone.py")], before=0, after=0, max_count=None, multiline=False) == []
    )


def test_a_search_nobody_waits_for_is_killed(tmp_path: Path) -> None:
    """rg given a FIFO blocks reading it; once its caller is gone it is killed, not left for the server's life."""
    os.mkfifo(tmp_path / "pipe")
    gone = threading.Event()
    outcome: list[BaseException] = []

    def search() -> None:
        try:
            process.run_blocking([ripgrep.rg_binary(), "x", str(tmp_path / "pipe")], gone.is_set)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=search)
    worker.start()
    gone.set()
    worker.join(timeout=30)
    assert not worker.is_alive() and isinstance(outcome[0], TimeoutError)
    assert process.active_groups() == set()


DAEMON_TEST = """\
import os, signal, subprocess, sys, time
def test_wait():
    daemon = subprocess.Popen(
        [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(300)"],
        start_new_session=True,
    )
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    with open(os.path.join(os.path.dirname(__file__), "..", "pids.txt"), "w") as f:
        f.write(f"{os.getpid()} {child.pid} {daemon.pid}")
    time.sleep(120)
"""


@pytest.mark.parametrize("ending", ["SIGTERM", "SIGKILL", "stdin closed"])
def test_nothing_a_test_run_started_outlives_the_server(tmp_path: Path, ending: str) -> None:
    write(tmp_path, "pyproject.toml", "[project]\nname='x'\nversion='0'\n")
    write(tmp_path, "tests/test_wait.py", DAEMON_TEST)
    server = subprocess.Popen(
        [sys.executable, "-m", "volley", "serve", "--workspace", str(tmp_path)],
        env=SERVER_ENV,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert server.stdin is not None and server.stdout is not None
    info = {"name": "t", "version": "1"}
    init = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": info}
    call = {"name": "run_tests", "arguments": {}}
    for message in (
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": call},
    ):
        server.stdin.write(json.dumps(message) + "\n")
    server.stdin.flush()
    pids_file = tmp_path / "pids.txt"
    with anyio.from_thread.start_blocking_portal() as portal:
        portal.call(wait_for, pids_file, 3)
    pids = [int(p) for p in pids_file.read_text().split()]
    if ending == "stdin closed":
        server.stdin.close()  # the run is a job: the server answers it, or stops it at the drain's end
        server.send_signal(signal.SIGTERM)
    else:
        server.send_signal(getattr(signal, ending))
    server.wait(timeout=60)
    with anyio.from_thread.start_blocking_portal() as portal:
        portal.call(wait_until_gone, pids)


async def test_errors_never_echo_a_huge_input_and_are_never_empty(tmp_path: Path) -> None:
    write(tmp_path, "a.py", "x = 1\n")
    huge = "(" * 10_000_000  # 10 MB: came back as a 10 MB error (20 MB after 34 s for find_symbol)
    async with serve(tmp_path) as client:
        answers = [
            await client.call_tool("grep", {"pattern": huge}),
            await client.call_tool("find_symbol", {"name": huge}),
            await client.call_tool("grep", {"pattern": "(" * 1000}),  # a regex error, echoing the pattern
            await client.call_tool("read_file", {"path": "x" * 600_000}),
        ]
    for answer in answers:
        assert answer.is_error and 20 < len(text_of(answer)) <= 2_500, text_of(answer)[:300]
    assert "over the 524,288 any argument may take" in text_of(answers[0])


SECRET_FILES = [".aws/credentials", ".git-credentials", ".envrc", "prod.env", "deploy/.docker/config.json", ".ENV"]
SECRET_FILES += ["keys/ID_RSA", "infra/terraform.tfstate", ".ssh/config"]


async def test_secret_files_beyond_the_old_list_and_in_any_case_are_never_shown(tmp_path: Path) -> None:
    for rel in SECRET_FILES:
        write(tmp_path, rel, "token = TOP-SECRET-VALUE-41\n")
    write(tmp_path, "app.py", "token = 'not a secret'\n")
    async with serve(tmp_path) as client:
        listing = await client.call_tool("list_dir", {"depth": 5})
        found = await client.call_tool("grep", {"pattern": "TOP-SECRET", "include_ignored": True})
        reads = [await client.call_tool("read_file", {"path": rel}) for rel in SECRET_FILES]
    assert "TOP-SECRET" not in text_of(found) and found.structured_content["total_matches"] == 0
    assert not any(name in text_of(listing) for name in ("credentials", ".envrc", "prod.env", "ID_RSA", ".ENV"))
    assert all(r.is_error and "access denied" in text_of(r) for r in reads), [text_of(r)[:100] for r in reads]


async def test_a_committed_config_cannot_switch_protection_off(tmp_path: Path) -> None:
    """`deny = ["!.git", "!.env"]` in a cloned repository's .volley.toml exposed .git/config and .env; a
    committed `trust_workspace_linters` would have let hosts run its linters unasked."""
    write(tmp_path, ".volley.toml", 'deny = ["!.git", "!.env", "extra.txt"]\ntrust_workspace_linters = true\n')
    write(tmp_path, ".env", "API_KEY=TOP-SECRET-VALUE-41\n")
    write(tmp_path, ".git/config", "[remote]\n  url = https://user:TOP-SECRET-VALUE-41@example.com/r.git\n")
    write(tmp_path, "extra.txt", "added by the workspace: denied too\n")
    async with serve(tmp_path) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        reads = [await client.call_tool("read_file", {"path": p}) for p in (".env", ".git/config", "extra.txt")]
    assert all(r.is_error and "access denied" in text_of(r) for r in reads)
    assert not tools["run_linter"].annotations.read_only_hint
    shown = subprocess.run(
        [sys.executable, "-m", "volley", "config", "--workspace", str(tmp_path)], capture_output=True, text=True
    ).stdout
    assert "ignored from the config file: trust_workspace_linters" in shown and "not lift them" in shown


async def test_a_large_utf16_file_is_read_a_window_at_a_time(tmp_path: Path) -> None:
    """A 500 MB UTF-16 file was decoded whole (19 s, 2.9 GB for 4 reads); now only the window is decoded."""
    lines = [f"line {n} é\r\n" for n in range(1, 300_001)]  # 6 MB of UTF-16, over the 2 MB read whole
    (tmp_path / "wide.txt").write_bytes(b"\xff\xfe" + "".join(lines).encode("utf-16-le"))
    async with serve(tmp_path) as client:
        first = await client.call_tool("read_file", {"path": "wide.txt", "limit": 2})
        later = await client.call_tool("read_file", {"path": "wide.txt", "offset": 299_999, "limit": 5})
    assert [f["content"] for f in first.structured_content["files"]] == ["line 1 é\nline 2 é"]
    assert later.structured_content["files"][0]["content"] == "line 299999 é\nline 300000 é"
    assert first.structured_content["files"][0]["total_lines"] == 300_000


async def test_a_malformed_row_in_the_symbol_cache_means_parse(tmp_path: Path) -> None:
    """Valid SQLite, bad JSON in a row: outline and every repo_map failed in every new server."""
    ws, cache = tmp_path / "ws", tmp_path / "cache"
    path = write(ws, "m.py", "def aaa():\n    pass\n")
    settle(path)
    async with serve(ws, env={"VOLLEY_CACHE_DIR": str(cache)}) as client:
        await client.call_tool("outline", {"path": "m.py"})
    (db,) = cache.glob("symbols-*.sqlite3")
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE files SET defs = '{not json', used = '[[1'")
    async with serve(ws, env={"VOLLEY_CACHE_DIR": str(cache)}) as client:
        outline = await client.call_tool("outline", {"path": "m.py"})
        ranked = await client.call_tool("repo_map", {})
    assert [s["name"] for s in outline.structured_content["files"][0]["symbols"]] == ["aaa"]
    assert not ranked.is_error


async def test_a_link_to_a_denied_file_is_never_listed(tmp_path: Path) -> None:
    write(tmp_path, ".env", "API_KEY=TOP-SECRET-VALUE-41\n")
    write(tmp_path, "keys/server.pem", "-----BEGIN-----\n")
    os.symlink(".env", tmp_path / "env_link")
    os.symlink("keys", tmp_path / "keys_link")
    os.symlink("keys/server.pem", tmp_path / "pem_link")
    write(tmp_path, "ok.txt", "fine\n")
    async with serve(tmp_path) as client:
        listing = text_of(await client.call_tool("list_dir", {"depth": 3, "include_ignored": True}))
    assert "env_link" not in listing and "pem_link" not in listing and "ok.txt" in listing


async def test_a_hard_link_to_a_denied_file_is_not_shown(tmp_path: Path) -> None:
    """`ln .env notes.txt` showed the secret through its other name; a hard link between two ordinary files
    still reads."""
    write(tmp_path, ".env", "API_KEY=TOP-SECRET-VALUE-41\n")
    write(tmp_path, "config/.env.local", "DB_PASSWORD=TOP-SECRET-VALUE-41\n")
    os.link(tmp_path / ".env", tmp_path / "notes.txt")
    os.link(tmp_path / "config/.env.local", tmp_path / "docs.md")
    write(tmp_path, "a.txt", "plain words\n")
    os.link(tmp_path / "a.txt", tmp_path / "b.txt")
    async with serve(tmp_path) as client:
        read = await client.call_tool("read_file", {"path": "notes.txt"})  # before any walk: it walks first
        other = await client.call_tool("read_file", {"path": "docs.md"})
        found = await client.call_tool("grep", {"pattern": "TOP-SECRET"})
        plain = await client.call_tool("read_file", {"path": "b.txt"})
    assert read.is_error and "hard link" in text_of(read) and "TOP-SECRET" not in text_of(read)
    assert other.is_error and "TOP-SECRET" not in text_of(other)
    assert found.structured_content["total_matches"] == 0
    assert "plain words" in text_of(plain)


async def test_a_hard_link_to_a_denied_file_is_not_parsed_by_the_symbol_tools(tmp_path: Path) -> None:
    """A denied file's content under a source file's name (`ln .env settings.py`) showed through outline,
    find_symbol, find_references and repo_map."""
    write(tmp_path, ".env", 'API_KEY = "TOP-SECRET-VALUE-41"\n\ndef secret_helper():\n    return API_KEY\n')
    os.link(tmp_path / ".env", tmp_path / "settings.py")
    write(tmp_path, "app.py", "from settings import API_KEY\n\ndef main():\n    return API_KEY\n")
    async with serve(tmp_path) as client:
        outline = await client.call_tool("outline", {"path": "settings.py"})
        tree = await client.call_tool("outline", {"path": "."})
        found = await client.call_tool("find_symbol", {"name": "secret_helper", "include_body": True})
        uses = await client.call_tool("find_references", {"name": "API_KEY"})
        ranked = await client.call_tool("repo_map", {})
    assert outline.is_error and "hard link" in text_of(outline)
    for result in (tree, found, uses, ranked):
        assert not result.is_error and "TOP-SECRET" not in text_of(result) + str(result.structured_content)
    assert "settings.py" not in text_of(found) and "app.py" in text_of(uses)


async def test_a_name_that_is_not_utf8_beside_a_gitignore_is_listed_searched_and_ignored_as_git_does(
    tmp_path: Path,
) -> None:
    """pathspec's RE2 backend takes UTF-8 text only: a name with a byte that is not (kept by Python as a
    surrogate) made every listing and search of a workspace with a .gitignore "Error executing tool"."""
    write(tmp_path, ".gitignore", "*.log\n")
    (tmp_path / os.fsdecode(b"caf\xe9.txt")).write_bytes(b"needle latin-1 name\n")
    (tmp_path / os.fsdecode(b"old\xff.log")).write_bytes(b"needle ignored\n")
    write(tmp_path, "plain.txt", "needle plain\n")
    (tmp_path / os.fsdecode(b"lib\xff.py")).write_bytes(b"def needle_func():\n    return 1\n")
    write(tmp_path, "main.py", "from lib import needle_func\n\nneedle_func()\n")
    async with serve(tmp_path) as client:
        with anyio.fail_after(60):
            listing = await client.call_tool("list_dir", {})
            globbed = await client.call_tool("list_dir", {"glob": "caf*.txt"})
            grep = await client.call_tool("grep", {"pattern": "needle", "output_mode": "count", "glob": "*.txt"})
            symbol = await client.call_tool("find_symbol", {"name": "needle_func"})  # (the symbol cache's key)
            uses = await client.call_tool("find_references", {"name": "needle_func"})
            ranked = await client.call_tool("repo_map", {})
            read = await client.call_tool("read_file", {"path": "lib\ufffd.py"})  # the name as answers show it
    for answer in (listing, globbed, grep, symbol, uses, ranked, read):
        assert not answer.is_error, text_of(answer)
    assert [e["path"][:3] for e in listing.structured_content["entries"]] == [".gi", "caf", "lib", "mai", "pla"]
    assert [d["path"] for d in symbol.structured_content["hits"]] == ["lib\ufffd.py"]
    assert "lib\ufffd.py" in text_of(ranked) and "main.py" in text_of(uses) and "return 1" in text_of(read)
    assert [e["path"][:3] for e in globbed.structured_content["entries"]] == ["caf"]
    assert sorted(c["path"][:3] for c in grep.structured_content["counts"]) == ["caf", "pla"]


async def test_a_crafted_gitignore_line_or_glob_cannot_hold_a_listing_on_a_long_name(tmp_path: Path) -> None:
    """A backtracking engine takes time exponential in a pattern's stars on a long name: a repository's
    `*a*a*a*a*a*a*a*a*b` beside a file of 200 a's held every walk for good, and so did such a glob."""
    write(tmp_path, ".gitignore", "*.txt\n" + "*a" * 12 + "*b\n")
    write(tmp_path, "a" * 200 + ".txt", "needle\n")  # ignored by *.txt; the line after it is tried first
    write(tmp_path, "a" * 200 + ".py", "needle\n")
    write(tmp_path, "keep.py", "needle\n")
    async with serve(tmp_path) as client:
        with anyio.fail_after(60):  # a hang fails here, not at the suite's end
            listing = await client.call_tool("list_dir", {})
            globbed = await client.call_tool("list_dir", {"glob": "*a" * 12 + "*b"})
            grep = await client.call_tool("grep", {"pattern": "needle", "output_mode": "files"})
    assert sorted(e["path"][-3:] for e in listing.structured_content["entries"]) == [".py", ".py", "ore"]
    assert globbed.structured_content["entries"] == [] and not globbed.is_error
    assert sorted(grep.structured_content["files"]) == ["a" * 200 + ".py", "keep.py"]


async def test_a_gitignore_of_thousands_of_lines_is_followed_as_git_follows_it(tmp_path: Path) -> None:
    """RE2 refuses a set of a few thousand globs (its memory budget): a repository's .gitignore of 6,000 lines
    failed every listing and search ("failed to compile Set"). The patterns are matched a thousand at a time,
    the last matching line still winning across them; git says what is ignored."""
    rng = random.Random(3)
    lines = [f"gen_{n}_{rng.randrange(10**9)}/**/*.tmp" for n in range(6000)]
    lines[10], lines[3000], lines[5990] = "*.log", "*.tmp", "!keep.log"  # the last line that matches wins
    write(tmp_path, ".gitignore", "\n".join(lines) + "\n")
    for name in ("a.py", "x.log", "keep.log", "deep/y.tmp", "deep/z.py", f"{lines[20].split('/')[0]}/w.py"):
        write(tmp_path, name, "needle\n")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    shown = subprocess.run(
        ["git", "ls-files", "--others", "--exclude-standard"], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.split()
    async with serve(tmp_path) as client:
        with anyio.fail_after(60):
            grep = await client.call_tool("grep", {"pattern": "needle", "output_mode": "files"})
    assert not grep.is_error, text_of(grep)
    assert sorted(grep.structured_content["files"]) == sorted(f for f in shown if f != ".gitignore")
    assert "keep.log" in shown and "x.log" not in shown and "deep/y.tmp" not in shown


async def test_a_workspace_whose_own_path_is_not_utf8_is_served(tmp_path: Path) -> None:
    """Its caches are named by a hash of the root: `root.encode()` raised at the first call of every tool."""
    root = tmp_path / os.fsdecode(b"r\xe9po")
    write(root, "pkg/a.py", "def needle():\n    return 1\n")
    write(root, ".gitignore", "*.log\n")
    async with serve(root) as client:
        with anyio.fail_after(60):
            answers = [
                await client.call_tool("list_dir", {}),
                await client.call_tool("grep", {"pattern": "needle"}),
                await client.call_tool("find_symbol", {"name": "needle"}),
                await client.call_tool("read_file", {"path": "pkg/a.py"}),
            ]
    assert [a.is_error for a in answers] == [False] * 4, [text_of(a) for a in answers]
    assert "pkg" in text_of(answers[0]) and all("needle" in text_of(a) for a in answers[1:])


@pytest.mark.parametrize("watched", [True, False])
async def test_a_file_a_thousand_directories_deep_is_found(tmp_path: Path, watched: bool) -> None:
    """grep's check for a link swapped in on a match's way went up the directories by recursion: a
    RecursionError at a depth of 1,000 (a path of 2,000 characters: Linux takes 4,096)."""
    deep = tmp_path
    for _ in range(1000):
        deep /= "d"
        deep.mkdir()
    (deep / "deep.py").write_text("needle = 1\n")
    try:
        await _grep_the_deep_file(tmp_path, watched)
    finally:  # (pytest's clean-up of old runs is shutil.rmtree, which recurses on Python 3.12: it would fail)
        (deep / "deep.py").unlink()
        while deep != tmp_path:
            deep.rmdir()
            deep = deep.parent


async def _grep_the_deep_file(tmp_path: Path, watched: bool) -> None:
    write(tmp_path, "top.py", "needle = 2\n")
    extra = () if watched else ("--set", "watch_max_directories=0")
    async with serve(tmp_path, *extra) as client:
        with anyio.fail_after(60):
            grep = await client.call_tool("grep", {"pattern": "needle", "output_mode": "count"})
            listed = await client.call_tool("list_dir", {"glob": "**/deep.py"})
    assert not grep.is_error, text_of(grep)[-300:]
    assert sorted(c["path"][-7:] for c in grep.structured_content["counts"]) == ["deep.py", "top.py"]
    assert listed.structured_content["total"] == 1


async def test_project_files_nested_too_deeply_for_python_are_refused_by_name_not_a_traceback(tmp_path: Path) -> None:
    """A pyproject.toml or package.json nested 100,000 deep: Python's TOML and JSON readers raise RecursionError,
    which no tool caught (every call, and `volley config`, ended in a traceback)."""
    deep = "[" * 100_000 + "]" * 100_000
    write(tmp_path, "pkg/package.json", '{"name": "pkg", "scripts": {"test": "jest"}, "x": ' + deep + "}")
    write(tmp_path, "lib/pyproject.toml", f'[project]\nname = "lib"\nversion = "0"\n[tool.x]\nv = {deep}\n')
    write(tmp_path, "lib/a.py", "x = 1\n")
    async with serve(tmp_path) as client:
        with anyio.fail_after(60):
            chains = await client.call_tool("list_toolchains", {})
            read = await client.call_tool("read_file", {"path": "lib/a.py"})
    assert not chains.is_error and not read.is_error, (text_of(chains), text_of(read))
    write(tmp_path, "pyproject.toml", f'[project]\nname = "top"\nversion = "0"\n[tool.x]\nv = {deep}\n')
    done = subprocess.run(
        [sys.executable, "-m", "volley", "config", "--workspace", str(tmp_path)], capture_output=True, text=True
    )
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "pyproject.toml: cannot read configuration" in done.stderr, done.stderr[-500:]
