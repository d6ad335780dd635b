"""run_linter and run_tests on fixture projects: real ruff and pytest runs, no process left behind."""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import pytest

from tests.conftest import serve, text_of, wait_for, wait_until_gone, write

pytestmark = pytest.mark.anyio

TESTS = """
import os, subprocess, sys, time
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


def test_passes():
    assert 1 + 1 == 2


def test_fails():
    assert [1, 2] == [1, 3], "lists differ"


@pytest.fixture
def broken():
    raise RuntimeError("fixture exploded")


def test_errors(broken):
    pass


@pytest.mark.skip(reason="not today")
def test_skipped():
    pass


def test_hangs():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    with open(os.path.join(HERE, "..", "pids.txt"), "w") as f:
        f.write(f"{os.getpid()} {child.pid}")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not os.path.exists(os.path.join(HERE, "..", "release")):
        time.sleep(0.05)


def test_spawns_grandchild():
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=False)


def test_starts_a_daemon():
    daemon = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True)
    with open(os.path.join(HERE, "..", "daemon.txt"), "w") as f:
        f.write(str(daemon.pid))
"""


@pytest.fixture
def pyproject(tmp_path: Path) -> Path:
    ws = tmp_path / "proj"
    write(ws, "pyproject.toml", "[project]\nname = 'fixture'\nversion = '0'\n[tool.ruff.lint]\nselect = ['F']\n")
    write(ws, "pkg/__init__.py", "")
    write(ws, "pkg/mod.py", "import os\n\n\ndef f():\n    return undefined_name\n")
    write(ws, "pkg/clean.py", "def g():\n    return 1\n")
    write(ws, "tests/test_sample.py", TESTS)
    return ws


async def test_toolchains_are_detected_and_explained(pyproject: Path) -> None:
    async with serve(pyproject) as client:
        result = await client.call_tool("list_toolchains", {})
    names = {(t["role"], t["name"]) for t in result.structured_content["toolchains"]}
    assert names == {("lint", "ruff"), ("test", "pytest"), ("test", "unittest")}  # runner="unittest" too
    assert "detected on PATH" in text_of(result)


async def test_run_linter_returns_ruffs_findings_as_sorted_diagnostics(pyproject: Path) -> None:
    async with serve(pyproject) as client:
        result = await client.call_tool("run_linter", {})
        one = await client.call_tool("run_linter", {"paths": ["pkg/clean.py"], "linter": "ruff"})
    data = result.structured_content
    found = [(d["path"], d["line"], d["code"], d["severity"]) for d in data["diagnostics"]]
    assert found == [("pkg/mod.py", 1, "F401", "error"), ("pkg/mod.py", 5, "F821", "error")]
    assert data["counts"]["error"] == 2 and data["runs"][0]["status"] == "findings"
    assert "pkg/mod.py:5:12: error F821 Undefined name `undefined_name`" in text_of(result)
    assert one.structured_content["total"] == 0 and one.structured_content["runs"][0]["status"] == "clean"
    assert not (pyproject / ".ruff_cache").exists()  # run_linter is read-only: no cache written


async def test_fix_lint_changes_files_and_reports_what_remains(pyproject: Path) -> None:
    async with serve(pyproject) as client:
        result = await client.call_tool("fix_lint", {"paths": ["pkg/mod.py"]})
    assert "import os" not in (pyproject / "pkg" / "mod.py").read_text()
    assert [d["code"] for d in result.structured_content["remaining"]] == ["F821"]


