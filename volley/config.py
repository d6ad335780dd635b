"""Per-workspace configuration: ``.volley.toml`` at the root, else ``[tool.volley]`` in pyproject.toml.

Every key is optional; what is absent takes the default below. Unknown keys and wrong types are
errors that name the file, the key and what was expected.
"""

from __future__ import annotations

import json
import logging
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from volley.errors import ConfigError

log = logging.getLogger(__name__)
CONFIG_FILE = ".volley.toml"
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
ENV_PREFIX = "VOLLEY_"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Limits(_Section):
    answer_chars: int = Field(
        40_000,
        ge=2000,
        description="characters one answer may take (a batch shares it); what is cut is named with the way "
        "to the rest. 40,000 stays under 25,000 tokens even for dense text, and under Claude Code's 50,000",
    )
    read_max_lines: int = Field(2000, ge=1, description="lines read_file returns per file by default")
    max_line_chars: int = Field(2000, ge=80, description="longer lines are cut with a marker")
    read_max_chars: int = Field(
        200_000, ge=1000, description="characters of file text per read_file call (answer_chars applies too)"
    )
    max_file_bytes: int = Field(512 * 1024 * 1024, ge=1, description="larger files are refused")
    grep_max_results: int = Field(200, ge=1, description="matches (or files) grep returns by default")
    grep_line_chars: int = Field(300, ge=80, description="longer lines in grep answers are shortened around the match")
    list_max_entries: int = Field(1000, ge=1, description="entries list_dir returns by default")
    batch_max_calls: int = Field(50, ge=1, le=1000, description="calls one batch may carry")
    output_head_chars: int = Field(4000, ge=200, description="raw tool output shown at each end of a run")


