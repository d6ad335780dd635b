"""The projects a workspace holds, each run with its own toolchain in its own directory.

A project is a directory with a project file (pyproject.toml, setup.py, setup.cfg, tox.ini, package.json,
go.mod, Cargo.toml), found in the file index (no walk of its own; ignored and denied files are not seen).
A path belongs to the nearest project above it that offers a tool of the role asked; the workspace's root
is the last resort. With no path, the root runs when it is a project itself (a project file, or a command
configured for the role), else every outermost project does.
Each project's toolchains are detected in its directory, with the workspace's environment as the fallback
(a `.venv` or `node_modules/.bin` at the root serves every project that has none of its own).
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
import tomllib
from dataclasses import dataclass

from pydantic import ValidationError

from volley.concurrency import blocking
from volley.config import CONFIG_FILE, Command
from volley.errors import ConfigError, VolleyError
from volley.exact_open import read_exact
from volley.index import visible_files
from volley.toolchains import Role, Toolchain, detect
from volley.workspace import Workspace

MARKERS = frozenset({"pyproject.toml", "setup.py", "setup.cfg", "tox.ini", "package.json", "go.mod", "Cargo.toml"})


@dataclass(frozen=True)
class Planned:
    """The toolchains one project runs, and the targets it runs them on (relative to the workspace)."""

    project: str  # the project's directory relative to the workspace root ("" for the root)
    chains: list[Toolchain]
    targets: list[str]


def project_dirs(ws: Workspace) -> list[str]:
    """Every directory of the workspace that holds a project file, the root ("") first when it does (blocking)."""
    found = {posixpath.dirname(f) for f in visible_files(ws, ws.resolve(".")) if posixpath.basename(f) in MARKERS}
    return sorted(found, key=lambda d: (d.count("/") if d else -1, d))


def chains_of(ws: Workspace, project: str) -> list[Toolchain]:
    """The toolchains a project offers, each running in the project's directory (blocking)."""
    if not project:
        return detect(ws.root, ws.config.lint, ws.config.test)
    lint, test, _ = commands_of(ws, project)
    return [dataclasses.replace(c, cwd=project) for c in detect(ws.root / project, lint, test, ws.root)]


def commands_of(ws: Workspace, project: str) -> tuple[Command, Command, str]:
    """A project's [lint] and [test] and where they come from: the workspace's [projects."<folder>"], else a
    .volley.toml in the project's folder, else the workspace's settings less its commands (those are the
    root's)."""
    lint, test = (c.model_copy(update={"command": None}) for c in (ws.config.lint, ws.config.test))
    own = ws.config.projects.get(project)
    if own is not None:
        where = f'[projects."{project}"] in {ws.config_path}'
        return own.lint or lint, own.test or test, where
    rel = f"{project}/{CONFIG_FILE}"
    if not os.path.isfile(ws.root / rel):
        return lint, test, "detected"
    try:
        data = tomllib.loads(read_exact(ws.resolve(rel).abs).decode())  # inside the sandbox, not denied
    except (VolleyError, OSError, ValueError) as exc:
        raise ConfigError(f"{rel}: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{rel}: nested deeper than Python can read") from None
    try:
        found = [
            Command.model_validate({**base.model_dump(), **data.get(role, {})}) if role in data else base
            for role, base in (("lint", lint), ("test", test))
        ]
    except (ValidationError, TypeError) as exc:
        raise ConfigError(f"{rel}: {exc}") from None
    return found[0], found[1], rel


def plan(ws: Workspace, role: Role, targets: list[str]) -> list[Planned]:
    """Which projects run, with which toolchains and targets (blocking). Empty: none offers the role."""
    dirs = project_dirs(ws)
    cache: dict[str, list[Toolchain]] = {}
    root_configured = getattr(ws.config, role).command is not None  # then the root runs every path ...

    def offered(project: str) -> list[Toolchain]:
        if project and root_configured and project not in ws.config.projects:  # ... but a project's own
            return []
        if project not in cache:
            cache[project] = [c for c in chains_of(ws, project) if c.role == role]
        return cache[project]

    if not targets:
        # the root is a project of its own when it has a project file or a configured command: then its suite is
        # the workspace's; else each outermost project's (the root's loose *.py files are not a project's suite)
        if ("" in dirs or root_configured or not any(dirs)) and offered(""):
            return [Planned("", offered(""), [])]
        outermost = [d for d in dirs if d and not any(_inside(d, other) for other in dirs if other and other != d)]
        plans = [Planned(d, offered(d), []) for d in outermost if offered(d)]
        return plans or ([Planned("", offered(""), [])] if offered("") else [])
    groups: dict[str, list[str]] = {}
    for target in targets:
        path = target.split("::", 1)[0]
        owner = next((d for d in reversed(dirs) if d and _inside(path, d) and offered(d)), "")
        groups.setdefault(owner, []).append(target)
    if "" in groups and not offered(""):
        return []
    return [Planned(d, offered(d), group) for d, group in groups.items()]


async def planned(ws: Workspace, role: Role, targets: list[str]) -> list[Planned]:
    return await blocking(plan, ws, role, targets)


def inner(project: str, target: str) -> str:
    """A workspace-relative target (perhaps with a ``::`` node) relative to the project's directory."""
    if not project:
        return target
    path, sep, node = target.partition("::")
    return (posixpath.relpath(path, project) if path != project else ".") + sep + node


def outer(project: str, path: str) -> str:
    """A project-relative path (or node id) relative to the workspace."""
    if not project or not path:
        return path
    return project if path in (".", "") else f"{project}/{path.removeprefix('./')}"


def _inside(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory + "/")
