"""Builds the MCPServer: each tool adapted from a plain async function, under the scheduler."""

from __future__ import annotations

import inspect
import logging
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPDeprecationWarning
from mcp_types import (
    CallToolResult,
    EmptyResult,
    NotificationParams,
    SetLevelRequestParams,
)
from pydantic import ValidationError

from volley import __version__
from volley.budget import META_KEY
from volley.concurrency import Scheduler
from volley.server.arguments import bounded_error, check_names, check_sizes, explain
from volley.server.runtime import Runtime, connection_of
from volley.server.spec import ToolSpec
from volley.workspace import Workspace
from volley.workspaces import Workspaces

log = logging.getLogger(__name__)

# Roots and server logging are deprecated by the 2026-07-28 spec (SEP-2577), yet handshake-era clients
# use both; Volley serves them knowingly, so the SDK's warning for each use would only be noise on stderr.
for _feature in ("roots", "logging"):
    warnings.filterwarnings("ignore", f"The {_feature} capability is deprecated", MCPDeprecationWarning)

INSTRUCTIONS = """\
Volley gives fast, parallel, sandboxed access to a workspace. Paths are relative to its root; when
several workspaces are served, paths start with a workspace's name (list_dir with no path shows them).
Calls are independent and run concurrently: when you need several files or searches, issue the
calls together in one turn, or put them in one `batch` call. To find code, outline a file before
reading it, find_symbol for where a name is defined, find_references for who uses it (Python,
JavaScript, TypeScript, Go, Rust, Java); they cost far fewer tokens than reading whole files. Files
hidden by .gitignore/.ignore are left out of listings and searches unless include_ignored is set;
secrets (.env, keys) are never shown."""


class VolleyServer(MCPServer):
    """MCPServer whose tools take only the arguments they declare, with errors that name the fix."""

    runtime: Runtime | None = None

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Context | None = None) -> Any:
        tool = self._tool_manager.get_tool(name)
        if tool is not None:
            check_sizes(name, arguments)
            check_names(name, arguments, tool.parameters)
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            cause = exc.__cause__
            if tool is not None and isinstance(cause, ValidationError):
                raise ToolError(explain(name, cause, tool.parameters)) from cause
            raise ToolError(bounded_error(name, str(exc), cause)) from cause


def build_server(
    workspace: Workspace | list[Workspace],
    specs: list[ToolSpec] | None = None,
    log_level: str = "WARNING",
    watch_files: bool = True,
    from_roots: bool = False,
    structured: bool | None = None,
) -> MCPServer:
    """The MCP server for one or more workspaces (or, ``from_roots``, the client's roots), every tool registered.

    ``structured`` (default: the first workspace's ``structured_output``) adds typed results to the
    text answers. Off, every client shows the model the text: Claude Code and Codex, among others,
    give the model only the structured JSON when there is some.
    """
    from volley.edits.writer import recover
    from volley.server.batch import register_batch
    from volley.server.catalog import TOOL_SPECS, WRITERS, trusted

    workspaces = Workspaces(workspace if isinstance(workspace, list) else [workspace])
    if structured is None:
        structured = workspaces.first.config.structured_output
    runtime = Runtime(workspaces, from_roots=from_roots, watch_files=watch_files, structured=structured)

    @asynccontextmanager
    async def lifespan(_: MCPServer) -> AsyncIterator[Runtime]:
        runtime.scheduler = Scheduler(workspaces.first.config.concurrency)
        for ws in workspaces:  # an edit of several files a crash interrupted is completed first
            if touched := recover(str(ws.root)):
                log.warning("completed an interrupted edit in %s: %s", ws.root, ", ".join(touched))
        log.info("volley %s serving %s", __version__, ", ".join(str(ws.root) for ws in workspaces))
        runtime._serving = True
        try:
            yield runtime
        finally:
            runtime._serving = runtime._watch_begun = False
            runtime.stop_watching()
            runtime.scheduler.close()

    server = VolleyServer(
        "volley",
        instructions=INSTRUCTIONS,
        version=__version__,
        lifespan=lifespan,
        log_level=log_level,  # type: ignore[arg-type]
    )
    if specs is None:
        specs = [trusted(s) for s in TOOL_SPECS] if workspaces.first.config.trust_workspace_linters else TOOL_SPECS
        if workspaces.first.config.read_only:
            specs = [s for s in specs if s.name not in WRITERS]
    for spec in specs:
        runtime.specs[spec.name] = spec
        server.add_tool(
            _adapt(spec, runtime),
            name=spec.name,
            description=_description(spec, workspaces.first),
            annotations=spec.annotations,
            meta={META_KEY: workspaces.first.config.limits.answer_chars},  # hosts that read it show answers inline
            structured_output=structured,
        )
    server.runtime = runtime  # the stdio fast lane checks what a call may skip
    register_batch(server, runtime)
    _inline_output_schemas(server)

    async def on_roots_changed(_ctx: Any, _params: Any) -> None:
        runtime.roots_changed()

    async def on_initialized(_ctx: Any, _params: Any) -> None:
        runtime.begin_watching()

    async def on_set_level(ctx: Any, params: SetLevelRequestParams) -> EmptyResult:
        runtime.client_log_levels[connection_of(ctx.session)] = params.level
        return EmptyResult()

    # Clients that ask get MCP log notifications: each call's outcome and time (logging/setLevel).
    server._lowlevel_server.add_request_handler("logging/setLevel", SetLevelRequestParams, on_set_level)

    server._lowlevel_server.add_notification_handler(  # MCPServer has no public hook for this notification
        "notifications/roots/list_changed", NotificationParams, on_roots_changed
    )
    server._lowlevel_server.add_notification_handler("notifications/initialized", NotificationParams, on_initialized)
    return server


def _inline_output_schemas(server: MCPServer) -> None:
    """Replace each input and output schema's $refs by their definitions.

    Clients validate every structured result against the schema (the Python SDK with jsonschema,
    where resolving a $ref per list item costs more than the rest of the call); an inlined schema
    says the same and validates several times faster. Some clients do not resolve $refs in an input
    schema at all (edit's list of changes).
    """
    for tool in server._tool_manager.list_tools():  # the SDK keeps no public handle on a tool's schema
        for schema in (tool.fn_metadata.output_schema, tool.parameters):
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


def _description(spec: ToolSpec, workspace: Workspace) -> str:  # limits as the first workspace's config sets them
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
