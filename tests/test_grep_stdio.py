"""grep through a real server: ripgrep's matches, the same files list_dir shows, clear errors."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import SECRET, SERVER_ENV, serve, text_of, write
from volley.tools.grep import SPLIT_MIN_FILES, _split

pytestmark = pytest.mark.anyio
ENGINES = ["rg"] + (["python-ripgrep"] if importlib.util.find_spec("python_ripgrep") else [])


@pytest.fixture(autouse=True, params=ENGINES)
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test here runs against each engine installed: the rg binary, and python-ripgrep where it installs."""
    monkeypatch.setitem(SERVER_ENV, "VOLLEY_SEARCH_ENGINE", request.param)
    return request.param


async def test_grep_returns_sorted_matches_with_line_numbers(project: Path) -> None:
    async with serve(project) as client:
        result = await client.call_tool("grep", {"pattern": r"def get_\w+\("})
    assert text_of(result).splitlines() == ["src/app.py:5:def get_value(x):", "src/util.py:3:def get_path():"]
    lines = result.structured_content["lines"]
    assert lines[0] == {"path": "src/app.py", "line": 5, "text": "def get_value(x):", "match": True}
    assert result.structured_content["total_files"] == 2


async def test_grep_searches_exactly_the_files_list_dir_shows(project: Path) -> None:
    async with serve(project) as client:
        for include_ignored in (False, True):
            listing = await client.call_tool("list_dir", {"glob": "*", "include_ignored": include_ignored})
            found = await client.call_tool(
                "grep", {"pattern": ".", "output_mode": "files", "include_ignored": include_ignored, "max_results": 999}
            )
            shown = {e["path"] for e in listing.structured_content["entries"] if e["type"] == "file"} - {
                "assets/logo.png"
            }  # binary: listed, not searched
            assert set(found.structured_content["files"]) == shown
            assert SECRET not in text_of(found)


def _rg_binary() -> str:
    rg = shutil.which("rg")
    if rg is None:
        if os.environ.get("CI"):
            pytest.fail("the rg binary (Debian package ripgrep) is the oracle here; .ci/run installs it")
        pytest.skip("rg binary not installed")
    return rg


