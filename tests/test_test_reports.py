"""run_tests reports what the runner itself reports, with locations a model can open (issue 15)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import serve, text_of, write

pytestmark = pytest.mark.anyio

TESTS = """\
import pytest
from helper import check


def test_ok():
    pass


def test_fails():
    y = 1
    assert y == 2


def test_helper():
    check(1)


@pytest.mark.xfail(reason="known")
def test_xfails():
    assert False


@pytest.mark.xfail(reason="known")
def test_xpasses():
    pass


@pytest.mark.skip(reason="no")
def test_skipped():
    pass
"""


@pytest.fixture
def subfolder_project(tmp_path: Path) -> Path:
    """A workspace whose Python project (and pytest rootdir) is the subfolder pkg/."""
    write(tmp_path, "pyproject.toml", "[project]\nname = 'outer'\nversion = '0'\n")
    write(tmp_path, "pkg/pytest.ini", "[pytest]\n")
    write(tmp_path, "pkg/tests/helper.py", "def check(x):\n    assert x == 2, 'x is not two'\n")
    write(tmp_path, "pkg/tests/test_x.py", TESTS)
    return tmp_path


async def test_paths_are_relative_to_the_workspace_and_lines_are_where_it_failed(subfolder_project: Path) -> None:
    async with serve(subfolder_project) as client:
        result = await client.call_tool("run_tests", {"targets": ["pkg/tests"]})
        data = result.structured_content
        again = await client.call_tool("run_tests", {"targets": [f["test_id"] for f in data["failures"]]})
    where = {f["test_id"]: (f["path"], f["line"]) for f in data["failures"]}
    assert where == {
        "pkg/tests/test_x.py::test_fails": ("pkg/tests/test_x.py", 11),  # the assert, not the def
        "pkg/tests/test_x.py::test_helper": ("pkg/tests/helper.py", 2),  # the deepest frame in the workspace
    }
    lines = (subfolder_project / "pkg/tests/test_x.py").read_text().splitlines()
    assert lines[11 - 1].strip() == "assert y == 2"
    assert again.structured_content["failed"] == 2  # the ids go back in as targets


async def test_counts_are_pytests_own_xfail_xpass_and_deselected_included(subfolder_project: Path) -> None:
    async with serve(subfolder_project) as client:
        every = await client.call_tool("run_tests", {"targets": ["pkg/tests"]})
        some = await client.call_tool("run_tests", {"targets": ["pkg/tests"], "keyword": "ok or helper"})
    counts = {k: every.structured_content[k] for k in ("passed", "failed", "skipped", "xfailed", "xpassed")}
    assert counts == {"passed": 1, "failed": 2, "skipped": 1, "xfailed": 1, "xpassed": 1}
    assert "1 skipped, 1 xfailed, 1 xpassed" in text_of(every)
    chosen = some.structured_content
    assert (chosen["passed"], chosen["failed"], chosen["skipped"], chosen["deselected"]) == (1, 1, 0, 4)


async def test_pytest_that_cannot_start_is_a_crash_not_a_phantom_failure(tmp_path: Path) -> None:
    write(tmp_path, "pytest.ini", "[pytest]\naddopts = -p no_such_plugin_anywhere\n")
    write(tmp_path, "test_a.py", "def test_a():\n    pass\n")
    async with serve(tmp_path) as client:
        result = await client.call_tool("run_tests", {})
    data = result.structured_content
    assert data["status"] == "crashed" and data["failures"] == [] and data["failed"] == 0
    assert "no_such_plugin_anywhere" in text_of(result)


UNITTESTS = """\
import unittest


class T(unittest.TestCase):
    def test_ok(self):
        pass

    def test_diff(self):
        self.assertEqual("a\\nb\\nc\\n", "a\\nB\\nc\\n")

    def test_err(self):
        raise ValueError("boom")

    @unittest.expectedFailure
    def test_xf(self):
        self.assertTrue(False)
"""


async def test_unittest_failures_are_located_in_the_workspace_once_each(tmp_path: Path) -> None:
    write(tmp_path, "setup.py", "")
    write(tmp_path, "pkg/__init__.py", "")
    write(tmp_path, "pkg/test_u.py", UNITTESTS)
    async with serve(tmp_path) as client:
        result = await client.call_tool("run_tests", {"runner": "unittest"})
        data = result.structured_content
        again = await client.call_tool("run_tests", {"runner": "unittest", "targets": ["pkg.test_u.T.test_diff"]})
    assert (data["passed"], data["failed"], data["errors"], data["skipped"], data["xfailed"]) == (1, 1, 1, 0, 1)
    found = {f["test_id"]: (f["path"], f["line"], f["message"]) for f in data["failures"]}
    assert found == {
        "pkg.test_u.T.test_diff": ("pkg/test_u.py", 9, "AssertionError: 'a\\nb\\nc\\n' != 'a\\nB\\nc\\n'"),
        "pkg.test_u.T.test_err": ("pkg/test_u.py", 12, "ValueError: boom"),
    }
    assert text_of(result).count("Traceback (most recent call last)") == 2  # not once more in raw output
    assert (again.structured_content["failed"], again.structured_content["passed"]) == (1, 0)


async def test_the_projects_own_runner_is_chosen_and_any_runner_can_be_named(tmp_path: Path) -> None:
    """tox.ini runs `python -m unittest` (whose load_tests may add doctests pytest would skip): unittest
    is chosen though pytest is installed; runner="pytest" still runs pytest."""
    write(tmp_path, "setup.py", "")
    write(tmp_path, "tox.ini", "[testenv]\ncommands = {envpython} -m unittest -v {posargs}\n")
    write(tmp_path, "tests/__init__.py", "")
    write(tmp_path, "tests/test_u.py", UNITTESTS)
    async with serve(tmp_path) as client:
        chosen = await client.call_tool("run_tests", {})
        named = await client.call_tool("run_tests", {"runner": "pytest"})
    assert chosen.structured_content["runner"] == "unittest"
    assert named.structured_content["runner"] == "pytest"


async def test_subtests_are_counted_as_what_they_are(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", "[project]\nname = 'p'\nversion = '0'\n")
    subtests = "    def test_each(self):\n        for i in range(3):\n            with self.subTest(i=i):\n"
    head = "import unittest\n\n\nclass S(unittest.TestCase):\n"
    write(tmp_path, "test_s.py", head + subtests + "                pass\n")
    async with serve(tmp_path) as client:
        result = await client.call_tool("run_tests", {"runner": "pytest"})
    data = result.structured_content
    assert (data["passed"], data["subtests_passed"]) == (1, 3)
    assert "1 passed, 0 failed, 0 errors, 0 skipped, 3 subtests passed" in text_of(result)


def test_a_report_nested_deeper_than_python_reads_is_unreadable_not_a_crash() -> None:
    """json raises RecursionError on 100,000 nested arrays: the run's report is unreadable (never "no
    findings"), as any report that does not parse."""
    from volley import parsers
    from volley.parsers import read_lint

    deep = '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}"
    assert parsers.read_tests("jest-json", "", deep, "/x") is None
    assert read_lint("clippy", deep + "\n", "cargo", "/x") is None
