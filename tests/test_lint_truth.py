"""run_linter tells the truth and changes nothing: a project's `fix = true` is overruled, a report too big
for the output cap is read whole or called unreadable, and the linter sees only what the read tools see."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SECRET, serve, text_of, write

pytestmark = pytest.mark.anyio
RUFF = str(Path(sys.executable).parent / "ruff")


def digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*.py")}


async def test_a_project_that_sets_fix_true_is_linted_not_fixed(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", '[tool.ruff]\nfix = true\n\n[tool.ruff.lint]\nextend-select = ["I"]\n')
    write(tmp_path, "pkg/mod.py", "import sys\nimport os\n\nprint(sys.argv)\n")
    before = digest(tmp_path)
    async with serve(tmp_path) as client:
        result = await client.call_tool("run_linter", {})
    data = result.structured_content
    assert digest(tmp_path) == before  # not a byte changed
    assert sorted(d["code"] for d in data["diagnostics"]) == ["F401", "I001"]
    assert "--no-fix" in data["runs"][0]["argv"] and data["runs"][0]["status"] == "findings"


async def test_a_report_over_the_output_cap_is_read_whole(tmp_path: Path) -> None:
    write(tmp_path, "many.py", "import os\n" * 12_000)  # ruff's JSON report: 9 MB, over the 8 MB output cap
    own = subprocess.run(
        [RUFF, "check", "--no-cache", "--output-format", "json", "."], cwd=tmp_path, capture_output=True
    )
    expected = len(json.loads(own.stdout))
    async with serve(tmp_path) as client:
        result = await client.call_tool("run_linter", {})
    data = result.structured_content
    assert expected > 12_000 and data["total"] == expected and data["runs"][0]["status"] == "findings"


async def test_a_cut_report_is_unreadable_never_no_diagnostics(tmp_path: Path) -> None:
    """A linter read from its output (mypy's text) whose output overflows the cap: not "0 diagnostics"."""
    line = 'm.py:{i}:1: error: Name "x" is not defined  [name-defined]'
    write(tmp_path, "mypy", f"for i in range(200_000):\n    print(f'{line}')\nraise SystemExit(1)\n")
    write(tmp_path, ".volley.toml", f'[lint]\ncommand = ["{sys.executable}", "mypy"]\n')
    async with serve(tmp_path) as client:
        result = await client.call_tool("run_linter", {})
    data = result.structured_content
    assert data["runs"][0]["status"] == "unreadable" and data["total"] == 0
    assert "INCOMPLETE: mypy unreadable" in text_of(result) and "bytes of output dropped" in text_of(result)
    assert "0 diagnostics: no diagnostics" not in text_of(result)


async def test_the_linter_sees_only_what_the_read_tools_see(tmp_path: Path) -> None:
    """A link out of the workspace and a denied file are neither linted, shown in run_output, nor fixed."""
    ws, out = tmp_path / "ws", tmp_path / "out"
    write(out, "ext.py", f"import os\nTOKEN = '{SECRET}'\n")
    write(ws, "secrets/creds.py", f"import os\nTOKEN = '{SECRET}'\n")
    write(ws, "app.py", "import os\n")
    write(ws, ".volley.toml", 'deny = ["secrets/"]\n')
    (ws / "ext.py").symlink_to(out / "ext.py")
    (ws / "lib").symlink_to(out, target_is_directory=True)
    before = {**digest(out), **{f"ws/{k}": v for k, v in digest(ws).items()}}
    async with serve(ws) as client:
        linted = await client.call_tool("run_linter", {})
        output = await client.call_tool("run_output", {"run_id": linted.structured_content["runs"][0]["run_id"]})
        fixed = await client.call_tool("fix_lint", {})
    assert [d["path"] for d in linted.structured_content["diagnostics"]] == ["app.py"]
    assert SECRET not in text_of(output) and "ext.py" not in text_of(output) and "creds" not in text_of(output)
    assert fixed.structured_content["changed"] == ["app.py"] and "changed 1 files: app.py" in text_of(fixed)
    after = {**digest(out), **{f"ws/{k}": v for k, v in digest(ws).items()}}
    assert {k for k in before if before[k] != after.get(k)} == {"ws/app.py"}


async def test_a_project_configured_for_flake8_or_pylint_gets_them_not_volleys_ruff(tmp_path: Path) -> None:
    """Its own linter with its own config (parso: flake8 excluding its deliberately broken fixtures), equal to
    that linter's own run; Volley's ruff with default rules is not run in its place."""
    flake, lint = tmp_path / "flake", tmp_path / "lint"
    write(flake, "setup.cfg", "[flake8]\nmax-line-length = 100\nexclude = fixtures\n")
    write(flake, "pkg/mod.py", "import os\n\nx = 1  # " + "a" * 100 + "\n")
    write(flake, "fixtures/broken.py", "import sys\n")
    write(lint, ".pylintrc", "[MESSAGES CONTROL]\ndisable = missing-docstring\n")
    write(lint, "mod.py", "import os\n\n\ndef f(a):\n    return undefined\n")
    bin_dir = Path(sys.executable).parent
    own_flake8 = subprocess.run([str(bin_dir / "flake8")], cwd=flake, capture_output=True, text=True).stdout
    own_pylint = subprocess.run(
        [str(bin_dir / "pylint"), "--output-format=json", "mod.py"], cwd=lint, capture_output=True, text=True
    ).stdout
    async with serve(flake) as client:
        flaked = (await client.call_tool("run_linter", {})).structured_content
    async with serve(lint) as client:
        linted = (await client.call_tool("run_linter", {})).structured_content
    assert [r["linter"] for r in flaked["runs"]] == ["flake8"] and [r["linter"] for r in linted["runs"]] == ["pylint"]
    expected = sorted(
        [*line.removeprefix("./").split(":")[0:3], line.split(" ")[1]] for line in own_flake8.splitlines()
    )
    got = sorted([d["path"], str(d["line"]), str(d["column"]), d["code"]] for d in flaked["diagnostics"])
    assert got == expected and len(got) == 2  # F401 and E501; nothing from fixtures/
    assert sorted((d["line"], d["code"]) for d in linted["diagnostics"]) == sorted(
        (d["line"], d["message-id"]) for d in json.loads(own_pylint)
    )


async def test_a_configured_linter_that_is_not_installed_is_said(tmp_path: Path) -> None:
    """A configured mypy or flake8 missing for the interpreter found was dropped without a word."""
    write(tmp_path, "setup.cfg", "[flake8]\nmax-line-length = 100\n\n[mypy]\nstrict = True\n")
    write(tmp_path, "mod.py", "x = 1\n")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / ".venv")], check=True)
    async with serve(tmp_path, env={"PATH": "/usr/bin:/bin"}) as client:
        result = await client.call_tool("run_linter", {})
    runs = {r["linter"]: r["status"] for r in result.structured_content["runs"]}
    assert runs == {"flake8": "not installed", "mypy": "not installed"}
    assert "configured for flake8 (setup.cfg [flake8]), but flake8 is not installed" in text_of(result)
    assert "INCOMPLETE" in text_of(result)
