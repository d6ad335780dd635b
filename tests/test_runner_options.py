"""Every option reaches each runner and linter in a form it accepts (issue 15: no crashing combinations)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import SERVER_ENV, serve, text_of, write
from volley.test_argv import launch
from volley.toolchains import Toolchain

pytestmark = pytest.mark.anyio


def _chain(name: str, argv: list[str]) -> Toolchain:
    return Toolchain(name, "test", "javascript", argv, "jest-json", "test")


@pytest.mark.parametrize(
    ("name", "argv", "expected"),
    [
        (
            "vitest",
            ["vitest", "run", "--reporter=json"],
            ["vitest", "run", "--reporter=json", "--outputFile={tmp}/report.json", "--bail=1", "-t", "k"],
        ),
        ("jest", ["jest", "--json"], ["jest", "--json", "--outputFile={tmp}/report.json", "--bail", "-t", "k"]),
        ("go test", ["go", "test", "-json", "./..."], ["go", "test", "-json", "-failfast", "-run", "k", "./..."]),
        ("unittest", ["python", "-m", "unittest"], ["python", "-m", "unittest", "-f", "-k", "k"]),
    ],
)
def test_fail_fast_and_keyword_take_each_runners_own_form(
    name: str, argv: list[str], expected: list[str], tmp_path: Path
) -> None:
    """vitest's --bail needs a number (a bare --bail was a crash); jest's takes none."""
    run = launch(_chain(name, argv), [], "k", True, str(tmp_path))
    assert (run.shown or run.argv) == [word.format(tmp=tmp_path) for word in expected]


@pytest.mark.skipif(shutil.which("mypy", path=SERVER_ENV["PATH"]) is None, reason="mypy is not installed")
async def test_mypy_with_no_files_in_its_config_checks_the_workspace(tmp_path: Path) -> None:
    """mypy with no target and no `files` setting answered "Missing target module": it now checks '.'."""
    write(tmp_path, "pyproject.toml", "[project]\nname = 'p'\nversion = '0'\n[tool.mypy]\nstrict = true\n")
    write(tmp_path, "m.py", "def f(x):\n    return x\n")
    async with serve(tmp_path) as client:
        everything = await client.call_tool("run_linter", {"linter": "mypy"})
        one = await client.call_tool("run_linter", {"linter": "mypy", "paths": ["m.py"]})
    for result in (everything, one):
        assert "m.py:1:1: error no-untyped-def" in text_of(result), text_of(result)


@pytest.mark.skipif(shutil.which("mypy", path=SERVER_ENV["PATH"]) is None, reason="mypy is not installed")
async def test_mypy_notes_that_explain_an_error_are_part_of_it(tmp_path: Path) -> None:
    """Each error's hint line was a diagnostic of its own (packaging: 508 findings where mypy reports 397);
    a note that stands alone, like reveal_type's, stays one."""
    write(tmp_path, "pyproject.toml", "[project]\nname = 'p'\nversion = '0'\n[tool.mypy]\nstrict = true\n")
    write(tmp_path, "m.py", "def f():\n    pass\n\n\nreveal_type(1)\n")
    async with serve(tmp_path) as client:
        data = (await client.call_tool("run_linter", {"linter": "mypy"})).structured_content
    found = {(d["line"], d["severity"]): d["message"] for d in data["diagnostics"]}
    assert data["total"] == 2 and set(found) == {(1, "error"), (5, "info")}, found
    assert 'Use "-> None"' in found[1, "error"] and "Revealed type" in found[5, "info"]


async def test_ruff_syntax_errors_are_errors_and_a_cut_list_keeps_them(tmp_path: Path) -> None:
    """Ruff rates nothing itself: its syntax errors were 'warning'. Cut at 200, errors come first whatever
    their path (django's 2 real errors were buried among 7,449 findings)."""
    write(
        tmp_path, "pyproject.toml", "[project]\nname = 'p'\nversion = '0'\n[tool.ruff.lint]\nselect = ['E711', 'F']\n"
    )
    write(tmp_path, "aaa.py", "".join(f"x{i} = None\nassert x{i} == None\n" for i in range(250)))  # E711
    write(tmp_path, "zzz.py", "def broken(:\n    pass\n")
    async with serve(tmp_path) as client:
        result = await client.call_tool("run_linter", {"linter": "ruff"})
    data = result.structured_content
    assert data["total"] == 252 and data["truncated"]  # ruff reports the broken def twice
    assert data["counts"]["error"] == 2 and data["counts"]["warning"] == 250
    errors = [d for d in data["diagnostics"] if d["path"] == "zzz.py"]
    assert errors and all(d["severity"] == "error" for d in errors)
    assert "the most severe first" in text_of(result) and "E711 250" in text_of(result)
