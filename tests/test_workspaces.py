"""Several workspaces: repeated --workspace, or the client's MCP roots; paths qualified by a workspace's name."""

from __future__ import annotations

import sys
from pathlib import Path

import mcp_types as types
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from tests.conftest import SERVER_ENV, serve, text_of, write

pytestmark = pytest.mark.anyio
SERVE_TYPED = ["-m", "volley", "serve", "--set", "structured_output=true"]  # the tests read answers' fields


@pytest.fixture
def two(tmp_path: Path) -> tuple[Path, Path]:
    api, web = tmp_path / "api", tmp_path / "web"
    write(api, "src/app.py", "def get_user():\n    return 1\n")
    write(api, ".gitignore", "gen/\n")
    write(api, "gen/out.py", "def get_generated():\n    pass\n")
    write(web, "src/app.py", "def get_page():\n    return 2\n")
    write(web, "README.md", "# web\n")
    for ws in (api, web):
        write(ws, "pyproject.toml", "[project]\nname = 'x'\nversion = '0'\n")
    return api, web


async def test_repeated_workspaces_are_named_listed_and_routed(two: tuple[Path, Path]) -> None:
    api, web = two
    async with serve(api, "--workspace", str(web)) as client:
        top = await client.call_tool("list_dir", {})
        assert [e["path"] for e in top.structured_content["entries"]] == ["api", "web"]

        read = await client.call_tool("read_file", {"path": ["web/src/app.py", "api/src/app.py", "api/nope.py"]})
        files = read.structured_content["files"]
        assert [f["path"] for f in files] == ["web/src/app.py", "api/src/app.py", "api/nope.py"]
        assert "get_page" in files[0]["content"] and "get_user" in files[1]["content"] and files[2]["error"]

        absolute = await client.call_tool("read_file", {"path": str(web / "README.md")})
        assert "# web" in text_of(absolute)

        found = await client.call_tool("grep", {"pattern": r"def get_\w+", "output_mode": "files"})
        assert found.structured_content["files"] == ["api/src/app.py", "web/src/app.py"]  # api/gen/ is ignored
        inside = await client.call_tool("grep", {"pattern": "def", "path": "web"})
        assert "web/src/app.py:1:def get_page():" in text_of(inside)

        tree = await client.call_tool("list_dir", {"depth": 3})
        paths = [(e["path"], e["depth"]) for e in tree.structured_content["entries"]]
        assert ("api", 1) in paths and ("api/src", 2) in paths and ("web/src/app.py", 3) in paths
        assert not any(p.startswith("api/gen") for p, _ in paths)
        found_by_glob = await client.call_tool("list_dir", {"glob": "**/app.py"})
        assert {e["path"] for e in found_by_glob.structured_content["entries"]} == {"api/src/app.py", "web/src/app.py"}

        linted = await client.call_tool("run_linter", {})  # both workspaces, one answer
        runs = linted.structured_content["runs"]
        assert len(runs) == 2 and not linted.is_error
        output = await client.call_tool("run_output", {"run_id": runs[1]["run_id"]})  # run ids span workspaces
        assert not output.is_error

        unqualified = await client.call_tool("read_file", {"path": "src/app.py"})
        assert (
            unqualified.is_error and "names no workspace" in text_of(unqualified) and "api, web" in text_of(unqualified)
        )
        escape = await client.call_tool("read_file", {"path": "api/../web/src/app.py"})
        assert escape.is_error and "escapes the workspace" in text_of(escape)
        unnamed = await client.call_tool("run_tests", {})
        assert unnamed.is_error and "say which one" in text_of(unnamed)


async def test_an_edit_changes_the_workspace_its_paths_name_and_is_undone_there(two: tuple[Path, Path]) -> None:
    api, web = two
    write(api, "web/src/app.py", "def get_page():\n    return 2\n")  # a folder named like the other workspace
    async with serve(api, "--workspace", str(web)) as client:
        change = {"path": "web/src/app.py", "old": "return 2", "new": "return 3"}
        preview = await client.call_tool("edit", {"changes": [change], "dry_run": True})
        assert "+++ b/web/src/app.py" in preview.structured_content["diff"]
        done = await client.call_tool("edit", {"changes": [change], "lint": False})
        assert not done.is_error, text_of(done)
        assert [f["path"] for f in done.structured_content["files"]] == ["web/src/app.py"]
        assert "return 3" in (web / "src/app.py").read_text() and "return 2" in (api / "web/src/app.py").read_text()
        inside = {"path": "api/web/src/app.py", "old": "return 2", "new": "return 4"}
        other = await client.call_tool("edit", {"changes": [inside], "lint": False})
        assert "return 4" in (api / "web/src/app.py").read_text()

        both = await client.call_tool("edit", {"changes": [change, inside], "lint": False})
        assert both.is_error and "one workspace per call" in text_of(both)
        unnamed = await client.call_tool("edit", {"changes": [{"path": "src/app.py", "old": "a", "new": "b"}]})
        assert unnamed.is_error and "names no workspace" in text_of(unnamed)

        undone = await client.call_tool("undo_edit", {"edit_id": done.structured_content["edit_id"]})
        assert not undone.is_error, text_of(undone)
        assert "return 2" in (web / "src/app.py").read_text() and "return 4" in (api / "web/src/app.py").read_text()
        assert other.structured_content["edit_id"].startswith("api/")


def _roots(*paths: Path) -> types.ListRootsResult:
    return types.ListRootsResult(roots=[types.Root(uri=path.as_uri(), name=path.name) for path in paths])


@pytest.mark.filterwarnings("ignore:The roots capability is deprecated")
async def test_without_a_workspace_the_clients_roots_are_served_and_followed(
    two: tuple[Path, Path], tmp_path: Path
) -> None:
    api, web = two
    elsewhere = tmp_path / "cwd"
    write(elsewhere, "cwd-only.txt", "not a root\n")
    roots = [api]

    async def list_roots(_context: object) -> types.ListRootsResult:
        return _roots(*roots)

    params = StdioServerParameters(command=sys.executable, args=SERVE_TYPED, env=SERVER_ENV, cwd=str(elsewhere))
    async with Client(params, mode="legacy", list_roots_callback=list_roots) as client:
        one = await client.call_tool("list_dir", {})
        assert {e["path"] for e in one.structured_content["entries"]} == {"src", ".gitignore", "pyproject.toml"}  # api

        roots = [api, web]
        await client.send_roots_list_changed()
        both = await client.call_tool("list_dir", {})
        assert [e["path"] for e in both.structured_content["entries"]] == ["api", "web"]


async def test_without_roots_or_a_workspace_the_current_directory_is_served(tmp_path: Path) -> None:
    write(tmp_path, "here.txt", "cwd\n")
    params = StdioServerParameters(command=sys.executable, args=SERVE_TYPED, env=SERVER_ENV, cwd=str(tmp_path))
    async with Client(params, mode="legacy") as client:
        listed = await client.call_tool("list_dir", {})
    assert [e["path"] for e in listed.structured_content["entries"]] == ["here.txt"]