async def test_grep_matches_equal_the_rg_binary(project: Path) -> None:
    rg = _rg_binary()
    for secret in (".env", "config/.env.local", "keys/server.pem"):
        (project / secret).unlink()  # rg knows no deny rules; leave only what both should see
    (project / ".git").mkdir()
    expected = subprocess.run(
        [rg, "-n", "--no-heading", "--hidden", "--sort", "path", "-e", "hello|get_"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    async with serve(project) as client:
        result = await client.call_tool("grep", {"pattern": "hello|get_", "max_results": 1000})
    assert sorted(text_of(result).splitlines()) == sorted(expected)


async def test_a_search_split_across_threads_matches_the_rg_binary(tmp_path: Path) -> None:
    rg = _rg_binary()
    files = 3 * SPLIT_MIN_FILES  # split in two wherever there are two cores
    for i in range(files):
        write(tmp_path, f"pkg{i % 7}/mod{i}.py", f"def get_{i}():\n    return {i}\n" if i % 3 else f"x = {i}\n")
    write(tmp_path, ".gitignore", "pkg6/\n")
    (tmp_path / ".git").mkdir()
    expected = subprocess.run(
        [rg, "-n", "--no-heading", "--hidden", "--sort", "path", "-e", r"def get_\d+"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    async with serve(tmp_path, "--set", "concurrency.threads=2") as client:
        result = await client.call_tool("grep", {"pattern": r"def get_\d+", "max_results": files})
    assert len(expected) > 800 and text_of(result).splitlines() == expected


def test_a_long_file_list_is_split_into_parts_that_cover_it_once() -> None:
    files = [f"f{i}" for i in range(SPLIT_MIN_FILES * 3 + 7)]
    assert _split(files[: SPLIT_MIN_FILES * 2 - 1], 8) == [files[: SPLIT_MIN_FILES * 2 - 1]]  # too short for two
    parts = _split(files, 2)
    assert len(parts) == 2 and sorted(f for part in parts for f in part) == sorted(files)
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    assert len(_split(files, 8)) == 3 and _split(files, 1) == [files]


async def test_grep_options_case_fixed_glob_context_count_multiline(project: Path) -> None:
    write(project, "notes/a.txt", "Alpha\nbeta (x+1)\ngamma\ndelta\n")
    write(project, "notes/b.md", "alpha again\n")
    async with serve(project) as client:
        ci = await client.call_tool("grep", {"pattern": "alpha", "path": "notes", "case_insensitive": True})
        fixed = await client.call_tool("grep", {"pattern": "(x+1)", "fixed_string": True})
        glob = await client.call_tool("grep", {"pattern": "alpha", "glob": "*.md", "case_insensitive": True})
        ctx = await client.call_tool("grep", {"pattern": "gamma", "context": 1})
        count = await client.call_tool("grep", {"pattern": "a", "path": "notes", "output_mode": "count"})
        multi = await client.call_tool("grep", {"pattern": r"gamma\ndelta", "multiline": True})
    assert [x["path"] for x in ci.structured_content["lines"]] == ["notes/a.txt", "notes/b.md"]
    assert text_of(fixed) == "notes/a.txt:2:beta (x+1)"
    assert text_of(glob) == "notes/b.md:1:alpha again"
    assert text_of(ctx).splitlines() == ["notes/a.txt-2-beta (x+1)", "notes/a.txt:3:gamma", "notes/a.txt-4-delta"]
    assert {c["path"]: c["count"] for c in count.structured_content["counts"]} == {"notes/a.txt": 4, "notes/b.md": 1}
    assert [x["line"] for x in multi.structured_content["lines"]] == [3, 4]


async def test_grep_truncates_with_a_count_of_what_was_left_out(project: Path) -> None:
    async with serve(project) as client:
        result = await client.call_tool("grep", {"pattern": "^line", "path": "big.txt", "max_results": 5})
    assert len(result.structured_content["lines"]) == 5 and result.structured_content["truncated"]
    assert "[truncated: showing matching lines 1-5 of at least 6 in 1 files" in text_of(result)
    assert "offset=5" in text_of(result)


async def test_grep_ignored_files_only_on_request_and_secrets_never(project: Path) -> None:
    async with serve(project) as client:
        plain = await client.call_tool("grep", {"pattern": "hello", "output_mode": "files"})
        wide = await client.call_tool(
            "grep", {"pattern": "hello|API_KEY|BEGIN", "output_mode": "files", "include_ignored": True}
        )
        named = await client.call_tool("grep", {"pattern": "hello", "path": "build/artifact.txt"})
        secret = await client.call_tool("grep", {"pattern": "API", "path": ".env"})
    assert "debug.log" not in plain.structured_content["files"]
    assert "src/important.log" in plain.structured_content["files"]  # re-included by src/.gitignore
    assert {"debug.log", "build/artifact.txt", "node_modules/pkg/index.js"} <= set(wide.structured_content["files"])
    assert SECRET not in text_of(wide) and ".env" not in wide.structured_content["files"]
    assert text_of(named) == "build/artifact.txt:1:hello build"
    assert secret.is_error and "deny rule" in text_of(secret)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"pattern": "(unclosed"}, "invalid regex '(unclosed'"),
        ({"pattern": "a\nb"}, "multiline"),
        ({"pattern": "x", "path": "../outside"}, "path escapes the workspace"),
        ({"pattern": "x", "glob": ""}, "empty glob"),
        ({"pattern": "x", "context": -1}, "context"),
    ],
)
async def test_grep_bad_input_gets_a_clear_error(project: Path, args: dict, message: str) -> None:
    async with serve(project) as client:
        result = await client.call_tool("grep", args)
    assert result.is_error and message in text_of(result)


async def test_names_with_newlines_are_searched_and_named_whole(tmp_path: Path) -> None:
    """rg's heading names a file on a line of its own, and a blank line ends its chunk: a name holding a
    newline was cut there and its matches never shown, and `a\\n\\nb.txt` had its lines shown as b.txt's (a
    real file beside it). The rg binary's answer is read by the NUL after each name (--null); python-ripgrep,
    which has no such option, hands such a list to the binary."""
    write(tmp_path, "a\n\nb.txt", "needle one\n")
    write(tmp_path, "b.txt", "nothing here\n")
    write(tmp_path, "d\ne.txt", "needle two\n")
    write(tmp_path, "dir/f\ng.py", "x = 1\nneedle three\n")
    write(tmp_path, "plain.txt", "needle four\n")
    async with serve(tmp_path) as client:
        whole = await client.call_tool("grep", {"pattern": "needle", "output_mode": "files"})
        lines = await client.call_tool("grep", {"pattern": "needle"})
        folder = await client.call_tool("grep", {"pattern": "needle", "path": "dir", "context": 1})
        one = await client.call_tool("grep", {"pattern": "needle", "path": "d\ne.txt"})
    assert sorted(whole.structured_content["files"]) == ["a\n\nb.txt", "d\ne.txt", "dir/f\ng.py", "plain.txt"]
    shown = sorted((m["path"], m["text"]) for m in lines.structured_content["lines"])
    assert shown[0] == ("a\n\nb.txt", "needle one") and all(path != "b.txt" for path, _ in shown)
    assert [(m["path"], m["line"]) for m in folder.structured_content["lines"]] == [
        ("dir/f\ng.py", 1),
        ("dir/f\ng.py", 2),
    ]
    assert one.is_error and "control character" in text_of(one)  # a path named to a tool may hold none
