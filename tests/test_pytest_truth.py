"""pytest runs read as pytest reports them: collection errors at their own line, with ids that can be passed
back; pytest-xdist's live lines counted; a project configured for pytest without it installed is told so."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import serve, text_of, write
from volley.parsers import read_unfinished

pytestmark = pytest.mark.anyio


async def test_collection_errors_are_located_at_the_error_and_their_ids_run_again(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", '[tool.pytest.ini_options]\npythonpath = ["."]\n')
    write(tmp_path, "pkg/__init__.py", "")
    write(tmp_path, "pkg/broken.py", "VALUE = 1\n\ndef f(:\n    pass\n")  # a SyntaxError in a source module
    write(tmp_path, "tests/test_src.py", "import pkg.broken\n\n\ndef test_a():\n    pass\n")
    write(tmp_path, "tests/test_syn.py", "def test_b():\n    pass\n\n\ndef test_c(:\n    pass\n")
    write(tmp_path, "tests/test_ok.py", "def test_ok():\n    pass\n")
    async with serve(tmp_path) as client:
        data = (await client.call_tool("run_tests", {})).structured_content
        again = (await client.call_tool("run_tests", {"targets": [data["failures"][0]["test_id"]]})).structured_content
    where = sorted((f["test_id"], f["path"], f["line"], f["kind"]) for f in data["failures"])
    assert where == [
        ("tests/test_src.py", "pkg/broken.py", 3, "error"),  # not the import line in the test
        ("tests/test_syn.py", "tests/test_syn.py", 5, "error"),  # a line, not just a path
    ]
    assert data["errors"] == 2 and again["errors"] == 1 and len(again["failures"]) == 1


XDIST_OUTPUT = """\
============================= test session starts ==============================
rootdir: /w
plugins: xdist-3.8.0
created: 2/2 workers
2 workers [6 items]

scheduling tests via LoadScheduling

tests/test_x.py::test_p[1]
tests/test_ok.py::test_ok
[gw1] [ 16%] PASSED tests/test_x.py::test_p[1]
[gw0] [ 33%] PASSED tests/test_ok.py::test_ok
tests/test_x.py::test_p[0]
[gw0] [ 50%] PASSED tests/test_x.py::test_p[0]
tests/test_x.py::test_s
[gw0] [ 66%] SKIPPED tests/test_x.py::test_s
[gw1] [ 83%] FAILED tests/test_x.py::test_p[2]
"""


def test_pytest_xdist_live_lines_are_counted() -> None:
    """A run cut short (its time limit, or answered while running) under `-n 2`: counts were all 0."""
    counts, _ = read_unfinished("pytest-junit", XDIST_OUTPUT, "/w")
    assert counts is not None and (counts.passed, counts.failed, counts.skipped) == (3, 1, 1)
    assert [f.test_id for f in counts.failures] == ["tests/test_x.py::test_p[2]"]


async def test_pytest_configured_but_not_installed_is_said_with_the_fix(tmp_path: Path) -> None:
    """It fell back to unittest and answered "NO TESTS: 0 passed"."""
    write(tmp_path, "pyproject.toml", '[tool.pytest.ini_options]\ntestpaths = ["tests"]\n')
    write(tmp_path, "tests/test_a.py", "def test_a():\n    pass\n")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / ".venv")], check=True)
    async with serve(tmp_path) as client:
        result = await client.call_tool("run_tests", {})
        listed = await client.call_tool("list_toolchains", {})
        unittest = (await client.call_tool("run_tests", {"runner": "unittest"})).structured_content
    assert result.is_error
    assert "configured for pytest (pyproject.toml [tool.pytest" in text_of(result)
    assert "-m pip install pytest" in text_of(result) and "runner='unittest'" in text_of(result)
    assert "MISSING" in text_of(listed) and unittest["runner"] == "unittest"
