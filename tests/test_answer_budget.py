"""Every answer fits the answer budget, says what it left out, and its note leads to the rest (issue 16)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import serve, text_of, write

pytestmark = pytest.mark.anyio

BUDGET = 4000
MINIFIED = "!function(){'use strict';" + "var a=function(b){return b+1};" * 5000 + "}();"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """Source files with many matches, a minified one-line bundle, and a long file."""
    ws = tmp_path / "ws"
    for i in range(40):
        body = "".join(f"def get_{i}_{k}(x):\n    return x  # {k}\n" for k in range(12))
        write(ws, f"pkg/mod{i:02}.py", body)
    write(ws, "static/bundle.min.js", MINIFIED + "\n")
    write(ws, "long.txt", "".join(f"line {n} " + "x" * 60 + "\n" for n in range(1, 3001)))
    return ws


def _next_offset(text: str) -> int | None:
    found = re.search(r"offset=(\d+)", text.rsplit("\n", 1)[-1])
    return int(found.group(1)) if found else None


async def test_tools_list_declares_the_budget_hosts_read(tree: Path) -> None:
    async with serve(tree, "--set", f"limits.answer_chars={BUDGET}") as client:
        tools = (await client.list_tools()).tools
    assert {t.name: (t.meta or {}).get("anthropic/maxResultSizeChars") for t in tools} == {
        t.name: BUDGET for t in tools
    }


async def test_grep_pages_through_every_match_once_within_the_budget(tree: Path) -> None:
    """Following the notes' offset from the first answer to the last shows each match exactly once."""
    seen: list[str] = []
    async with serve(tree, "--set", f"limits.answer_chars={BUDGET}", structured=False) as client:
        offset: int | None = 0
        calls = 0
        while offset is not None:
            result = await client.call_tool("grep", {"pattern": r"def get_\d+_\d+", "offset": offset})
            text = text_of(result)
            calls += 1
            assert not result.is_error and len(text) <= BUDGET
            seen += [line for line in text.splitlines() if not line.startswith("[")]
            offset = _next_offset(text)
    assert calls > 1  # the budget, not max_results, cut the first answer
    assert len(seen) == len(set(seen)) == 40 * 12
    if shutil.which("rg"):
        rg = subprocess.run(["rg", "-n", r"def get_\d+_\d+", "pkg"], cwd=tree, capture_output=True, text=True)
        assert sorted(seen) == sorted(rg.stdout.splitlines())


async def test_a_minified_line_is_shortened_around_its_match(tree: Path) -> None:
    async with serve(tree, structured=False) as client:
        text = text_of(await client.call_tool("grep", {"pattern": "use strict"}))
    first = text.splitlines()[0]
    assert first.startswith("static/bundle.min.js:1:") and "'use strict'" in first
    assert len(first) < 400 and "chars …]" in first
    assert "long lines shortened around the match" in text


async def test_grep_with_wide_context_stays_within_the_budget_and_names_the_offset(tree: Path) -> None:
    async with serve(tree, "--set", f"limits.answer_chars={BUDGET}", structured=False) as client:
        text = text_of(await client.call_tool("grep", {"pattern": "return", "context": 50, "max_results": 100000}))
    assert len(text) <= BUDGET
    assert "size limit was reached" in text and "offset=" in text and "raise max_results" not in text


async def test_read_file_pages_a_long_file_and_a_list_shares_one_budget(tree: Path) -> None:
    async with serve(tree, "--set", f"limits.answer_chars={BUDGET}", structured=False) as client:
        lines: list[str] = []
        offset: int | None = 1
        while offset is not None:
            text = text_of(await client.call_tool("read_file", {"path": "long.txt", "offset": offset}))
            assert len(text) <= BUDGET
            lines += [line for line in text.splitlines() if "\t" in line]
            offset = _next_offset(text)
        many = text_of(await client.call_tool("read_file", {"path": [f"pkg/mod{i:02}.py" for i in range(40)]}))
    assert [int(line.split("\t")[0]) for line in lines] == list(range(1, 3001))
    assert len(many) <= BUDGET
    assert "files not read: this call's answer reached its size limit; the rest: read_file(path=[" in many
    assert '"pkg/mod39.py"]' in many


async def test_list_dir_pages_with_offset_within_the_budget(tree: Path) -> None:
    async with serve(tree, "--set", f"limits.answer_chars={BUDGET // 2}", structured=False) as client:
        seen: list[str] = []
        offset: int | None = 0
        while offset is not None:
            text = text_of(await client.call_tool("list_dir", {"glob": "**/*.py", "offset": offset}))
            assert len(text) <= BUDGET // 2
            seen += [line.strip().split()[0] for line in text.splitlines()[1:] if not line.startswith("[")]
            offset = _next_offset(text)
    assert sorted(seen) == [f"pkg/mod{i:02}.py" for i in range(40)]


async def test_a_batch_shares_one_budget(tree: Path) -> None:
    calls = [{"tool": "read_file", "arguments": {"path": "long.txt"}} for _ in range(4)]
    calls.append({"tool": "grep", "arguments": {"pattern": "use strict"}})
    async with serve(tree, "--set", f"limits.answer_chars={BUDGET * 2}", structured=False) as client:
        text = text_of(await client.call_tool("batch", {"calls": calls}))
    assert len(text) <= BUDGET * 2
    assert text.count("more follows: call read_file again with offset=") == 4
    assert "static/bundle.min.js:1:" in text


async def test_a_misspelled_argument_names_the_valid_one(tree: Path) -> None:
    async with serve(tree, structured=False) as client:
        grep = await client.call_tool("grep", {"pattern": "x", "max_result": 1})
        listing = await client.call_tool("list_dir", {"recursive": True})
        typed = await client.call_tool("grep", {"pattern": "x", "max_results": "many"})
        batch = await client.call_tool("batch", {"calls": [{"tool": "read_file", "arguments": {"pth": "long.txt"}}]})
        symbol = await client.call_tool("find_symbol", {"name_path_pattern": "f"})  # Serena's name for it
    assert symbol.is_error and "'name_path_pattern' (did you mean 'name'?)" in text_of(symbol)
    assert grep.is_error and "'max_result' (did you mean 'max_results'?)" in text_of(grep)
    assert listing.is_error and "'recursive' (did you mean 'depth'?)" in text_of(listing)
    assert typed.is_error and "max_results" in text_of(typed) and "'many'" in text_of(typed)
    assert "did you mean 'path'?" in text_of(batch)


async def test_answers_keep_their_structured_twin_in_step(tree: Path) -> None:
    """With structured output on, the cut answer's fields say the same as its text."""
    async with serve(tree, "--set", f"limits.answer_chars={BUDGET}") as client:
        result = await client.call_tool("grep", {"pattern": r"def get_"})
    data = result.structured_content
    assert data["size_limited"] and data["next_offset"] == len([x for x in data["lines"] if x["match"]])
    assert json.dumps(data)  # serializable