class Concurrency(_Section):
    reads: int = Field(32, ge=1, description="read_file and list_dir calls running at once")
    searches: int = Field(
        default_factory=lambda: min(16, max(4, CORES)),
        ge=1,
        description="grep calls running at once (default: one per core, 4 to 16)",
    )
    linters: int = Field(
        default_factory=lambda: min(8, max(2, CORES // 2)),
        ge=1,
        description="linter runs at once (default: one per two cores, 2 to 8; a linter may use several)",
    )
    tests: int = Field(1, ge=1, description="test runs at once (1 = serialized)")
    threads: int = Field(
        default_factory=lambda: min(16, max(4, CORES)),
        ge=1,
        description="worker threads for searches, linters and tests, and as many again for reads and listings, "
        "so a read never waits behind a long search (default: one per core, 4 to 16; each keeps its own memory)",
    )
    call_timeout_s: float = Field(120.0, gt=0, description="time limit of a read, grep or list call")


class Command(_Section):
    enabled: bool = True
    command: list[str] | None = Field(None, min_length=1, description="argv; replaces detection")
    timeout_s: float = Field(600.0, gt=0)
    env: dict[str, str] = Field(default_factory=dict)
    answer_within_s: float = Field(
        45.0,
        gt=0,
        description="[test]: a run still going after this long is answered with what finished so far and its "
        "run id (hosts end requests after 60 s); test_results waits for the rest",
    )
    record: Literal["auto", "always", "never"] = Field(
        "auto",
        description="[test]: pytest runs record which code each test ran, for run_tests(affected=true): on "
        "Python 3.12+ the functions each test ran (sys.monitoring), before it the lines (coverage.py, when the "
        "project's interpreter has it); nothing is installed. Recording slows a run (sys.monitoring: 1.0x to "
        "1.08x a plain run on the suites measured; coverage.py: 1.5x to 1.8x, 4.5x on pure-Python subtests), so "
        "auto records once affected=true has been asked in the workspace",
    )
    warm: bool = Field(
        True,
        description="[test]: after a `python -m pytest` run, a spare interpreter with pytest imported waits for "
        "the next one (about 0.1 s sooner each run); it imports none of the workspace's code, and runs as a cold "
        "start would when what it imported has changed since",
    )


class ProjectConfig(_Section):
    lint: Command | None = None
    test: Command | None = None


class Config(_Section):
    ignore: list[str] = Field(default_factory=list, description="extra ignore patterns (gitignore syntax)")
    deny: list[str] = Field(default_factory=list, description="extra deny patterns (gitignore syntax)")
    structured_output: bool = Field(
        False,
        description="also return typed results (structuredContent, an outputSchema per tool) for programs; "
        "read when the server starts",
    )
    search_engine: Literal["auto", "python-ripgrep", "rg"] = Field(
        "auto",
        description="grep's engine: python-ripgrep (in-process; Python 3.11-3.12), the rg binary (the ripgrep "
        "package's, any Python), or auto: the first that is installed",
    )
    trust_workspace_linters: bool = Field(
        False,
        description="your decision that the linters the workspace holds (.venv/bin/ruff, node_modules/.bin/eslint, "
        "mypy plugins, a [lint] command) change nothing: run_linter is then annotated read-only, so hosts may run "
        "it in parallel and approve it without asking; read when the server starts",
    )
    read_only: bool = Field(
        False,
        description="list no tool that writes files (edit, undo_edit, fix_lint); `volley serve --read-only` too; "
        "read when the server starts",
    )
    watch_max_directories: int = Field(
        65536,
        ge=0,
        description="inotify watches one workspace may take (one per visible directory, never more than a quarter "
        "of the user's limit); the directories beyond are proven by a stat at each call (0: never watch)",
    )
    symbols_on_disk: bool = Field(
        True,
        description="keep each file's symbols (outline, find_symbol, find_references, repo_map) on disk between "
        "sessions, in $VOLLEY_CACHE_DIR or $XDG_CACHE_HOME/volley, so a new server does not parse them again",
    )
    grep_index: Literal["auto", "eager", "off"] = Field(
        "auto",
        description="grep's content index (trigrams, tantivy; kept in the cache directory): auto builds it in the "
        "background for workspaces of 2,000 visible files or more and uses it once built; eager builds it for "
        "any workspace and the first grep waits for it; off: every grep reads every file",
    )
    limits: Limits = Limits()
    concurrency: Concurrency = Concurrency()
    lint: Command = Command(timeout_s=300.0)
    test: Command = Command()
    projects: dict[str, ProjectConfig] = Field(
        default_factory=dict,
        description='a project\'s own [lint] and [test] (its folder relative to the root): [projects."backend".test] '
        "command = [...]; a .volley.toml in the project's folder may say the same for it",
    )


@dataclass(frozen=True)
class Loaded:
    """The effective configuration, the file it came from (None: none) and each value's source."""

    config: Config
    path: Path | None
    sources: dict[str, str]
    refused: tuple[str, ...] = ()  # workspace settings ignored: they would have switched a protection off


def load_config(root: Path, flags: dict[str, Any] | None = None, env: Mapping[str, str] | None = None) -> Loaded:
    """Load the effective configuration of a workspace.

    Precedence, highest first: command-line ``flags`` (``--set key=value``), ``VOLLEY_*``
    environment variables, the workspace's config file, the defaults. Each layer is validated on its
    own, so an error names where the bad value came from.
    """
    layers: list[tuple[str, dict[str, Any]]] = []
    path, data, prefix = _config_file(root)
    refused: list[str] = []
    if path is not None:
        layers.append((str(path), _without_relaxations(_checked(data, str(path), prefix), str(path), refused)))
    from_env = env_overrides(os.environ if env is None else env)
    if from_env:
        layers.append(("environment", _checked(from_env, "environment", "", env_names=True)))
    if flags:
        layers.append(("--set", _checked(flags, "command line (--set)", "")))
    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for source, data in layers:
        _merge(merged, data)
        for key in flatten(data):
            sources[key] = _env_name(key) if source == "environment" else source
    config = Config.model_validate(merged)
    values = {key: sources.get(key, "default") for key in flatten(config.model_dump())}
    return Loaded(config, path, values, tuple(refused))


# What only the user may set (the command line, the environment a client starts the server with): a file in
# the workspace, which a cloned repository brings, may add deny rules but never relax one, nor declare its own
# executables trusted.
USER_ONLY = ("trust_workspace_linters",)


def _without_relaxations(data: dict[str, Any], where: str, refused: list[str]) -> dict[str, Any]:
    """The workspace file's settings less what would switch a protection off (each refusal logged)."""
    data = dict(data)
    for key in USER_ONLY:
        if key in data:
            refused.append(f"{key} (set in {where}: only --set or VOLLEY_{key.upper()} may set it)")
            del data[key]
    negations = [p for p in data.get("deny", []) if isinstance(p, str) and p.strip().startswith("!")]
    if negations:
        refused.append(f"deny {negations} (in {where}: a workspace may add deny rules, not lift them)")
        data["deny"] = [p for p in data["deny"] if p not in negations]
    for what in refused:
        log.warning("ignored from the workspace's config: %s", what)
    return data


def env_overrides(env: Mapping[str, str]) -> dict[str, Any]:
    """Config values from the environment: ``VOLLEY_LIMITS__GREP_MAX_RESULTS=50``, ``VOLLEY_IGNORE='["*.gen"]'``.

    A name with ``__`` or naming a top-level key is configuration; other ``VOLLEY_*`` names
    (``VOLLEY_TOKEN``, ``VOLLEY_LOG_LEVEL``) are not. Values are parsed as JSON when they parse.
    """
    found: dict[str, Any] = {}
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        key = name.removeprefix(ENV_PREFIX).lower()
        if "__" not in key and key not in Config.model_fields:
            continue
        assign(found, key.replace("__", "."), raw)
    return found


def assign(target: dict[str, Any], dotted: str, raw: str) -> None:
    """Set ``a.b.c`` in a nested dict to ``raw``, parsed as JSON when it parses."""
    try:
        value: Any = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    *parents, leaf = dotted.split(".")
    for part in parents:
        target = target.setdefault(part, {})
        if not isinstance(target, dict):
            raise ConfigError(f"{dotted}: {part} is not a section")
    target[leaf] = value


def _config_file(root: Path) -> tuple[Path | None, Any, str]:
    """The workspace's config file, its data and the key prefix errors name; (None, {}, "") if none."""
    own = root / CONFIG_FILE
    if own.is_file():
        return own, _read_toml(own), ""
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        data = _read_toml(pyproject).get("tool", {}).get("volley")
        if data is not None:
            return pyproject, data, "tool.volley."
    return None, {}, ""


def _env_name(dotted: str) -> str:
    return "$" + ENV_PREFIX + dotted.replace(".", "__").upper()


def _merge(into: dict[str, Any], data: dict[str, Any]) -> None:
    for key, value in data.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict) and key != "env":
            _merge(into[key], value)
        else:
            into[key] = value


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"limits.grep_max_results": 200, ...}``: a configuration's values by dotted key (``env`` tables are values)."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and key != "env":
            flat |= flatten(value, f"{prefix}{key}.")
        else:
            flat[prefix + key] = value
    return flat


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read configuration: {exc}") from None
    except RecursionError:  # (a hostile file nested 100,000 deep)
        raise ConfigError(f"{path}: cannot read configuration: nested deeper than Python can read") from None


def _checked(data: Any, where: str, prefix: str, env_names: bool = False) -> dict[str, Any]:
    """``data`` itself once it validates as a (partial) configuration; else a ConfigError naming ``where``."""
    try:
        Config.model_validate(data)
        return data
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = prefix + ".".join(str(part) for part in err["loc"])
            if env_names:
                key = _env_name(key)
            if err["type"] == "extra_forbidden":
                known = ", ".join(sorted(_section_of(err["loc"][:-1]).model_fields))
                problems.append(f"{key}: unknown key (expected one of: {known})")
            else:
                problems.append(f"{key}: {err['msg']} (got {err.get('input')!r})")
        raise ConfigError(f"{where}: invalid configuration:\n  " + "\n  ".join(problems)) from None


def _section_of(loc: tuple[int | str, ...]) -> type[BaseModel]:
    model: type[BaseModel] = Config
    for part in loc:
        annotation = model.model_fields[str(part)].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            break
        model = annotation
    return model
