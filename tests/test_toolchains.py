"""Toolchain detection and command construction for every language; real runs where installed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import serve, write
from volley.config import Command
from volley.parsers import read_lint, read_tests
from volley.toolchains import detect

pytestmark = pytest.mark.anyio


def executable(root: Path, rel: str) -> None:
    write(root, rel, "#!/bin/sh\n").chmod(0o755)


def test_the_workspaces_own_environment_wins_over_path(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", "[tool.mypy]\nstrict = true\n")
    for tool in ("python", "ruff", "mypy", "pytest"):
        executable(tmp_path, f".venv/bin/{tool}")
    chains = {c.name: c for c in detect(tmp_path, Command(), Command())}
    venv = str(tmp_path / ".venv" / "bin")
    assert chains["ruff"].argv[0] == f"{venv}/ruff" and "--no-cache" in chains["ruff"].argv
    assert chains["mypy"].argv[0] == f"{venv}/mypy"  # configured in pyproject: included
    assert chains["pytest"].argv[:3] == [f"{venv}/python", "-m", "pytest"]


def test_javascript_go_and_rust_are_detected_with_structured_output_flags(tmp_path: Path) -> None:
    write(tmp_path, "package.json", '{"scripts": {"test": "vitest"}}')
    executable(tmp_path, "node_modules/.bin/eslint")
    executable(tmp_path, "node_modules/.bin/vitest")
    write(tmp_path, "eslint.config.js", "export default [];\n")
    write(tmp_path, "go.mod", "module x\n")
    write(tmp_path, "Cargo.toml", "[package]\nname = 'x'\n")
    chains = {c.name: c for c in detect(tmp_path, Command(), Command())}
    assert chains["eslint"].argv[1:] == ["-f", "json", "."]
    assert chains["vitest"].argv[1:] == ["run", "--reporter=json"]
    if shutil.which("go"):
        assert chains["go test"].argv[1:] == ["test", "-json", "./..."]
    if shutil.which("cargo"):
        assert chains["cargo clippy"].argv[1:3] == ["clippy", "--message-format=json"]


def test_a_configured_command_replaces_detection(tmp_path: Path) -> None:
    write(tmp_path, "setup.py", "")
    chains = detect(tmp_path, Command(command=["make", "lint"]), Command(enabled=False))
    assert [(c.role, c.name, c.argv, c.parser) for c in chains] == [("lint", "make", ["make", "lint"], "generic")]


def test_parsers_read_eslint_go_clippy_jest_and_cargo_output() -> None:
    eslint = (
        '[{"filePath": "/w/a.js", "messages": '
        '[{"ruleId": "no-unused-vars", "severity": 2, "message": "x unused", "line": 3, "column": 7}]}]'
    )
    [d] = read_lint("eslint-json", eslint, "eslint", "/w")
    assert (d.path, d.line, d.column, d.code, d.severity) == ("a.js", 3, 7, "no-unused-vars", "error")
    [v] = read_lint("go-vet", "# x\nvet: ./main.go:4:2: unreachable code\n", "go vet", "/w")
    assert (v.path, v.line, v.message) == ("main.go", 4, "unreachable code")
    go = "\n".join(
        [
            '{"Action":"run","Package":"x","Test":"TestA"}',
            '{"Action":"output","Package":"x","Test":"TestA","Output":"    a_test.go:9: want 1\\n"}',
            '{"Action":"fail","Package":"x","Test":"TestA"}',
            '{"Action":"pass","Package":"x","Test":"TestB"}',
        ]
    )
    report = read_tests("go-test-json", go, None, "/w")
    assert report is not None and (report.passed, report.failed) == (1, 1)
    assert (report.failures[0].path, report.failures[0].line) == ("a_test.go", 9)
    cargo = (
        "running 2 tests\n---- t::b stdout ----\nthread panicked at src/lib.rs:7:5:\nboom\nfailures:\n"
        "test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured\n"
    )
    report = read_tests("cargo-test", cargo, None, "/w")
    assert report is not None and (report.passed, report.failed, report.failures[0].line) == (1, 1, 7)
    assert read_tests("jest-json", "garbage", None, "/w") is None  # garbage is not a crash


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm not installed")
async def test_an_npm_test_script_really_runs_with_its_targets(tmp_path: Path) -> None:
    """Any other test script runs as `npm test`; targets go after `--`, so npm hands them to the script."""
    write(tmp_path, "package.json", '{"name": "x", "scripts": {"test": "node run.js"}}')
    write(tmp_path, "run.js", "console.log('script got', JSON.stringify(process.argv.slice(2)));\n")
    write(tmp_path, "spec/one.js", "")
    async with serve(tmp_path) as client:
        result = await client.call_tool("run_tests", {"targets": ["spec/one.js"]})
    assert result.structured_content["runner"] == "npm test"
    assert result.structured_content["status"] == "passed", result.structured_content["output_head"]
    assert 'script got ["spec/one.js"]' in result.structured_content["output_head"]


def test_pdm_and_poetry_environments_outside_the_workspace_are_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pdm names its interpreter in .pdm-python; poetry keeps `<name>-<hash>-pyX.Y` in its virtualenvs path
    (the name checked against poetry 2 itself: README, run_tests on real projects)."""
    pdm_env, project = tmp_path / "envs" / "pdm", tmp_path / "pdm-project"
    executable(pdm_env, "bin/python")
    executable(pdm_env, "bin/pytest")
    write(project, "pyproject.toml", "[project]\nname = 'p'\n")
    write(project, ".pdm-python", f"{pdm_env}/bin/python\n")
    chains = {c.name: c for c in detect(project, Command(), Command())}
    assert chains["pytest"].argv[:3] == [f"{pdm_env}/bin/python", "-m", "pytest"]

    monkeypatch.setenv("POETRY_VIRTUALENVS_PATH", str(tmp_path / "poetry"))
    project = tmp_path / "poetry-project"
    write(project, "pyproject.toml", "[tool.poetry]\nname = 'My App'\n")
    write(project, "poetry.lock", "")
    for version in ("3.9", "3.12"):  # the newest Python's environment
        executable(tmp_path, f"poetry/my_app-{_poetry_hash(project)}-py{version}/bin/python")
        executable(tmp_path, f"poetry/my_app-{_poetry_hash(project)}-py{version}/bin/pytest")
    chains = {c.name: c for c in detect(project, Command(), Command())}
    assert chains["pytest"].argv[0] == f"{tmp_path}/poetry/my_app-{_poetry_hash(project)}-py3.12/bin/python"


def _poetry_hash(project: Path) -> str:
    import base64
    import hashlib

    return base64.urlsafe_b64encode(hashlib.sha256(str(project.resolve()).encode()).digest()).decode()[:8]
