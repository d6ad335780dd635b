"""batch: many tool calls in one request, run concurrently under the same scheduler."""

import json
from typing import Annotated, Any

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from volley.budget import META_KEY, fit, shared
from volley.server.runtime import Runtime

DESCRIPTION = """\
Run several independent Volley tool calls at once and get every result in one answer, in order.
Use it whenever you would otherwise make several calls in a row that do not depend on each other:
grepping for a few patterns, listing directories, reading files while doing those, running the
linter and the tests. Each call succeeds or fails on its own; one failure never fails the batch.
To read several files and nothing else, give read_file the list of paths: one call, faster still."""


MIN_SHARE = 1500  # the least a member's answer is given, however many share the batch
SPLIT = "the members share one answer's size: put fewer calls in a batch, or call the cut ones alone"


class BatchCall(BaseModel):
    tool: str = Field(description="the tool's name, e.g. read_file, grep, list_dir")
    arguments: dict[str, Any] = Field(default_factory=dict, description="the tool's arguments")


class CallOutcome(BaseModel):
    tool: str
    ok: bool
    text: str = Field(description="the tool's answer, or the error message")
    result: dict[str, Any] | None = Field(None, description="the tool's structured content")


class BatchResult(BaseModel):
    results: list[CallOutcome]
    succeeded: int
    failed: int


def register_batch(server: MCPServer, runtime: Runtime) -> None:
    cap = runtime.workspaces.first.config.limits.batch_max_calls
    tools = sorted(name for name, spec in runtime.specs.items() if spec.in_batch)

    async def batch(
        calls: Annotated[list[BatchCall], Field(description=f"the calls to run concurrently (at most {cap})")],
        ctx: Context,
    ) -> Annotated[CallToolResult, BatchResult]:
        if not calls:
            raise ToolError("an empty batch: give at least one call {tool, arguments}")
        if len(calls) > cap:
            raise ToolError(f"{len(calls)} calls in one batch; the limit is {cap}: split it into several batches")
        outcomes: list[CallOutcome | None] = [None] * len(calls)
        budget = runtime.workspaces.first.config.limits.answer_chars
        share = max(MIN_SHARE, budget // len(calls) - 120)  # each member's answer, less its header

        async def run(i: int, call: BatchCall) -> None:
            with shared(share):
                outcomes[i] = await _run_member(server, call, tools, ctx)

        async with anyio.create_task_group() as tg:
            for i, call in enumerate(calls):
                tg.start_soon(run, i, call)
        done = [o for o in outcomes if o is not None]
        result = BatchResult(results=done, succeeded=sum(o.ok for o in done), failed=sum(not o.ok for o in done))
        return CallToolResult(
            content=[TextContent(type="text", text=fit(_render(calls, done), budget, SPLIT))],
            structured_content=result.model_dump(mode="json") if runtime.structured else None,
        )

    server.add_tool(
        batch,
        name="batch",
        description=f"{DESCRIPTION}\n\nTools it can run: {', '.join(tools)}.\n\nLimits: {cap} calls per batch; "
        "a batch cannot contain another batch.",
        annotations=ToolAnnotations(
            title="Run many calls at once",
            read_only_hint=all(runtime.specs[name].annotations.read_only_hint for name in tools),
            destructive_hint=False,
            open_world_hint=False,
        ),
        meta={META_KEY: runtime.workspaces.first.config.limits.answer_chars},
        structured_output=runtime.structured,
    )


async def _run_member(server: MCPServer, call: BatchCall, tools: list[str], ctx: Context) -> CallOutcome:
    if call.tool == "batch":
        return CallOutcome(tool=call.tool, ok=False, text="a batch cannot contain another batch")
    if call.tool not in tools:
        return CallOutcome(
            tool=call.tool, ok=False, text=f"unknown tool {call.tool!r}; batch can run: {', '.join(tools)}"
        )
    try:
        result = await server.call_tool(call.tool, call.arguments, ctx)
    except ToolError as exc:
        return CallOutcome(tool=call.tool, ok=False, text=str(exc))
    assert isinstance(result, CallToolResult)
    text = "\n".join(block.text for block in result.content if isinstance(block, TextContent))
    return CallOutcome(tool=call.tool, ok=not result.is_error, text=text, result=result.structured_content)


def _render(calls: list[BatchCall], outcomes: list[CallOutcome]) -> str:
    parts = []
    for i, (call, outcome) in enumerate(zip(calls, outcomes, strict=True), 1):
        args = json.dumps(call.arguments, ensure_ascii=False)
        status = "" if outcome.ok else " — failed"
        body = outcome.text if outcome.ok else f"error: {outcome.text}"
        parts.append(f"### [{i}/{len(calls)}] {call.tool} {args}{status}\n{body}")
    return "\n\n".join(parts)
