"""Run outputs live only as long as their server: nothing is left in the temporary directory, however it exits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SERVER_ENV, write
from tests.test_stdio import INIT, INITIALIZED, _call


@pytest.fixture
def project(tmp_path: Path) -> Path:
    ws = tmp_path / "proj"
    write(ws, "pyproject.toml", "[project]\nname = 'p'\nversion = '0'\n[tool.pytest.ini_options]\n")
    write(ws, "tests/test_one.py", "def test_one():\n    assert True\n")
    return ws


@pytest.fixture
def tmpdir_env(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    temp = tmp_path / "temp"
    temp.mkdir()
    return temp, {**SERVER_ENV, "TMPDIR": str(temp)}


def _runs_dirs(temp: Path) -> list[str]:
    return sorted(name for name in os.listdir(temp) if name.startswith("volley-runs-"))


def _serve(ws: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "volley", "serve", "--workspace", str(ws)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def _run_tests(server: subprocess.Popen[str]) -> None:
    """Send the handshake and a run_tests call; return once it is answered with a run id."""
    assert server.stdin is not None and server.stdout is not None
    server.stdin.write(INIT + INITIALIZED + _call(2, "run_tests", {}))
    server.stdin.flush()
    answers = {}
    while 2 not in answers:
        message = json.loads(server.stdout.readline())
        answers[message.get("id")] = message
    assert "run_output(run_id='run-1')" in answers[2]["result"]["content"][0]["text"]


def test_run_outputs_are_removed_when_the_client_closes_stdin(project: Path, tmpdir_env) -> None:
    temp, env = tmpdir_env
    server = _serve(project, env)
    _run_tests(server)
    assert len(_runs_dirs(temp)) == 1
    server.stdin.close()  # type: ignore[union-attr]
    assert server.wait(timeout=60) == 0
    assert _runs_dirs(temp) == []


def test_run_outputs_are_removed_when_the_server_is_terminated(project: Path, tmpdir_env) -> None:
    temp, env = tmpdir_env
    server = _serve(project, env)
    try:
        _run_tests(server)
        assert len(_runs_dirs(temp)) == 1
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    finally:
        server.stdin.close()  # type: ignore[union-attr]
    assert _runs_dirs(temp) == []


def test_a_dead_servers_run_outputs_are_removed_by_the_next_and_a_live_ones_kept(project: Path, tmpdir_env) -> None:
    temp, env = tmpdir_env
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead, live = temp / f"volley-runs-{gone.pid}-abc", temp / f"volley-runs-{os.getpid()}-def"
    for directory in (dead, live):
        write(directory, "run-1", "old output\n")
    server = _serve(project, env)
    try:
        _run_tests(server)
        assert not dead.exists()
        assert live.exists() and len(_runs_dirs(temp)) == 2
    finally:
        server.stdin.close()  # type: ignore[union-attr]
        server.wait(timeout=60)
    assert _runs_dirs(temp) == [live.name]


def test_volley_call_offers_no_run_id_and_leaves_nothing(project: Path, tmpdir_env) -> None:
    """`volley call` exits with its answer, so it must not offer a run_output id that nothing could page."""
    temp, env = tmpdir_env
    done = subprocess.run(
        [sys.executable, "-m", "volley", "call", "--workspace", str(project), "run_tests"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "PASSED: 1 passed" in done.stdout
    assert "run_output" not in done.stdout
    assert _runs_dirs(temp) == []
