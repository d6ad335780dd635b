"""read_file, grep and list_dir through a real `volley serve` over stdio."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import SECRET, serve, text_of, write

pytestmark = pytest.mark.anyio


async def test_tools_are_listed_with_truthful_annotations_and_output_schemas(project: Path) -> None:
    async with serve(project) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert {"read_file", "grep", "list_dir", "batch"} <= set(tools)
    for name in ("read_file", "grep", "list_dir"):
        assert tools[name].annotations.read_only_hint is True
        assert tools[name].output_schema is not None
        assert "Limits:" in tools[name].description
    # they run code that lives in the workspace (its linters, its tests) or change files: no read-only promise
    for name in ("run_linter", "run_tests", "fix_lint", "batch"):
        assert tools[name].annotations.read_only_hint is False, name


async def test_trusting_the_workspaces_linters_is_the_users_switch(project: Path) -> None:
    async with serve(project, "--set", "trust_workspace_linters=true") as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert tools["run_linter"].annotations.read_only_hint is True
    assert tools["run_tests"].annotations.read_only_hint is False


async def test_by_default_answers_are_text_alone_so_every_client_shows_the_model_that_text(project: Path) -> None:
    # Claude Code and Codex give the model structuredContent's JSON instead of the text when there is some
    async with serve(project, structured=False) as plain, serve(project) as typed:
        plain_tools = {t.name: t for t in (await plain.list_tools()).tools}
        typed_tools = {t.name: t for t in (await typed.list_tools()).tools}
        calls = [
            ("read_file", {"path": "big.txt", "limit": 3}),
            ("grep", {"pattern": "line 1$"}),
            ("batch", {"calls": [{"tool": "list_dir", "arguments": {}}, {"tool": "read_file", "arguments": {}}]}),
        ]
        for tool, arguments in calls:
            bare, full = await plain.call_tool(tool, arguments), await typed.call_tool(tool, arguments)
            assert bare.structured_content is None and full.structured_content is not None
            assert text_of(bare) == text_of(full) and text_of(bare)
    assert all(t.output_schema is None for t in plain_tools.values())
    assert all(t.output_schema is not None for t in typed_tools.values())
    assert text_of(bare).count("### [") == 2


async def test_read_file_numbers_lines_and_says_where_to_continue(project: Path) -> None:
    async with serve(project) as client:
        result = await client.call_tool("read_file", {"path": "big.txt", "offset": 10, "limit": 3})
        rest = await client.call_tool("read_file", {"path": "big.txt", "offset": 4999})
    assert not result.is_error
    assert text_of(result).splitlines()[:3] == ["    10\tline 10", "    11\tline 11", "    12\tline 12"]
    assert "lines 10-12 of 5000" in text_of(result) and "offset=13" in text_of(result)
    data = result.structured_content["files"][0]
    assert (data["start_line"], data["end_line"], data["total_lines"], data["next_offset"]) == (10, 12, 5000, 13)
    assert data["content"] == "line 10\nline 11\nline 12"
    assert rest.structured_content["files"][0]["next_offset"] is None
    assert "lines 4999-5000 of 5000)" in text_of(rest)


async def test_read_file_reads_many_paths_and_one_failure_fails_only_its_entry(project: Path) -> None:
    async with serve(project) as client:
        result = await client.call_tool(
            "read_file", {"path": ["src/app.py", "missing.py", ".env", "assets/logo.png", "build/artifact.txt"]}
        )
    assert not result.is_error
    files = result.structured_content["files"]
    assert files[0]["path"] == "src/app.py" and files[0]["error"] is None
    assert "no such file" in files[1]["error"]
    assert "deny rule" in files[2]["error"]
    assert "binary file (PNG image" in files[3]["error"]
    assert files[4]["content"] == "hello build"  # ignored, but named explicitly: readable
    assert SECRET not in text_of(result)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("../outside/secret.txt", "path escapes the workspace"),
        ("link_outside.txt", "symbolic link that points outside"),
        ("dirlink_outside/secret.txt", "path escapes the workspace"),
        (".env", "deny rule"),
        ("env_link", "deny rule"),
        ("keys/server.pem", "deny rule"),
        ("src", "is a directory"),
        ("nope.txt", "no such file"),
    ],
)
async def test_read_file_refusals_are_tool_errors_with_actionable_messages(
    project: Path, path: str, message: str
) -> None:
    async with serve(project) as client:
        result = await client.call_tool("read_file", {"path": path})
    assert result.is_error
    assert message in text_of(result)
    assert SECRET not in text_of(result) and "Traceback" not in text_of(result)


async def test_read_file_cuts_long_lines_drops_bom_and_replaces_bad_bytes(project: Path) -> None:
    write(project, "long.txt", "a" * 5000 + "\nshort\n")
    write(project, "bom.txt", b"\xef\xbb\xbfhello\n")
    write(project, "latin.txt", b"caf\xe9\n")
    write(project, "utf16.txt", "hi there\n".encode("utf-16"))
    async with serve(project) as client:
        result = await client.call_tool("read_file", {"path": ["long.txt", "bom.txt", "latin.txt", "utf16.txt"]})
    long, bom, latin, utf16 = result.structured_content["files"]
    assert long["cut_lines"] == 1 and long["content"].startswith("a" * 2000 + " … [line cut]")
    assert long["total_lines"] == 2
    assert bom["content"] == "hello"
    assert latin["content"] == "caf\ufffd"
    assert utf16["content"] == "hi there"


async def test_read_file_offsets_and_limits_are_validated(project: Path) -> None:
    async with serve(project) as client:
        past = await client.call_tool("read_file", {"path": "src/app.py", "offset": 1000})
        zero = await client.call_tool("read_file", {"path": "src/app.py", "offset": 0})
        huge = await client.call_tool("read_file", {"path": "big.txt", "limit": 10**12})
    assert past.is_error and "past the end of 'src/app.py' (6 lines)" in text_of(past)
    assert zero.is_error and "offset" in text_of(zero)
    assert not huge.is_error and huge.structured_content["files"][0]["total_lines"] == 5000


async def test_read_file_refuses_a_fifo_without_hanging(project: Path) -> None:
    os.mkfifo(project / "pipe")
    async with serve(project) as client:
        result = await client.call_tool("read_file", {"path": "pipe"})
        listing = await client.call_tool("grep", {"pattern": "hello"})
    assert result.is_error and "not a regular file" in text_of(result)
    assert not listing.is_error


async def test_list_dir_shows_a_tree_and_counts_what_ignore_rules_hide(project: Path) -> None:
    async with serve(project) as client:
        result = await client.call_tool("list_dir", {"path": ".", "depth": 2})
    data = result.structured_content
    paths = [e["path"] for e in data["entries"]]
    assert paths.index("src") < paths.index("big.txt")  # directories first
    assert "src/app.py" in paths and "src/gen" not in paths and "node_modules" not in paths
    assert not {".env", "keys/server.pem", ".git"} & set(paths)
    assert data["hidden_by_ignore"] >= 5 and "node_modules/" in data["hidden_examples"]
    assert "hidden by ignore rules" in text_of(result) and "include_ignored=true" in text_of(result)
    sizes = {e["path"]: e["size"] for e in data["entries"]}
    assert sizes["big.txt"] == (project / "big.txt").stat().st_size


async def test_list_dir_glob_finds_files_across_the_tree(project: Path) -> None:
    async with serve(project) as client:
        found = await client.call_tool("list_dir", {"glob": "**/*.py"})
        with_ignored = await client.call_tool("list_dir", {"glob": "*.py", "include_ignored": True})
    assert [e["path"] for e in found.structured_content["entries"]] == ["src/app.py", "src/util.py", "link_inside.py"]
    assert "src/gen/out.py" in [e["path"] for e in with_ignored.structured_content["entries"]]


async def test_list_dir_with_include_ignored_still_hides_secrets(project: Path) -> None:
    async with serve(project) as client:
        result = await client.call_tool("list_dir", {"depth": 3, "include_ignored": True})
    paths = {e["path"] for e in result.structured_content["entries"]}
    assert "node_modules/pkg/index.js" in paths
    assert not {".env", "keys/server.pem", "config/.env.local"} & paths


async def test_list_dir_caps_entries_with_a_note(project: Path) -> None:
    for i in range(30):
        write(project, f"many/f{i:02}.txt", "x")
    async with serve(project) as client:
        result = await client.call_tool("list_dir", {"path": "many", "max_entries": 10})
        wrong = await client.call_tool("list_dir", {"path": "big.txt"})
    assert len(result.structured_content["entries"]) == 10 and result.structured_content["total"] == 30
    assert "truncated: showing entries 1-10 of 30" in text_of(result) and "offset=10" in text_of(result)
    assert wrong.is_error and "is a file, not a directory" in text_of(wrong)
