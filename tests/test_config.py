"""Workspace configuration: the shipped example, errors naming file and key, rules that take effect."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import SERVER_ENV, serve, text_of, write
from volley.config import Config, load_config
from volley.errors import ConfigError
from volley.workspace import Workspace

EXAMPLE = Path(__file__).parent.parent / "config" / "volley.toml"


def test_the_annotated_example_states_exactly_the_defaults() -> None:
    assert Config.model_validate(tomllib.loads(EXAMPLE.read_text())) == Config()


def test_unknown_keys_and_wrong_types_name_the_file_the_key_and_what_is_expected(tmp_path: Path) -> None:
    write(tmp_path, ".volley.toml", "ignroe = []\n[limits]\nread_max_lines = 'many'\ngrep_max = 3\n")
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path)
    message = str(err.value)
    assert str(tmp_path / ".volley.toml") in message
    expected = (
        "concurrency, deny, grep_index, ignore, limits, lint, projects, read_only, search_engine, "
        "structured_output, symbols_on_disk, test, trust_workspace_linters, watch_max_directories"
    )
    assert f"ignroe: unknown key (expected one of: {expected})" in message
    assert "limits.read_max_lines: Input should be a valid integer" in message
    assert "limits.grep_max: unknown key (expected one of: answer_chars, batch_max_calls" in message


def test_pyproject_tool_volley_is_read_when_there_is_no_volley_toml(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", "[project]\nname='x'\n[tool.volley.limits]\ngrep_max_results = 7\n")
    loaded = load_config(tmp_path)
    assert loaded.config.limits.grep_max_results == 7 and loaded.path == tmp_path / "pyproject.toml"
    write(tmp_path, "pyproject.toml", "[tool.volley]\nlimits = 3\n")
    with pytest.raises(ConfigError, match=r"tool\.volley\.limits"):
        load_config(tmp_path)


def test_broken_toml_is_a_config_error(tmp_path: Path) -> None:
    write(tmp_path, ".volley.toml", "limits = [\n")
    with pytest.raises(ConfigError, match="cannot read configuration"):
        load_config(tmp_path)


def test_config_ignore_and_deny_patterns_take_effect(tmp_path: Path) -> None:
    write(tmp_path, ".volley.toml", "ignore = ['*.gen.py']\ndeny = ['private/', '!.env.example']\n")
    write(tmp_path, ".gitignore", "!x.gen.py\n")
    write(tmp_path, "x.gen.py", "")
    write(tmp_path, "private/notes.md", "")
    write(tmp_path, ".env.example", "")
    ws = Workspace(tmp_path)
    decision = ws.ignored("x.gen.py", is_dir=False)
    assert decision is not None and decision.source == "workspace config `ignore`:1"  # config outranks .gitignore
    assert {e.rel for e in ws.walk(ws.resolve("."))} == {".volley.toml", ".gitignore"}  # no lifting from the file
    assert ws.config_refused and "!.env.example" in ws.config_refused[0]
    by_user = Workspace(tmp_path, flags={"deny": ["private/", "!.env.example"]})  # the user may
    assert {e.rel for e in by_user.walk(by_user.resolve("."))} == {".volley.toml", ".gitignore", ".env.example"}


def test_the_shipped_json_schema_is_the_models_schema() -> None:
    import json

    from volley.config_schema import schema

    shipped = json.loads((EXAMPLE.parent / "volley.schema.json").read_text())
    assert shipped == schema(), "regenerate it: python -m volley.config_schema > config/volley.schema.json"


def test_flags_outrank_environment_outranks_the_file_outranks_defaults(tmp_path: Path) -> None:
    write(tmp_path, ".volley.toml", "[limits]\ngrep_max_results = 7\nread_max_lines = 9\nlist_max_entries = 11\n")
    env = {
        "VOLLEY_LIMITS__READ_MAX_LINES": "90",
        "VOLLEY_LIMITS__LIST_MAX_ENTRIES": "110",
        "VOLLEY_TOKEN": "not-config",
    }
    loaded = load_config(tmp_path, flags={"limits": {"list_max_entries": 1100}}, env=env)
    limits = loaded.config.limits
    assert (limits.grep_max_results, limits.read_max_lines, limits.list_max_entries) == (7, 90, 1100)
    assert loaded.sources["limits.grep_max_results"] == str(tmp_path / ".volley.toml")
    assert loaded.sources["limits.read_max_lines"] == "$VOLLEY_LIMITS__READ_MAX_LINES"
    assert loaded.sources["limits.list_max_entries"] == "--set"
    assert loaded.sources["concurrency.reads"] == "default"


def test_a_bad_environment_value_names_the_variable_kind_and_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\$VOLLEY_CONCURRENCY__READS: Input should be a valid integer"):
        load_config(tmp_path, env={"VOLLEY_CONCURRENCY__READS": "many"})
    with pytest.raises(ConfigError, match=r"\$VOLLEY_LIMITS__TYPO: unknown key"):
        load_config(tmp_path, env={"VOLLEY_LIMITS__TYPO": "1"})


def test_volley_config_prints_each_value_and_where_it_came_from(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", "[tool.volley]\nignore = ['*.gen.py']\n")
    env = {**SERVER_ENV, "VOLLEY_CONCURRENCY__READS": "5"}
    argv = [sys.executable, "-m", "volley", "config", "-w", str(tmp_path), "--set", "limits.grep_max_results=3"]
    text = subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout
    lines = {line.split(" = ")[0]: line for line in text.splitlines() if " = " in line and not line.startswith("#")}
    assert lines["ignore"].endswith(f"# {tmp_path / 'pyproject.toml'}") and '["*.gen.py"]' in lines["ignore"]
    assert lines["concurrency.reads"].endswith("# $VOLLEY_CONCURRENCY__READS")
    assert lines["limits.grep_max_results"].endswith("# --set")
    assert lines["limits.read_max_lines"].endswith("# default")
    as_json = json.loads(subprocess.run([*argv, "--json"], env=env, capture_output=True, text=True, check=True).stdout)
    assert as_json["values"]["limits"]["grep_max_results"] == 3 and as_json["sources"]["concurrency.reads"]
    bad = subprocess.run([*argv[:-1], "limits=3"], env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and "command line (--set)" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.anyio
async def test_serve_applies_set_flags(tmp_path: Path) -> None:
    write(tmp_path, "a.py", "def f():\n    pass\n\n\ndef g():\n    pass\n")
    async with serve(tmp_path, "--set", "limits.grep_max_results=1") as client:
        result = await client.call_tool("grep", {"pattern": "def "})
    assert "a.py:1:def f():" in text_of(result) and "a.py:5" not in text_of(result)
    assert result.structured_content["truncated"] is True