async def test_run_tests_reports_counts_and_failures_from_junit(pyproject: Path) -> None:
    async with serve(pyproject) as client:
        result = await client.call_tool("run_tests", {"keyword": "not hangs and not grandchild and not daemon"})
    data = result.structured_content
    assert (data["status"], data["passed"], data["failed"], data["errors"], data["skipped"]) == ("failed", 1, 1, 1, 1)
    assert data["structured"] and data["exit_code"] == 1
    failures = {f["test_id"]: f for f in data["failures"]}
    fail = failures["tests/test_sample.py::test_fails"]
    assert fail["kind"] == "failed" and fail["path"] == "tests/test_sample.py" and fail["line"] == 13  # the assert
    assert "lists differ" in fail["message"]
    assert "fixture exploded" in failures["tests/test_sample.py::test_errors"]["traceback"]
    assert "FAILED: 1 passed, 1 failed, 1 errors, 1 skipped" in text_of(result)
    async with serve(pyproject) as client:
        page = await client.call_tool("run_output", {"run_id": data["run_id"], "limit": 5})
    assert page.is_error  # a new server keeps no runs of the old one
    assert "no run" in text_of(page)


async def test_run_tests_targets_node_ids_and_no_tests_is_not_a_crash(pyproject: Path) -> None:
    async with serve(pyproject) as client:
        one = await client.call_tool("run_tests", {"targets": ["tests/test_sample.py::test_passes"]})
        none = await client.call_tool("run_tests", {"keyword": "nothing_matches_this"})
        page = await client.call_tool("run_output", {"run_id": one.structured_content["run_id"]})
    assert one.structured_content["status"] == "passed" and one.structured_content["passed"] == 1
    assert none.structured_content["status"] == "no tests" and none.structured_content["exit_code"] == 5
    assert "1 passed" in text_of(page)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"targets": ["--collect-only"]}, "starts with '-'"),
        ({"keyword": "-x"}, "starts with '-'"),
        ({"targets": ["../../etc"]}, "path escapes the workspace"),
        ({"targets": ["tests/\x00x.py"]}, "control character"),
        ({"runner": "jest"}, "no test toolchain named 'jest'"),
    ],
)
async def test_nothing_a_model_passes_becomes_an_option_or_escapes(pyproject: Path, args: dict, message: str) -> None:
    async with serve(pyproject) as client:
        result = await client.call_tool("run_tests", args)
    assert result.is_error and message in text_of(result)


async def test_a_run_over_its_time_limit_is_killed_with_its_children(pyproject: Path) -> None:
    """The limit must strike while the hanging test runs: on a loaded machine pytest may not reach it within
    3 s (the run is then killed before it started a child), so the limit doubles until it did."""
    async with serve(pyproject) as client:
        for limit in (3, 6, 12, 24):
            result = await client.call_tool("run_tests", {"keyword": "hangs", "timeout_s": limit})
            if (pyproject / "pids.txt").exists():
                break
    pids = [int(p) for p in (pyproject / "pids.txt").read_text().split()]
    assert result.structured_content["status"] == "timed out"
    assert result.structured_content["leftover_processes"] == 1  # the test's child; pytest itself is not one
    await wait_until_gone(pids)


@pytest.mark.slow
async def test_a_run_stopped_by_its_time_limit_keeps_what_finished_and_names_what_hung(pyproject: Path) -> None:
    """No report is written when the run is killed: counts come from pytest's live output (was 0 and 0)."""
    async with serve(pyproject) as client:
        result = await client.call_tool("run_tests", {"keyword": "passes or fails or hangs", "timeout_s": 15})
    data = result.structured_content
    assert (data["status"], data["passed"], data["failed"]) == ("timed out", 1, 1)
    assert data["running_when_stopped"] == "tests/test_sample.py::test_hangs"
    assert [f["test_id"] for f in data["failures"]] == ["tests/test_sample.py::test_fails"]
    assert "while running tests/test_sample.py::test_hangs" in text_of(result)
    await wait_until_gone([int(p) for p in (pyproject / "pids.txt").read_text().split()])


async def test_grandchildren_left_behind_are_killed_and_reported(pyproject: Path) -> None:
    async with serve(pyproject) as client:
        result = await client.call_tool("run_tests", {"keyword": "grandchild"})
    assert result.structured_content["status"] == "passed"
    assert result.structured_content["leftover_processes"] == 1
    assert "left 1 processes behind" in text_of(result)


