"""The client snippets in config/clients/, used as a new user would: placeholders filled in, then started.

The MCP Inspector's CLI reads the same `mcpServers` files Claude Desktop and Cursor read, so it
starts Volley exactly as those clients would; the Claude Code snippet runs against a stand-in
`claude` that starts what `claude mcp add` was given.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.test_foreign_client import inspector  # skips (or, in CI, fails) when the Inspector is missing

SNIPPETS = Path(__file__).resolve().parent.parent / "config" / "clients"
VOLLEY = str(Path(sys.executable).with_name("volley"))
PLACEHOLDER_BIN = "/ABSOLUTE/PATH/TO/volley/.venv/bin/volley"


def _fill(text: str, project: Path) -> str:
    assert PLACEHOLDER_BIN in text
    return (
        text.replace(PLACEHOLDER_BIN, VOLLEY)
        .replace("/ABSOLUTE/PATH/TO/YOUR/PROJECT", str(project))
        .replace("${workspaceFolder}", str(project))
    )


def _check_server(config: Path) -> None:
    target = ["--config", str(config), "--server", "volley"]
    tools = inspector(target, "--method", "tools/list")["tools"]
    read_only = {t["name"] for t in tools if t.get("annotations", {}).get("readOnlyHint")}
    assert {"read_file", "grep", "list_dir"} <= read_only
    listed = inspector(target, "--method", "tools/call", "--tool-name", "list_dir")
    assert "src/" in listed["content"][0]["text"]


@pytest.mark.parametrize("snippet", ["claude_desktop_config.json", "cursor_mcp.json", "vscode_mcp.json"])
def test_json_snippets_start_a_working_server(snippet: str, project: Path, tmp_path: Path) -> None:
    data = json.loads(_fill((SNIPPETS / snippet).read_text(), project))
    servers = data.get("mcpServers") or data["servers"]  # VS Code names the table `servers`
    config = tmp_path / "mcp.json"
    config.write_text(json.dumps({"mcpServers": {"volley": servers["volley"]}}))
    _check_server(config)


def test_the_codex_snippet_opts_in_to_parallel_calls_and_starts(project: Path, tmp_path: Path) -> None:
    entry = tomllib.loads(_fill((SNIPPETS / "codex_config.toml").read_text(), project))["mcp_servers"]["volley"]
    assert entry["supports_parallel_tool_calls"] is True
    config = tmp_path / "mcp.json"
    config.write_text(json.dumps({"mcpServers": {"volley": {"command": entry["command"], "args": entry["args"]}}}))
    _check_server(config)


def test_the_claude_code_snippet_registers_a_working_server(project: Path, tmp_path: Path) -> None:
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    recorded = tmp_path / "claude-args.json"
    (fake_bin / "claude").write_text(  # `claude mcp add NAME -- CMD ARGS...`: record NAME, CMD and ARGS
        f"#!{sys.executable}\nimport json, sys\n"
        "rest = sys.argv[1:]\n"
        "assert rest[:2] == ['mcp', 'add'] and '--' in rest, rest\n"
        "cut = rest.index('--')\n"
        f"json.dump({{'name': rest[2], 'argv': rest[cut + 1:]}}, open({str(recorded)!r}, 'w'))\n"
    )
    (fake_bin / "claude").chmod(0o755)
    script = _fill((SNIPPETS / "claude_code.sh").read_text(), project)
    env = {**os.environ, "PATH": f"{fake_bin}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(["bash", "-c", script], cwd=project, env=env, check=True)
    added = json.loads(recorded.read_text())
    assert added["name"] == "volley" and added["argv"][-1] == str(project)  # "$PWD" in the project
    config = tmp_path / "mcp.json"
    config.write_text(json.dumps({"mcpServers": {"volley": {"command": added["argv"][0], "args": added["argv"][1:]}}}))
    _check_server(config)


def test_the_windows_snippet_names_the_venvs_windows_command_by_absolute_paths() -> None:
    """No Windows machine here: the snippet is checked for what Claude Desktop on Windows needs (it starts
    servers without your shell's PATH): absolute paths with a drive, the venv's Scripts\\volley.exe."""
    import ntpath

    server = json.loads((SNIPPETS / "claude_desktop_config.windows.json").read_text())["mcpServers"]["volley"]
    assert ntpath.isabs(server["command"]) and server["command"].endswith("\\.venv\\Scripts\\volley.exe")
    assert server["args"][:2] == ["serve", "--workspace"] and ntpath.isabs(server["args"][2])
