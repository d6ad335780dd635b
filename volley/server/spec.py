"""What a tool is to the server: its function, kind of work, annotations, stated limits and routing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from mcp_types import ToolAnnotations

from volley.concurrency import Work
from volley.workspace import Workspace


class Rendered(Protocol):
    def render(self) -> str: ...
    def model_dump(self, *, mode: str) -> dict[str, Any]: ...


@dataclass(frozen=True)
class ToolSpec:
    """How the server exposes one tool function."""

    fn: Callable[..., Awaitable[Rendered]]
    kind: Work
    annotations: ToolAnnotations
    limits: Callable[[Workspace], str] = lambda ws: ""
    in_batch: bool = True  # tools that change files stay out of batches, which run calls concurrently
    paths: str | None = None  # the argument naming the paths a call works on; it routes the call to a workspace
    merges: bool = False  # answers from several workspaces combine into one (merge()), so a call may span them
    item_paths: str | None = None  # an argument listing items whose ``path`` routes the call (edit's changes)

    @property
    def name(self) -> str:
        return self.fn.__name__

    @property
    def takes_progress(self) -> bool:
        return "progress" in self.fn.__code__.co_varnames[: self.fn.__code__.co_argcount]
