"""Workspaces that hold several projects: each found, each run with its own toolchain in its own folder,
and every path in the answers relative to the workspace."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from tests.conftest import serve, text_of, wait_for, wait_until_gone, write

pytestmark = pytest.mark.anyio

PYPROJECT = '[project]\nname = "{name}"\nversion = "0"\n\n[tool.pytest.ini_options]\npythonpath = ["src"]\n'
FAILING = (
    "from sub import twice\n\n\ndef test_twice():\n    assert twice(2) == 4\n\n\n"
    "def test_wrong():\n    assert twice(1) == 3\n"
)


def _python_project(root: Path, name: str) -> None:
    write(root, "pyproject.toml", PYPROJECT.format(name=name))
    write(root, "src/sub/__init__.py", "import os\n\n\ndef twice(x):\n    return 2 * x\n")  # F401: os unused
    write(root, "tests/test_sub.py", FAILING)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository whose Python project lives in pkg/, served at the repository's root."""
    _python_project(tmp_path / "pkg", "pkg")
    write(tmp_path, "README.md", "# a repository\n")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    return tmp_path


async def test_a_project_in_a_folder_is_found_linted_and_tested_at_the_root(repo: Path) -> None:
    async with serve(repo) as client:
        chains = await client.call_tool("list_toolchains", {})
        found = {(t["project"], t["name"]) for t in chains.structured_content["toolchains"]}
        assert {("pkg", "ruff"), ("pkg", "pytest")} <= found, text_of(chains)

        targeted = await client.call_tool("run_tests", {"targets": ["pkg/tests/test_sub.py"]})
        result = targeted.structured_content
        assert (result["passed"], result["failed"]) == (1, 1), text_of(targeted)
        failure = result["failures"][0]
        assert failure["path"] == "pkg/tests/test_sub.py" and failure["line"] == 9
        assert failure["test_id"] == "pkg/tests/test_sub.py::test_wrong"
        again = await client.call_tool("run_tests", {"targets": [failure["test_id"]]})  # its id runs it again
        assert again.structured_content["failed"] == 1 and again.structured_content["passed"] == 0

        whole = await client.call_tool("run_tests", {})  # no root project: the project's own suite
        assert (whole.structured_content["passed"], whole.structured_content["failed"]) == (1, 1)

        linted = await client.call_tool("run_linter", {})
        diagnostics = linted.structured_content["diagnostics"]
        assert [(d["path"], d["line"], d["code"]) for d in diagnostics] == [("pkg/src/sub/__init__.py", 1, "F401")]
        assert linted.structured_content["runs"][0]["project"] == "pkg"
        one_file = await client.call_tool("run_linter", {"paths": ["pkg/src/sub/__init__.py"]})
        assert one_file.structured_content["total"] == 1


async def test_targets_in_two_projects_run_at_once_and_answer_together(repo: Path) -> None:
    _python_project(repo / "other", "other")
    (repo / "other/tests/test_sub.py").write_text(FAILING.replace("== 3", "== 2"))  # passes
    async with serve(repo) as client:
        both = await client.call_tool("run_tests", {"targets": ["pkg/tests", "other/tests/test_sub.py"]})
        result = both.structured_content
        assert (result["passed"], result["failed"]) == (3, 1), text_of(both)
        assert result["status"] == "failed" and [f["path"] for f in result["failures"]] == ["pkg/tests/test_sub.py"]
        assert sorted(line.split(":")[0] for line in result["projects"]) == ["other", "pkg"]
        output = await client.call_tool("run_output", {"run_id": result["run_id"]})
        assert "===== pkg: pytest =====" in text_of(output) and "===== other: pytest =====" in text_of(output)

        everything = await client.call_tool("run_tests", {})  # every outermost project's suite
        assert (everything.structured_content["passed"], everything.structured_content["failed"]) == (3, 1)


async def test_an_edit_in_a_project_is_linted_by_that_projects_linter(repo: Path) -> None:
    change = {"path": "pkg/src/sub/__init__.py", "old": "return 2 * x", "new": "return 2 * y"}
    async with serve(repo) as client:
        done = await client.call_tool("edit", {"changes": [change], "on_failure": "revert"})
    lint = done.structured_content["lint"]
    assert [(d["path"], d["code"]) for d in lint["introduced"]] == [("pkg/src/sub/__init__.py", "F821")], text_of(done)
    assert lint["preexisting"] == 1 and done.structured_content["reverted"]


