"""Per-workspace configuration: ``.volley.toml`` at the root, else ``[tool.volley]`` in pyproject.toml.

Every key is optional; what is absent takes the default below. Unknown keys and wrong types are
errors that name the file, the key and what was expected.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from volley.errors import ConfigError

CONFIG_FILE = ".volley.toml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Limits(_Section):
    read_max_lines: int = Field(2000, ge=1, description="lines read_file returns per file by default")
    max_line_chars: int = Field(2000, ge=80, description="longer lines are cut with a marker")
    read_max_chars: int = Field(200_000, ge=1000, description="characters of file text per read_file call")
    max_file_bytes: int = Field(512 * 1024 * 1024, ge=1, description="larger files are refused")
    grep_max_results: int = Field(200, ge=1, description="matches (or files) grep returns by default")
    list_max_entries: int = Field(1000, ge=1, description="entries list_dir returns by default")
    batch_max_calls: int = Field(50, ge=1, le=1000, description="calls one batch may carry")
    output_head_chars: int = Field(4000, ge=200, description="raw tool output shown at each end of a run")


class Concurrency(_Section):
    reads: int = Field(32, ge=1, description="read_file and list_dir calls running at once")
    searches: int = Field(4, ge=1, description="grep calls running at once")
    linters: int = Field(2, ge=1, description="linter runs at once")
    tests: int = Field(1, ge=1, description="test runs at once (1 = serialized)")
    threads: int = Field(16, ge=1, description="worker threads for blocking file work")
    call_timeout_s: float = Field(120.0, gt=0, description="time limit of a read, grep or list call")


class Command(_Section):
    enabled: bool = True
    command: list[str] | None = Field(None, min_length=1, description="argv; replaces detection")
    timeout_s: float = Field(600.0, gt=0)
    env: dict[str, str] = Field(default_factory=dict)


class Config(_Section):
    ignore: list[str] = Field(default_factory=list, description="extra ignore patterns (gitignore syntax)")
    deny: list[str] = Field(default_factory=list, description="extra deny patterns (gitignore syntax)")
    limits: Limits = Limits()
    concurrency: Concurrency = Concurrency()
    lint: Command = Command(timeout_s=300.0)
    test: Command = Command()


def load_config(root: Path) -> tuple[Config, Path | None]:
    """Load the workspace's config; returns it and the file it came from (None: defaults)."""
    own = root / CONFIG_FILE
    if own.is_file():
        return _validate(_read_toml(own), own, ""), own
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        data = _read_toml(pyproject).get("tool", {}).get("volley")
        if data is not None:
            return _validate(data, pyproject, "tool.volley."), pyproject
    return Config(), None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read configuration: {exc}") from None


def _validate(data: Any, path: Path, prefix: str) -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = prefix + ".".join(str(part) for part in err["loc"])
            if err["type"] == "extra_forbidden":
                known = ", ".join(sorted(_section_of(err["loc"][:-1]).model_fields))
                problems.append(f"{key}: unknown key (expected one of: {known})")
            else:
                problems.append(f"{key}: {err['msg']} (got {err.get('input')!r})")
        raise ConfigError(f"{path}: invalid configuration:\n  " + "\n  ".join(problems)) from None


def _section_of(loc: tuple[int | str, ...]) -> type[BaseModel]:
    model: type[BaseModel] = Config
    for part in loc:
        annotation = model.model_fields[str(part)].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            break
        model = annotation
    return model
