"""What the stdio wire refuses before the SDK sees it, with the JSON-RPC error a client can act on.

The SDK reads a line it cannot parse or validate, logs it and answers nothing; a line nested deep enough
raised out of the reader and ended the server. Here every line is parsed once (its object is handed on,
so the fast lane does not parse it again) and whatever is not a JSON-RPC 2.0 message MCP accepts gets its
error: -32700 for text that is not JSON, -32600 for a batch, a non-object or a bad id or method, -32602
for params that are not an object. Notifications are never answered, as JSON-RPC says.
"""

from __future__ import annotations

import json
from typing import Any

from mcp_types import jsonrpc_message_adapter
from pydantic import ValidationError
from pydantic_core import to_json

PARSE_ERROR, INVALID_REQUEST, INVALID_PARAMS = -32700, -32600, -32602


def inspect(line: bytes) -> tuple[dict[str, Any] | None, bytes | None]:
    """The message a line holds, or the error line to answer it with (``b""``: drop it unanswered)."""
    if not line.strip():
        return None, b""
    try:
        message = json.loads(line)
    except (ValueError, RecursionError) as exc:  # a RecursionError is nesting deeper than Python parses
        return None, error(None, PARSE_ERROR, f"Parse error: the line is not JSON ({_short(exc)})")
    if isinstance(message, list):
        return None, error(None, INVALID_REQUEST, "Invalid Request: JSON-RPC batches are not supported by MCP")
    if not isinstance(message, dict):
        return None, error(None, INVALID_REQUEST, "Invalid Request: a message is a JSON object")
    request_id = message.get("id")
    has_id = "id" in message
    valid_id = isinstance(request_id, str | int) and not isinstance(request_id, bool)
    if "method" not in message:
        return message, None  # a response to one of the server's requests: the SDK's to match
    if message.get("jsonrpc") != "2.0":
        return None, _unless_notification(has_id, request_id, valid_id, 'Invalid Request: jsonrpc must be "2.0"')
    if not isinstance(message["method"], str):
        return None, _unless_notification(has_id, request_id, valid_id, "Invalid Request: method must be a string")
    if has_id and not valid_id:
        return None, error(None, INVALID_REQUEST, "Invalid Request: id must be a string or an integer")
    if "params" in message and not isinstance(message["params"], dict):
        if not has_id:
            return None, b""
        return None, error(request_id, INVALID_PARAMS, "Invalid params: params must be an object")
    return message, None


NESTED = 64  # brackets in a line beyond which it may nest deeper than the SDK's parser goes


def refused_by_sdk(line: bytes, message: dict[str, Any]) -> bytes | None:
    """The error for a line the SDK's own reader would fail to validate (it would log it and answer nothing);
    None when it validates. What inspect() accepts fails the SDK's validation only by nesting too deep for
    it or by a lone surrogate (``"\\udcff"``: Python's json takes it, the SDK's refuses the line), so only a
    line with many brackets or such an escape is validated twice."""
    if line.count(b"[") + line.count(b"{") <= NESTED and b"\\ud" not in line.lower():
        return None
    try:
        jsonrpc_message_adapter.validate_json(line, by_name=False)
    except Exception as exc:  # pydantic's ValidationError, or a recursion limit of its own
        if "id" not in message:
            return b""
        details = exc.errors() if isinstance(exc, ValidationError) else []
        reason = details[-1]["msg"] if details else type(exc).__name__
        text = f"Invalid params: not a valid {message.get('method')} request ({reason[:200]})"
        return error(message.get("id"), INVALID_PARAMS, text)
    return None


def too_long(limit: int) -> bytes:
    return error(None, INVALID_REQUEST, f"Invalid Request: a message over {limit // (1 << 20)} MiB was dropped")


def error(request_id: Any, code: int, message: str) -> bytes:
    return to_json({"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}) + b"\n"


def _unless_notification(has_id: bool, request_id: Any, valid_id: bool, message: str) -> bytes:
    return error(request_id if valid_id else None, INVALID_REQUEST, message) if has_id else b""


def _short(exc: BaseException) -> str:
    return "nested too deep" if isinstance(exc, RecursionError) else str(exc)[:200]