async def test_a_projects_own_config_names_its_runner_and_volley_config_says_where_it_came_from(repo: Path) -> None:
    where = "import os, sys; print('ran in', os.path.basename(os.getcwd()), sys.argv[1:])"
    write(repo, "web/package.json", '{"name": "web"}\n')
    write(repo, "web/.volley.toml", f'[test]\ncommand = ["python3", "-c", "{where}"]\n')
    write(repo, ".volley.toml", '[projects."pkg".test]\ncommand = ["python3", "-c", "print(\'pkg runner\')"]\n')
    async with serve(repo) as client:
        web = await client.call_tool("run_tests", {"targets": ["web"]})
        pkg = await client.call_tool("run_tests", {"targets": ["pkg/tests/test_sub.py"]})
    assert "ran in web []" in web.structured_content["output_head"], text_of(web)
    assert "pkg runner" in pkg.structured_content["output_head"], text_of(pkg)
    shown = subprocess.run(
        [sys.executable, "-m", "volley", "config", "--workspace", str(repo)], capture_output=True, text=True, check=True
    ).stdout
    assert f'#   pkg: [projects."pkg"] in {repo / ".volley.toml"}' in shown and "#   web: web/.volley.toml" in shown


async def test_loose_python_files_at_the_root_do_not_make_it_the_project(repo: Path) -> None:
    write(repo, "tools/release.py", "print('a script beside the project')\n")  # *.py one level down
    async with serve(repo) as client:
        whole = await client.call_tool("run_tests", {})
    assert (whole.structured_content["runner"], whole.structured_content["failed"]) == ("pytest", 1), text_of(whole)


OTHER_PYTHON = next(
    (p for p in ("python3.11", "python3.12") if shutil.which(p) and f"{sys.version_info[1]}" not in p[-2:]), None
)


@pytest.mark.skipif(OTHER_PYTHON is None, reason="no second Python to give a project its own interpreter")
async def test_each_project_runs_with_its_own_interpreter(repo: Path) -> None:
    write(repo, "legacy/setup.cfg", "[metadata]\nname = legacy\n")
    version = "import sys, unittest\n\n\nclass T(unittest.TestCase):\n    def test_version(self):\n"
    write(repo, "legacy/tests/test_version.py", version + "        self.fail(f'python {sys.version_info[:2]}')\n")
    subprocess.run([OTHER_PYTHON, "-m", "venv", "--without-pip", str(repo / "legacy/.venv")], check=True)
    async with serve(repo) as client:
        both = await client.call_tool("run_tests", {"targets": ["legacy/tests/test_version.py", "pkg/tests"]})
    failures = {f["path"]: f["message"] for f in both.structured_content["failures"]}
    other = tuple(int(n) for n in OTHER_PYTHON.removeprefix("python").split("."))
    assert f"python {other}" in failures["legacy/tests/test_version.py"], text_of(both)  # legacy's .venv
    assert "pkg/tests/test_sub.py" in failures  # pkg: the server's PATH, whose pytest is this Python's


async def test_fix_lint_fixes_a_projects_files_with_its_linter_one_project_per_call(repo: Path) -> None:
    write(repo, "pkg/src/sub/util.py", "import os\nimport sys\n\nprint(sys.argv)\n")
    _python_project(repo / "other", "other")
    async with serve(repo) as client:
        fixed = await client.call_tool("fix_lint", {"paths": ["pkg/src/sub/util.py"]})
        both = await client.call_tool("fix_lint", {"paths": ["pkg", "other"]})
    assert fixed.structured_content["changed"] == ["pkg/src/sub/util.py"], text_of(fixed)
    assert (repo / "pkg/src/sub/util.py").read_text() == "import sys\n\nprint(sys.argv)\n"
    assert both.is_error and "one project per call" in text_of(both) and "pkg, other" in text_of(both)


async def test_a_target_naming_a_projects_folder_runs_its_suite_as_the_project_configures_it(repo: Path) -> None:
    write(repo, "pkg/pyproject.toml", PYPROJECT.format(name="pkg") + 'testpaths = ["tests"]\n')
    write(repo, "pkg/examples/test_example.py", "def test_example():\n    assert False\n")  # outside testpaths
    async with serve(repo) as client:
        suite = await client.call_tool("run_tests", {"targets": ["pkg"]})
    assert (suite.structured_content["passed"], suite.structured_content["failed"]) == (1, 1), text_of(suite)


async def test_a_cancelled_call_kills_every_projects_run(repo: Path) -> None:
    _python_project(repo / "other", "other")
    hang = "import os, time\n\n\ndef test_hangs():\n    with open({pids!r}, 'a') as f:\n"
    hang += "        f.write(f'{{os.getpid()}}\\n')\n    time.sleep(600)\n"
    for project in ("pkg", "other"):
        write(repo, f"{project}/tests/test_hang.py", hang.format(pids=str(repo / f"{project}.pids")))
    targets = ["pkg/tests/test_hang.py", "other/tests/test_hang.py"]
    async with serve(repo) as client:
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.call_tool, "run_tests", {"targets": targets})
            await wait_for(repo / "pkg.pids")
            await wait_for(repo / "other.pids")  # both projects' runs are going, at once
            tg.cancel_scope.cancel()
        pids = [int(p) for name in ("pkg", "other") for p in (repo / f"{name}.pids").read_text().split()]
        await wait_until_gone(pids)
