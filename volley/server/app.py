"""Builds the MCPServer: each tool adapted from a plain async function, under the scheduler."""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent, ToolAnnotations

from volley import __version__
from volley.concurrency import Scheduler, Work
from volley.errors import VolleyError
from volley.watcher import watch
from volley.workspace import Workspace

log = logging.getLogger(__name__)

INSTRUCTIONS = """\
Volley gives fast, parallel, sandboxed access to one workspace. Paths are relative to its root.
Calls are independent and run concurrently: when you need several files or searches, issue the
calls together in one turn, or put them in one `batch` call. Files hidden by .gitignore/.ignore are
left out of listings and searches unless include_ignored is set; secrets (.env, keys) are never
shown."""


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

    @property
    def name(self) -> str:
        return self.fn.__name__

    @property
    def takes_progress(self) -> bool:
        return "progress" in self.fn.__code__.co_varnames[: self.fn.__code__.co_argcount]


@dataclass
class Runtime:
    """What the tools share while the server runs; the scheduler is made by the lifespan."""

    workspace: Workspace
    scheduler: Scheduler | None = None
    specs: dict[str, ToolSpec] = field(default_factory=dict)

    async def call(self, spec: ToolSpec, arguments: dict[str, Any], ctx: Context | None = None) -> CallToolResult:
        """Run one tool call under the scheduler; a VolleyError becomes a tool error."""
        if self.scheduler is None:
            self.scheduler = Scheduler(self.workspace.config.concurrency)
        ws = self.workspace
        timeout = ws.config.concurrency.call_timeout_s if spec.kind in ("read", "search") else None
        share_key = None
        if spec.annotations.read_only_hint:
            share_key = spec.name + json.dumps(arguments, sort_keys=True, default=str)
        extra: dict[str, Any] = {}
        if ctx is not None and spec.takes_progress:
            extra["progress"] = ctx.report_progress
        try:
            work = lambda: spec.fn(ws, **arguments, **extra)  # noqa: E731
            result = await self.scheduler.run(spec.kind, spec.name, work, timeout, share_key)
        except VolleyError as exc:
            raise ToolError(str(exc)) from None
        return CallToolResult(
            content=[TextContent(type="text", text=result.render())],
            structured_content=result.model_dump(mode="json"),
        )


def build_server(
    workspace: Workspace, specs: list[ToolSpec] | None = None, log_level: str = "WARNING", watch_files: bool = True
) -> MCPServer:
    """The MCP server for one workspace, with every tool registered."""
    from volley.server.batch import register_batch
    from volley.server.catalog import TOOL_SPECS

    runtime = Runtime(workspace)

    @asynccontextmanager
    async def lifespan(_: MCPServer) -> AsyncIterator[Runtime]:
        runtime.scheduler = Scheduler(workspace.config.concurrency)
        log.info("volley %s serving workspace %s", __version__, workspace.root)
        async with anyio.create_task_group() as tg:
            stop = anyio.Event()
            if watch_files:
                tg.start_soon(watch, workspace, stop)
            try:
                yield runtime
            finally:
                stop.set()
                tg.cancel_scope.cancel()

    server = MCPServer(
        "volley",
        instructions=INSTRUCTIONS,
        version=__version__,
        lifespan=lifespan,
        log_level=log_level,  # type: ignore[arg-type]
    )
    for spec in specs if specs is not None else TOOL_SPECS:
        runtime.specs[spec.name] = spec
        server.add_tool(
            _adapt(spec, runtime),
            name=spec.name,
            description=_description(spec, workspace),
            annotations=spec.annotations,
        )
    register_batch(server, runtime)
    _inline_output_schemas(server)
    return server


def _inline_output_schemas(server: MCPServer) -> None:
    """Replace each output schema's $refs by their definitions.

    Clients validate every structured result against the schema (the Python SDK with jsonschema,
    where resolving a $ref per list item costs more than the rest of the call); an inlined schema
    says the same and validates several times faster.
    """
    for tool in server._tool_manager.list_tools():  # the SDK keeps no public handle on a tool's schema
        schema = tool.fn_metadata.output_schema
        if schema and "$defs" in schema:
            definitions = schema.pop("$defs")
            schema.update(_inline(schema, definitions))


def _inline(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline(definitions[ref.removeprefix("#/$defs/")], definitions)
        return {key: _inline(value, definitions) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline(item, definitions) for item in node]
    return node


def _description(spec: ToolSpec, workspace: Workspace) -> str:
    doc = inspect.cleandoc(spec.fn.__doc__ or "")
    limits = spec.limits(workspace)
    return f"{doc}\n\nLimits: {limits}" if limits else doc


def _adapt(spec: ToolSpec, runtime: Runtime) -> Callable[..., Awaitable[CallToolResult]]:
    """A function with the tool's own parameters (less the workspace) that the SDK can introspect."""
    sig = inspect.signature(spec.fn, eval_str=True)
    params = [p for p in list(sig.parameters.values())[1:] if p.name != "progress"]
    returns = Annotated[CallToolResult, sig.return_annotation]

    async def call(ctx: Context, **arguments: Any) -> CallToolResult:
        return await runtime.call(spec, arguments, ctx)

    ctx_param = inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Context)
    positional = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params]
    call.__signature__ = sig.replace(parameters=[*positional, ctx_param], return_annotation=returns)  # type: ignore[attr-defined]
    call.__annotations__ = {p.name: p.annotation for p in params} | {"ctx": Context, "return": returns}
    call.__name__ = spec.name
    call.__doc__ = spec.fn.__doc__
    return call
