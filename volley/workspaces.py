"""Several workspaces served at once: names, and client paths qualified by a workspace's name.

With one workspace nothing changes: paths are relative to its root. With several, a path starts
with a workspace's name (``api/src/app.py``), or is absolute inside one of the roots; results name
paths the same way, so what a tool returns can be passed back to another.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlparse

from pydantic import BaseModel

from volley.errors import InputError
from volley.workspace import Workspace

TOP = ""  # a call that names no workspace (no path, or "."), with several workspaces served

# Fields that hold workspace-relative paths in the tools' results; qualify() rewrites them.
PATH_FIELDS = frozenset({"path", "target", "edit_id"})  # an edit's id names its workspace, for undo_edit
PATH_LIST_FIELDS = frozenset({"files", "hidden_examples"})
DIFF_FIELDS = frozenset({"diff"})  # unified diffs: their ---/+++ headers name paths


class Workspaces:
    """The workspaces one server serves, each under a unique name (its directory's name)."""

    def __init__(self, workspaces: list[Workspace]) -> None:
        if not workspaces:
            raise InputError("no workspace to serve")
        self.by_name: dict[str, Workspace] = {}
        for ws in workspaces:
            if any(other.root == ws.root for other in self.by_name.values()):
                continue
            name, n = ws.root.name or "root", 1
            while name in self.by_name:
                n += 1
                name = f"{ws.root.name}-{n}"
            self.by_name[name] = ws
        if len(self.by_name) > 1:  # run ids are shared, so run_output finds a run from any workspace
            shared = self.first.runs
            for ws in self.by_name.values():
                ws.runs = shared

    @property
    def first(self) -> Workspace:
        return next(iter(self.by_name.values()))

    @property
    def several(self) -> bool:
        return len(self.by_name) > 1

    def __iter__(self) -> Iterator[Workspace]:
        return iter(self.by_name.values())

    def names(self) -> str:
        return ", ".join(self.by_name)

    def split(self, path: str) -> tuple[str, str]:
        """``(workspace name, path inside it)`` of a client's path; ``(TOP, ".")`` when it names none."""
        if os.path.isabs(path):
            for name, ws in self.by_name.items():
                root = str(ws.root)
                if path == root or path.startswith(root + os.sep):
                    return name, path
        clean = path.replace("\\", "/").lstrip("/")
        while clean.startswith("./"):
            clean = clean[2:]
        if clean in ("", "."):
            return TOP, "."
        head, _, rest = clean.partition("/")
        if head not in self.by_name:
            example = f"{next(iter(self.by_name))}/{clean}"
            raise InputError(
                f"{path!r} names no workspace: several are served ({self.names()}), so paths start with a "
                f"workspace's name, e.g. {example!r}"
            )
        return head, rest or "."

    def prefix(self, name: str) -> str:
        return f"{name}/" if self.several else ""


def qualify(result: BaseModel, prefix: str) -> BaseModel:
    """The result with every workspace-relative path in it prefixed by ``prefix`` (``name/``)."""
    if not prefix:
        return result
    updates: dict[str, Any] = {}
    for field in type(result).model_fields:
        value = getattr(result, field)
        if field in PATH_FIELDS and isinstance(value, str):
            updates[field] = prefix.rstrip("/") if value in ("", ".") else prefix + value
        elif isinstance(value, BaseModel):
            updates[field] = qualify(value, prefix)
        elif isinstance(value, list) and value and isinstance(value[0], BaseModel):
            updates[field] = [qualify(item, prefix) for item in value]
        elif field in PATH_LIST_FIELDS and isinstance(value, list):
            updates[field] = [prefix + item for item in value]
        elif field in DIFF_FIELDS and isinstance(value, str):
            header = re.compile(r"^(?:---|\+\+\+) [ab]/", flags=re.MULTILINE)
            updates[field] = header.sub(lambda m: m.group(0) + prefix, value)
    return result.model_copy(update=updates)


def merge(results: list[BaseModel]) -> BaseModel:
    """One result of the same type from several: lists joined, counts summed, flags or-ed, the rest the first's."""
    first = results[0]
    updates: dict[str, Any] = {}
    for field in type(first).model_fields:
        values = [getattr(r, field) for r in results]
        if isinstance(values[0], bool):
            updates[field] = any(values)
        elif isinstance(values[0], int) and field != "exit_code":
            updates[field] = sum(values)
        elif isinstance(values[0], list):
            updates[field] = [item for value in values for item in value]
        elif isinstance(values[0], dict):
            updates[field] = {key: sum(v.get(key, 0) for v in values) for key in {k for v in values for k in v}}
    return first.model_copy(update=updates)


def root_paths(uris: list[str]) -> list[str]:
    """Local directories named by MCP roots (``file://`` URIs); others are skipped."""
    paths = []
    for uri in uris:
        parsed = urlparse(uri)
        if parsed.scheme == "file" and parsed.netloc in ("", "localhost"):
            path = unquote(parsed.path)
            if os.path.isdir(path):
                paths.append(path)
    return paths
