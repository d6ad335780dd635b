"""Plain tool calls over stdio, answered without the SDK's per-request machinery.

The SDK carries every request through its JSON-RPC dispatcher (memory streams, a task and cancel
scopes per request), its middleware (an OpenTelemetry span) and a per-version validation of the
params and the result: measured over stdio, about 0.24 ms of server CPU per call, close to the
whole cost of a call on the Node reference server (0.25 ms). When a model sends 20 reads at once,
that is what it waits for.

The lane takes only a ``tools/call`` that needs nothing of a request's context: well formed, no
``_meta`` (so no progress token, no 2026-era envelope, no per-request log level), on a handshake
connection whose ``initialize`` the SDK has answered, with fixed workspaces (roots mode reads the
client's roots through the request) and no client asking for info or debug logs. It runs the call
as the SDK's handler does (``MCPServer._handle_call_tool``: argument checks, the tool, errors as
tool results), shapes the result with the same per-version surface and writes it as one line.
``notifications/cancelled`` for a call in the lane cancels it, and it is not answered. Everything
else, and every message the lane does not take, goes to the SDK unchanged.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.shared.jsonrpc_dispatcher import handler_exception_to_error_data
from mcp_types import CallToolRequestParams, ErrorData
from mcp_types import methods as surface
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic_core import PydanticSerializationError, to_json

from volley.server.runtime import wire_safe

log = logging.getLogger(__name__)

_QUIET_LEVELS = {"notice", "warning", "error", "critical", "alert", "emergency"}  # no call outcome is sent


class FastLane:
    """Answers plain ``tools/call`` requests read from the wire; hands every other line back."""

    def __init__(
        self,
        server: MCPServer,
        write: Callable[[bytes], None],
        started: Callable[[Any], None],
        settled: Callable[[Any], None],
    ) -> None:
        self._server = server
        self._runtime = getattr(server, "runtime", None)
        self._write, self._started, self._settled = write, started, settled
        self._initialize_id: Any = None
        self._version: str | None = None  # the negotiated protocol version, once the lane is open
        # request id -> the task answering it: plain asyncio tasks (anyio's start_soon cost ~35 µs a call);
        # a cancelled one is never answered
        self._calls: dict[Any, asyncio.Task[None]] = {}

    def take(self, line: bytes, message: dict[str, Any] | None) -> bool:
        """Whether the lane handles this line (a call it runs, or the cancellation of one); ``message`` is the
        line parsed, when the wire has parsed it already."""
        if message is None and (b'"tools/call"' in line or b'"notifications/cancelled"' in line):
            message = _object(line)
        if message is None:
            return False
        method = message.get("method")
        if method == "tools/call":
            return self._version is not None and self._run(message)
        if method == "notifications/cancelled":
            return bool(self._calls) and self._cancel(message)
        if self._version is None and method == "initialize":
            self._initialize_id = message.get("id")
        return False

    def answered(self, request_id: Any, result: dict[str, Any] | None) -> None:
        """The SDK answered a request: the lane opens once ``initialize`` succeeds on a handshake version."""
        if self._version is not None or request_id != self._initialize_id or result is None:
            return
        version = result.get("protocolVersion")
        if isinstance(version, str) and version not in MODERN_PROTOCOL_VERSIONS and self._usable():
            self._version = version

    def _usable(self) -> bool:
        runtime = self._runtime
        hints = self._server._lowlevel_server.cache_hints
        return runtime is not None and not runtime.from_roots and "tools/call" not in hints

    def _run(self, message: dict[str, Any]) -> bool:
        if message.get("jsonrpc") != "2.0":
            return False
        request_id, params = message.get("id"), message.get("params")
        if isinstance(request_id, bool) or not isinstance(request_id, int | str) or request_id in self._calls:
            return False
        if not isinstance(params, dict) or not params.keys() <= {"name", "arguments"}:
            return False
        name, arguments = params.get("name"), params.get("arguments", {})
        if not isinstance(name, str) or not isinstance(arguments, dict) or not self._quiet():
            return False
        log.debug("tools/call %s (id %r) runs in the fast lane", name, request_id)
        self._started(request_id)
        self._calls[request_id] = asyncio.get_running_loop().create_task(self._answer(request_id, name, arguments))
        return True

    async def close(self) -> None:
        """Cancel the calls still running (the session is over) and wait for their clean-up."""
        tasks = list(self._calls.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _quiet(self) -> bool:
        """No client asked for the info and debug messages a call sends (they need the request's session)."""
        levels = self._runtime.client_log_levels  # type: ignore[union-attr]
        return not levels or all(level in _QUIET_LEVELS for level in levels.values())

    def _cancel(self, message: dict[str, Any]) -> bool:
        params = message.get("params")
        request_id = params.get("requestId") if isinstance(params, dict) else None
        task = self._calls.get(request_id) if isinstance(request_id, int | str) else None
        if task is None:
            return False
        log.debug("call %r cancelled by the client", request_id)
        task.cancel()
        return True

    async def _answer(self, request_id: Any, name: str, arguments: dict[str, Any]) -> None:
        try:
            answer = await self._outcome(name, arguments)
        except asyncio.CancelledError:
            return  # by the client or at the session's end: nobody is owed an answer
        finally:
            del self._calls[request_id]
            self._settled(request_id)
        self._write(_line({"jsonrpc": "2.0", "id": request_id, **answer}))

    async def _outcome(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        assert self._version is not None
        try:
            params = CallToolRequestParams(name=name, arguments=arguments)
            result = await self._server._handle_call_tool(None, params)  # type: ignore[arg-type]
            dumped = result.model_dump(by_alias=True, mode="json", exclude_none=True)
            return {"result": surface.serialize_server_result("tools/call", self._version, dumped)}
        except Exception as exc:
            error = handler_exception_to_error_data(exc)
            if error is None:
                log.exception("tools/call %r raised", name)
                error = ErrorData(code=0, message=str(exc))  # the SDK's dispatcher answers the same
            return {"error": error.model_dump(by_alias=True, mode="json", exclude_none=True)}


def _object(line: bytes) -> dict[str, Any] | None:
    try:
        message = json.loads(line)
    except (ValueError, RecursionError):  # nesting deeper than Python parses: not for the lane
        return None
    return message if isinstance(message, dict) else None


def _line(message: dict[str, Any]) -> bytes:
    try:
        return to_json(message) + b"\n"  # the SDK's encoder: compact, UTF-8
    except PydanticSerializationError:  # a lone surrogate: U+FFFD (its escape is JSON no client's reader takes)
        return to_json(wire_safe(message)) + b"\n"
