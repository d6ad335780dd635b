"""batch: many calls in one request, results in order, each succeeding or failing on its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import serve, text_of

pytestmark = pytest.mark.anyio


async def test_batch_returns_every_result_in_order_and_one_failure_fails_only_itself(project: Path) -> None:
    calls = [
        {"tool": "read_file", "arguments": {"path": "src/app.py", "limit": 1}},
        {"tool": "grep", "arguments": {"pattern": "(bad"}},
        {"tool": "list_dir", "arguments": {"path": "docs"}},
        {"tool": "read_file", "arguments": {"path": "../outside/secret.txt"}},
        {"tool": "grep", "arguments": {"pattern": "get_path", "output_mode": "files"}},
        {"tool": "read_file", "arguments": {"nonsense": 1}},
    ]
    async with serve(project) as client:
        result = await client.call_tool("batch", {"calls": calls})
    assert not result.is_error
    outcomes = result.structured_content["results"]
    assert [o["tool"] for o in outcomes] == [c["tool"] for c in calls]
    assert [o["ok"] for o in outcomes] == [True, False, True, False, True, False]
    assert outcomes[0]["result"]["files"][0]["content"] == "def main():"
    assert "invalid regex" in outcomes[1]["text"]
    assert outcomes[2]["result"]["entries"][0]["path"] == "docs/guide.md"
    assert "path escapes the workspace" in outcomes[3]["text"]
    assert outcomes[4]["result"]["files"] == ["src/util.py"]
    assert "path" in outcomes[5]["text"]  # the validation error names the missing argument
    assert (result.structured_content["succeeded"], result.structured_content["failed"]) == (3, 3)
    assert "### [2/6] grep" in text_of(result) and "— failed" in text_of(result)


async def test_batch_refuses_nesting_unknown_tools_and_oversized_batches(project: Path) -> None:
    async with serve(project) as client:
        nested = await client.call_tool("batch", {"calls": [{"tool": "batch", "arguments": {"calls": []}}]})
        unknown = await client.call_tool("batch", {"calls": [{"tool": "rm_rf", "arguments": {}}]})
        empty = await client.call_tool("batch", {"calls": []})
        huge = await client.call_tool("batch", {"calls": [{"tool": "list_dir"}] * 51})
    assert "cannot contain another batch" in nested.structured_content["results"][0]["text"]
    assert "unknown tool 'rm_rf'" in unknown.structured_content["results"][0]["text"]
    assert empty.is_error and "empty batch" in text_of(empty)
    assert huge.is_error and "limit is 50" in text_of(huge)
