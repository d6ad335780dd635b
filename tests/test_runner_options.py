"""Every option reaches each runner and linter in a form it accepts (issue 15: no crashing combinations)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import SERVER_ENV, serve, text_of, write
from volley.toolchains import Toolchain
from volley.tools.run_tests import _argv

pytestmark = pytest.mark.anyio


def _chain(name: str, argv: list[str]) -> Toolchain:
    return Toolchain(name, "test", "javascript", argv, "jest-json", "test")


@pytest.mark.parametrize(
    ("name", "argv", "expected"),
    [
        ("vitest", ["vitest", "run", "--reporter=json"], ["vitest", "run", "--reporter=json", "--bail=1", "-t", "k"]),
        ("jest", ["jest", "--json"], ["jest", "--json", "--bail", "-t", "k"]),
        ("go test", ["go", "test", "-json", "./..."], ["go", "test", "-json", "-failfast", "-run", "k", "./..."]),
        ("unittest", ["python", "-m", "unittest"], ["python", "-m", "unittest", "-f", "-k", "k"]),
    ],
)
def test_fail_fast_and_keyword_take_each_runners_own_form(name: str, argv: list[str], expected: list[str]) -> None:
    """vitest's --bail needs a number (a bare --bail was a crash); jest's takes none."""
    assert _argv(_chain(name, argv), [], "k", True, "/tmp/report.xml") == expected


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
