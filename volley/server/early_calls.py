"""read_file answered while the MCP SDK is still importing (early.py hands the calls here).

A host often reads a file as soon as it has the tool list; the SDK is not up for about half a second more.
Over a fixed single workspace, a ``tools/call`` of read_file whose arguments are plainly valid (a path or a
list of paths, a positive offset and limit, nothing else) is run here and answered as the SDK would answer
it, byte for byte (tests/test_early.py compares them): the text the runtime renders within the answer budget,
the structured result where the server gives one, a tool error for a refused path. Anything else, and any
call whose answer could differ (an unexpected exception), goes to the SDK.

Nothing here imports the SDK: it is loaded before it.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic_core import to_json

from volley.budget import fit_answer
from volley.errors import VolleyError
from volley.tools.read_file import read_now
from volley.workspace import Workspace

log = logging.getLogger(__name__)


class EarlyCalls:
    """The calls that can be answered before the SDK is up, in one workspace."""

    def __init__(self, ws: Workspace, structured: bool) -> None:
        self.ws, self.structured = ws, structured

    def answer(self, name: str, arguments: object) -> str | None:
        """The call's result as the SDK would write it (JSON), or None: the SDK answers it."""
        if name != "read_file" or not _plain_read(arguments):
            return None
        assert isinstance(arguments, dict)
        try:
            result = read_now(self.ws, **arguments)
        except VolleyError as exc:
            text = f"Error executing tool read_file: {exc}"
            return to_json({"content": [{"text": text, "type": "text"}], "isError": True}).decode()
        except Exception:  # whatever the SDK's side would say of it, it says
            log.exception("an early read_file failed; the SDK answers it")
            return None
        text = fit_answer(result.render(), self.ws.config.limits.answer_chars, "read_file")
        answer: dict[str, Any] = {"content": [{"text": text, "type": "text"}], "isError": False}
        if self.structured:
            answer["structuredContent"] = result.model_dump(mode="json")
        return to_json(answer).decode()


def _plain_read(arguments: object) -> bool:
    """read_file's arguments, valid beyond doubt: anything the SDK would check is left to it."""
    if not isinstance(arguments, dict) or "path" not in arguments or set(arguments) - {"path", "offset", "limit"}:
        return False
    path = arguments["path"]
    if not (isinstance(path, str) or (isinstance(path, list) and path and all(isinstance(p, str) for p in path))):
        return False
    numbers = [arguments[k] for k in ("offset", "limit") if k in arguments]
    return all(type(n) is int and n >= 1 for n in numbers)
