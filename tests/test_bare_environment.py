"""Started as Claude Desktop starts a server: a bare environment (PATH=/usr/bin:/bin, no VIRTUAL_ENV).

The workspace's own environment is found by looking in the workspace, and Volley's own ruff from its
install, whatever PATH holds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import own_venv, write

BARE = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")}
pytestmark = pytest.mark.skipif(shutil.which("ruff", path=BARE["PATH"]) is not None, reason="ruff on the bare PATH")


def _volley(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`volley call` by absolute path, as a host's config starts it, in the bare environment."""
    volley = Path(sys.executable).parent / "volley"
    return subprocess.run(
        [str(volley), "call", "--workspace", str(ws), *args], env=BARE, capture_output=True, text=True, timeout=120
    )


def _project(root: Path) -> Path:
    write(root, "pyproject.toml", "[project]\nname = 'p'\nversion = '0'\n[tool.pytest.ini_options]\n")
    write(root, "src/p.py", "import os\n")
    write(root, "tests/test_p.py", "def test_one():\n    assert True\n\n\ndef test_two():\n    assert False\n")
    return root


def test_the_workspaces_venv_runs_the_linter_and_the_tests(tmp_path: Path) -> None:
    ws = _project(tmp_path / "proj")
    own_venv(ws)
    chains = _volley(ws, "list_toolchains")
    lint = _volley(ws, "run_linter")
    tests = _volley(ws, "run_tests")
    assert "the workspace's .venv/: .venv/bin/ruff" in chains.stdout, chains.stdout + chains.stderr
    assert f"{ws}/.venv/bin/python -m pytest" in chains.stdout
    assert "src/p.py:1:8: error F401" in lint.stdout, lint.stdout + lint.stderr
    assert "FAILED: 1 passed, 1 failed" in tests.stdout, tests.stdout + tests.stderr
    assert "(pytest, exit 1)" in tests.stdout


def test_with_no_venv_volleys_own_ruff_lints(tmp_path: Path) -> None:
    ws = _project(tmp_path / "proj")
    chains = _volley(ws, "list_toolchains")
    lint = _volley(ws, "run_linter")
    assert "ruff" in chains.stdout and "bundled with Volley" in chains.stdout, chains.stdout + chains.stderr
    assert "src/p.py:1:8: error F401" in lint.stdout, lint.stdout + lint.stderr


def test_a_venv_without_pytest_runs_unittest_with_its_own_python(tmp_path: Path) -> None:
    """`.venv/bin/python -m pytest` answered "No module named pytest": the venv's unittest runs instead."""
    ws = tmp_path / "proj"
    write(ws, "setup.py", "")
    write(ws, "test_u.py", "import unittest\n\nclass T(unittest.TestCase):\n    def test_a(self):\n        pass\n")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(ws / ".venv")], check=True)
    tests = _volley(ws, "run_tests")
    assert "PASSED: 1 passed" in tests.stdout and "(unittest, exit 0)" in tests.stdout, tests.stdout + tests.stderr