async def test_a_descendant_in_a_session_of_its_own_is_killed_too(pyproject: Path) -> None:
    """setsid leaves the run's process group; the run's mark in its environment still finds it."""
    async with serve(pyproject) as client:
        result = await client.call_tool("run_tests", {"keyword": "daemon"})
    assert result.structured_content["status"] == "passed"
    assert result.structured_content["leftover_processes"] == 1
    await wait_until_gone([int((pyproject / "daemon.txt").read_text())])


async def test_a_cancelled_call_kills_the_run(pyproject: Path) -> None:
    async with serve(pyproject) as client:
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.call_tool, "run_tests", {"keyword": "hangs"})
            await wait_for(pyproject / "pids.txt")
            tg.cancel_scope.cancel()
        pids = [int(p) for p in (pyproject / "pids.txt").read_text().split()]
        await wait_until_gone(pids)
        after = await client.call_tool("run_tests", {"keyword": "passes"})  # the server is still healthy
    assert after.structured_content["status"] == "passed"


async def test_a_cancelled_batch_cancels_its_members_and_kills_their_runs(pyproject: Path) -> None:
    calls = [
        {"tool": "run_tests", "arguments": {"keyword": "hangs"}},
        {"tool": "read_file", "arguments": {"path": "pyproject.toml"}},
    ]
    async with serve(pyproject) as client:
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.call_tool, "batch", {"calls": calls})
            await wait_for(pyproject / "pids.txt")
            tg.cancel_scope.cancel()
        pids = [int(p) for p in (pyproject / "pids.txt").read_text().split()]
        await wait_until_gone(pids)
        after = await client.call_tool("batch", {"calls": [{"tool": "run_tests", "arguments": {"keyword": "passes"}}]})
    assert after.structured_content["succeeded"] == 1, after.content


async def test_server_shutdown_kills_a_run_in_progress(pyproject: Path) -> None:
    async with serve(pyproject) as client, anyio.create_task_group() as tg:
        tg.start_soon(client.call_tool, "run_tests", {"keyword": "hangs"})
        await wait_for(pyproject / "pids.txt")
        tg.cancel_scope.cancel()  # and the client closes the server's stdin on the way out
    pids = [int(p) for p in (pyproject / "pids.txt").read_text().split()]
    await wait_until_gone(pids)


async def test_progress_is_reported_to_a_client_that_asks(pyproject: Path) -> None:
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async with serve(pyproject) as client:
        result = await client.call_tool("run_tests", {"keyword": "passes"}, progress_callback=on_progress)
    assert result.structured_content["status"] == "passed"
    assert seen[-1][:2] == (100.0, 100.0) and seen[-1][2].startswith("100% of tests done")


@pytest.mark.parametrize("runner", ["pytest", "unittest"])
async def test_progress_keeps_one_unit_for_the_whole_run_and_always_increases(tmp_path: Path, runner: str) -> None:
    """pytest: percent of tests done from the first notification to the last; others: seconds, no total."""
    write(tmp_path, "pyproject.toml", "[project]\nname='p'\nversion='0'\n")
    write(
        tmp_path,
        "test_a.py",
        "import time, unittest\n\nclass T(unittest.TestCase):\n    def test_slow(self):\n"
        "        time.sleep(2.5)  # longer than a progress tick\n\n    def test_fast(self):\n        pass\n",
    )
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async with serve(tmp_path) as client:
        result = await client.call_tool("run_tests", {"runner": runner}, progress_callback=on_progress)
    assert result.structured_content["passed"] == 2
    assert len(seen) >= 2
    assert {total for _, total, _ in seen} == ({100.0} if runner == "pytest" else {None})
    values = [value for value, _, _ in seen]
    assert values == sorted(values) and len(set(values)) == len(values)
    assert all(message for _, _, message in seen)


