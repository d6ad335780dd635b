"""Workspace configuration: the shipped example, errors naming file and key, rules that take effect."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tests.conftest import write
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
    assert "ignroe: unknown key (expected one of: concurrency, deny, ignore, limits, lint, test)" in message
    assert "limits.read_max_lines: Input should be a valid integer" in message
    assert "limits.grep_max: unknown key (expected one of: batch_max_calls" in message


def test_pyproject_tool_volley_is_read_when_there_is_no_volley_toml(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", "[project]\nname='x'\n[tool.volley.limits]\ngrep_max_results = 7\n")
    config, source = load_config(tmp_path)
    assert config.limits.grep_max_results == 7 and source == tmp_path / "pyproject.toml"
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
    assert {e.rel for e in ws.walk(ws.resolve("."))} == {".volley.toml", ".gitignore", ".env.example"}


def test_the_shipped_json_schema_is_the_models_schema() -> None:
    import json

    from volley.config_schema import schema

    shipped = json.loads((EXAMPLE.parent / "volley.schema.json").read_text())
    assert shipped == schema(), "regenerate it: python -m volley.config_schema > config/volley.schema.json"
