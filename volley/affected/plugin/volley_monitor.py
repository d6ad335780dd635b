"""Which functions each test started, from sys.monitoring (Python 3.12+): the recording plugin's recorder there.

A test that runs a line of a function started that function's code (or resumed it, or threw into it: a
generator, a coroutine, a context manager's exit), or the function was running when the test began (a
thread's loop, a hook around the test), so the lines of those code objects name the function bodies that the
lines coverage.py traces name, at one callback per function per test instead of a trace of every line. Two
tools: one sees each code object's first start anywhere and turns itself off there (for code outside the
workspace, for good); the other watches the workspace's code objects alone, and after its first event in a
test is off for that code until the next test begins. What it writes, per process: ``monitor.<pid>.json``,
``{"codes": [[path, [line, …]], …], "contexts": {context: [code index, …]}}``.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from types import CodeType, FrameType
from typing import Any

_ONCE, _WATCH = 4, 3  # unreserved tool ids (0, 1, 2 and 5 are the debugger's, coverage's, a profiler's, the JIT's)


class Monitor:
    """Records which of the workspace's code objects each context started (``switch_context`` names the context)."""

    def __init__(self, root: str, out: str) -> None:
        self.root, self.out = os.path.realpath(root) + os.sep, out
        self.cwd = os.getcwd()  # co_filename may be relative to it
        self.contexts: dict[str, dict[int, CodeType]] = {}
        self.current = self.contexts.setdefault("", {})
        self.touched: list[CodeType] = []  # off for _WATCH until the next context
        self.lock = threading.RLock()  # a test's threads: none of them may be left off for good
        self.own = os.path.dirname(os.path.realpath(__file__)) + os.sep  # (Volley's own workspace: not its code)
        self.inside: dict[str, bool] = {}
        self.paths: dict[str, str] = {}
        monitoring: Any = getattr(sys, "monitoring")  # noqa: B009 (3.12+: typeshed's for older versions lacks it)
        self.monitoring, self.events = monitoring, monitoring.events
        for tool, name in ((_ONCE, "volley-record-first"), (_WATCH, "volley-record")):
            monitoring.use_tool_id(tool, name)
        monitoring.register_callback(_ONCE, self.events.PY_START, self._first_start)
        monitoring.register_callback(_WATCH, self.events.PY_START, self._started)
        monitoring.register_callback(_WATCH, self.events.PY_RESUME, self._started)
        monitoring.register_callback(_WATCH, self.events.PY_THROW, self._thrown)
        monitoring.set_events(_ONCE, self.events.PY_START)
        monitoring.set_events(_WATCH, self.events.PY_THROW)  # (an event of no place: for all code or none)

    @staticmethod
    def available() -> bool:
        monitoring = getattr(sys, "monitoring", None)
        return monitoring is not None and all(monitoring.get_tool(t) is None for t in (_ONCE, _WATCH))

    def _path(self, filename: str) -> str:
        path = self.paths.get(filename)
        if path is None:
            path = self.paths[filename] = os.path.realpath(os.path.join(self.cwd, filename))
        return path

    def _first_start(self, code: CodeType, offset: int) -> object:
        name = code.co_filename
        inside = self.inside.get(name)
        if inside is None:
            path = self._path(name)
            outside = "site-packages" in path or "dist-packages" in path or path.startswith(self.own)
            inside = self.inside[name] = path.startswith(self.root) and not outside and os.path.isfile(path)
        if inside:
            with self.lock:
                self.current[id(code)] = code
                self.touched.append(code)  # watched from the next context on
        return self.monitoring.DISABLE

    def _started(self, code: CodeType, offset: int) -> None:
        with self.lock:
            self.current[id(code)] = code
            self.touched.append(code)
            self.monitoring.set_local_events(_WATCH, code, 0)

    def _thrown(self, code: CodeType, offset: int, exception: BaseException) -> None:
        """An exception thrown into a suspended generator or coroutine (a context manager's exit): it runs on
        with no PY_RESUME. Rare next to calls: seen everywhere, kept for the workspace's code."""
        if self.inside.get(code.co_filename):
            with self.lock:
                self.current[id(code)] = code

    def switch_context(self, name: str) -> None:
        watched = self.events.PY_START | self.events.PY_RESUME
        with self.lock:
            self.current = self.contexts.setdefault(name, {})
            for code in self.touched:
                self.monitoring.set_local_events(_WATCH, code, watched)
            self.touched.clear()
            for top in sys._current_frames().values():  # running already: it may run lines of this context's
                frame: FrameType | None = top  # (a thread's loop); taken as run by it
                while frame is not None:
                    if self.inside.get(frame.f_code.co_filename):
                        self.current[id(frame.f_code)] = frame.f_code
                    frame = frame.f_back

    def stop(self) -> None:
        monitoring = self.monitoring
        monitoring.set_events(_ONCE, 0)
        monitoring.set_events(_WATCH, 0)
        for tool, event in ((_ONCE, "PY_START"), (_WATCH, "PY_START"), (_WATCH, "PY_RESUME"), (_WATCH, "PY_THROW")):
            monitoring.register_callback(tool, getattr(self.events, event), None)
        if hasattr(monitoring, "clear_tool_id"):  # 3.14: before it, a freed id keeps its local events
            for tool in (_ONCE, _WATCH):
                monitoring.clear_tool_id(tool)
                monitoring.free_tool_id(tool)

    def save(self) -> None:
        index: dict[int, int] = {}
        codes: list[list[object]] = []
        contexts: dict[str, list[int]] = {}
        for context, started in self.contexts.items():
            for key, code in started.items():
                if key not in index:
                    index[key] = len(codes)
                    codes.append([self._path(code.co_filename), _body_lines(code)])
            contexts[context] = [index[key] for key in started]
        path = os.path.join(self.out, f"monitor.{os.getpid()}.json")
        with open(path + ".tmp", "w") as f:
            f.write(json.dumps({"codes": codes, "contexts": contexts}))  # (one C call; json.dump is 4x slower)
        os.replace(path + ".tmp", path)


def _body_lines(code: CodeType) -> list[int]:
    """The lines of a code object's own instructions, less the ``def`` line (or its first decorator's): those run
    in the enclosing code, when it defines the function; a one-line function keeps its one line."""
    lines = {line for _, _, line in code.co_lines() if line is not None}
    if len(lines) > 1:
        lines.discard(code.co_firstlineno)
    return sorted(lines)