async def test_a_linter_that_crashes_or_prints_garbage_gets_a_result_that_says_so(tmp_path: Path) -> None:
    write(
        tmp_path, ".volley.toml", "[lint]\ncommand = ['python3', '-c', 'import sys; print(\"garbage\"); sys.exit(3)']\n"
    )
    async with serve(tmp_path) as client:
        result = await client.call_tool("run_linter", {})
    run = result.structured_content["runs"][0]
    assert run["status"] == "unreadable" and run["exit_code"] == 3 and "garbage" in run["output_head"]


async def test_a_missing_toolchain_says_what_was_looked_for_and_how_to_configure(tmp_path: Path) -> None:
    write(tmp_path, "README.md", "nothing to run here\n")
    async with serve(tmp_path) as client:
        result = await client.call_tool("run_tests", {})
    assert result.is_error and "no test runner found" in text_of(result) and "[test]" in text_of(result)


def test_nothing_left_running_from_this_module() -> None:
    assert os.path.exists("/proc")  # the pid checks above read /proc


@pytest.mark.slow
async def test_a_run_longer_than_the_clients_patience_still_delivers_its_result(tmp_path: Path) -> None:
    """A client that ends every request after 4 s (and no reset on progress) gets a 6-second suite's result:
    run_tests answers by answer_within_s with what finished and the run's id; test_results waits for the rest."""
    write(tmp_path, "pyproject.toml", "[project]\nname = 'p'\nversion = '0'\n")
    body = "import time\n\n\ndef test_quick():\n    pass\n\n\ndef test_slow():\n    time.sleep(6)\n\n\n"
    write(tmp_path, "tests/test_long.py", body + "def test_fails():\n    assert False\n")
    answers = []
    async with serve(tmp_path, "--set", "test.answer_within_s=2") as client:
        result = await client.call_tool("run_tests", {}, read_timeout_seconds=4)
        first_text = text_of(result)
        answers.append(result.structured_content)
        while answers[-1]["status"] == "running":
            job = answers[-1]["job_id"]
            more = await client.call_tool("test_results", {"run_id": job, "wait_s": 2}, read_timeout_seconds=4)
            answers.append(more.structured_content)
    first, last = answers[0], answers[-1]
    assert first["status"] == "running" and f"call test_results(run_id={first['job_id']!r})" in first_text
    assert first["passed"] == 1 and first_text.startswith("RUNNING: 1 passed, 0 failed")
    assert first["running_when_stopped"] == "tests/test_long.py::test_slow"
    assert len(answers) >= 2
    assert (last["status"], last["passed"], last["failed"]) == ("failed", 2, 1)
    assert [f["test_id"] for f in last["failures"]] == ["tests/test_long.py::test_fails"]


async def test_when_pytest_finds_no_test_the_answer_names_what_unittest_would_run(tmp_path: Path) -> None:
    """Tests named test*.py but not test_*.py (unittest's discovery, not pytest's naming): pytest's "NO TESTS" alone
    read as a project without tests."""
    write(tmp_path, "pyproject.toml", "[project]\nname='p'\nversion='0'\n")
    case = "import unittest\n\n\nclass T(unittest.TestCase):\n    def test_one(self):\n        pass\n"
    write(tmp_path, "tests/testcalc.py", case)
    write(tmp_path, "tests/__init__.py", "")
    async with serve(tmp_path) as client:
        found = await client.call_tool("run_tests", {})
        assert found.structured_content["status"] == "no tests", text_of(found)
        hint = "unittest's discovery also reads test*.py files, which pytest leaves out: tests/testcalc.py"
        assert hint + " (runner='unittest')" in text_of(found), text_of(found)
        ran = await client.call_tool("run_tests", {"runner": "unittest"})
        assert ran.structured_content["passed"] == 1 and ran.structured_content["hint"] is None, text_of(ran)
        (tmp_path / "tests/testcalc.py").rename(tmp_path / "tests/test_calc.py")
        write(tmp_path, "tests/test_calc.py", case.replace("test_one", "helper"))  # pytest's naming, no test
        none = await client.call_tool("run_tests", {})
        assert none.structured_content["status"] == "no tests" and none.structured_content["hint"] is None
