"""A client not written in Python: the MCP Inspector's CLI (Node) lists and calls tools over stdio and HTTP.

`.ci/run` installs the Inspector from the npm registry into .ci/node_modules; locally, run
`npm install --prefix .ci @modelcontextprotocol/inspector@0.15.0` to include these tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from tests.conftest import SECRET, SERVER_ENV
from tests.test_transports import http_server

ROOT = Path(__file__).resolve().parent.parent
INSPECTOR = Path(os.environ.get("VOLLEY_INSPECTOR", ROOT / ".ci" / "node_modules" / ".bin" / "mcp-inspector"))

if not INSPECTOR.exists():
    if os.environ.get("CI") or "VOLLEY_INSPECTOR" in os.environ:
        raise RuntimeError(f"the MCP Inspector is not installed at {INSPECTOR}; .ci/run installs it")
    pytest.skip("the MCP Inspector is not installed (see this module's docstring)", allow_module_level=True)

SERVE = [sys.executable, "-m", "volley", "serve"]
pytestmark = pytest.mark.anyio


def inspector(target: list[str], *method: str) -> dict:
    """Run the Inspector's CLI once and return the JSON it prints."""
    done = subprocess.run(
        [str(INSPECTOR), "--cli", *target, *method],
        env=SERVER_ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    return json.loads(done.stdout)


@pytest.mark.slow  # (a long one: make test-slow, which CI runs too)
def test_the_inspector_lists_and_calls_tools_over_stdio(project: Path) -> None:
    target = [*SERVE, "--workspace", str(project)]
    tools = inspector(target, "--method", "tools/list")["tools"]
    by_name = {tool["name"]: tool for tool in tools}
    assert {"read_file", "grep", "list_dir", "run_linter", "run_tests", "batch"} <= set(by_name)
    assert by_name["read_file"]["annotations"]["readOnlyHint"] is True
    assert "outputSchema" not in by_name["read_file"]  # text answers by default: what every client shows a model

    read = inspector(target, "--method", "tools/call", "--tool-name", "read_file", "--tool-arg", "path=src/app.py")
    assert not read.get("isError")
    assert "def main():" in read["content"][0]["text"] and "structuredContent" not in read

    denied = inspector(target, "--method", "tools/call", "--tool-name", "read_file", "--tool-arg", "path=.env")
    assert denied["isError"] is True
    assert SECRET not in json.dumps(denied)


async def test_the_inspector_lists_and_calls_tools_over_streamable_http(project: Path) -> None:
    async with http_server(project, "http") as url:
        target = [f"{url}/mcp", "--transport", "http"]
        tools = await anyio.to_thread.run_sync(lambda: inspector(target, "--method", "tools/list"))
        assert "grep" in {tool["name"] for tool in tools["tools"]}
        found = await anyio.to_thread.run_sync(
            lambda: inspector(target, "--method", "tools/call", "--tool-name", "grep", "--tool-arg", "pattern=def get_")
        )
    text = found["content"][0]["text"]
    assert "src/app.py:5:def get_value(x):" in text
    assert "src/gen/out.py" not in text  # ignored by src/.gitignore
