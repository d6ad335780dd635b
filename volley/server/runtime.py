"""What the tools share while the server runs: the workspaces, the scheduler, the watchers, and the call path
(route a call to its workspace, run it under the scheduler, turn a VolleyError into a tool error)."""

from __future__ import annotations

import functools
import json
import logging
import os
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

import anyio
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, LoggingLevel, TextContent
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from volley.budget import fit_answer
from volley.concurrency import Scheduler, blocking, concurrently
from volley.errors import InputError, VolleyError
from volley.ngram.content import resume as resume_content_index
from volley.process import start_reaper_soon
from volley.server.spec import ToolSpec
from volley.text import has_lone_surrogates, valid_text
from volley.tools.list_dir import DirEntry, ListResult
from volley.watcher import Watcher
from volley.workspace import Workspace
from volley.workspaces import TOP, Workspaces, merge, qualify, root_paths

log = logging.getLogger(__name__)


def wire_safe(value: Any) -> Any:
    """``value`` with each lone surrogate as U+FFFD: a name whose bytes are not UTF-8 (Python keeps them as
    surrogates) made an answer the client could not parse (invalid JSON), and its call never ended."""
    if isinstance(value, str):
        return valid_text(value)
    if isinstance(value, list):
        return [wire_safe(v) for v in value]
    if isinstance(value, dict):
        return {wire_safe(k): wire_safe(v) for k, v in value.items()}
    return value


LOG_LEVELS = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"]


@dataclass
class Runtime:
    """What the tools share while the server runs; the scheduler is made by the lifespan."""

    workspaces: Workspaces
    scheduler: Scheduler | None = None
    specs: dict[str, ToolSpec] = field(default_factory=dict)
    from_roots: bool = False  # no --workspace given: the client's MCP roots, if it has any, are the workspaces
    watch_files: bool = True
    structured: bool = False  # answers carry structuredContent (and tools an outputSchema) besides their text
    _settled: bool = False
    _settling: anyio.Lock = field(default_factory=anyio.Lock)
    _serving: bool = False  # between the lifespan's start and end: watchers may run
    _watch_begun: bool = False
    _watching: dict[str, Watcher] = field(default_factory=dict)  # by root
    client_log_levels: weakref.WeakKeyDictionary[Any, LoggingLevel] = field(default_factory=weakref.WeakKeyDictionary)

    async def call(self, spec: ToolSpec, arguments: dict[str, Any], ctx: Context | None = None) -> CallToolResult:
        """Run one call under the scheduler in the workspace its paths name; a VolleyError becomes a tool error."""
        ctx = ctx if in_request(ctx) else None  # the stdio fast lane's calls have no request to report to
        if not self._watch_begun:
            self.begin_watching()
        await self.settle(ctx)
        if self.scheduler is None:
            self.scheduler = Scheduler(self.workspaces.first.config.concurrency)
        started = time.perf_counter()
        try:
            result = await self._routed(spec, arguments, ctx)
        except VolleyError as exc:
            await self.tell(ctx, "info", f"{spec.name} failed after {elapsed_ms(started)}: {exc}")
            raise ToolError(str(exc)) from None
        except ToolError:
            raise
        except Exception as exc:  # a defect: said with its cause (the SDK's own words are an empty error)
            log.exception("%s failed with %s", spec.name, type(exc).__name__)
            said = valid_text(f"{type(exc).__name__}: {exc}")
            said = said if len(said) <= 500 else said[:500] + "…"
            raise ToolError(
                f"{spec.name} failed on an error of Volley's own ({said}); its traceback is in the server's log. "
                "Please report it; other tools and calls still work"
            ) from None
        await self.tell(ctx, "debug", f"{spec.name} answered in {elapsed_ms(started)}")
        text = fit_answer(result.render(), self.workspaces.first.config.limits.answer_chars, spec.name)
        structured = result.model_dump(mode="json") if self.structured else None
        if has_lone_surrogates(text) or (
            structured is not None and has_lone_surrogates(json.dumps(structured, ensure_ascii=False))
        ):  # (most answers that are not ASCII hold none: only these are walked)
            text, structured = wire_safe(text), wire_safe(structured)
        return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=structured)

    async def _routed(self, spec: ToolSpec, arguments: dict[str, Any], ctx: Context | None) -> Any:
        """With several workspaces: run the call in the workspace(s) its paths name, paths and results qualified."""
        wss = self.workspaces
        if wss.several and spec.item_paths:
            return await self._by_items(spec, arguments, ctx)
        if not wss.several or (spec.paths is None and not spec.merges):  # e.g. run_output: runs are shared
            return await self._run(wss.first, spec, arguments, ctx)
        value = arguments.get(spec.paths) if spec.paths else None
        values = value if isinstance(value, list) else [] if value is None else [value]
        groups: dict[str, list[tuple[int, str]]] = {}
        for i, path in enumerate(values):
            name, inner = wss.split(path)
            groups.setdefault(name, []).append((i, inner))
        if not values or TOP in groups:
            if len(values) > 1:
                raise InputError(f"{values!r} mixes the top with workspaces ({wss.names()}): name one per path")
            return await self._at_top(spec, arguments, ctx)
        if len(groups) > 1 and not spec.merges:
            raise InputError(f"{spec.name} runs in one workspace per call; these paths name {', '.join(groups)}")

        async def run(name: str, members: list[tuple[int, str]]) -> Any:
            inner = [path for _, path in members] if isinstance(value, list) else members[0][1]
            result = await self._run(wss.by_name[name], spec, {**arguments, spec.paths: inner}, ctx)  # type: ignore[dict-item]
            return qualify(result, wss.prefix(name))

        parts = await concurrently([functools.partial(run, name, members) for name, members in groups.items()])
        merged = merge(parts)
        if spec.name == "read_file":  # one entry per path, back in the order asked
            files = [None] * len(values)
            for members, part in zip(groups.values(), parts, strict=True):
                for (i, _), entry in zip(members, part.files, strict=True):
                    files[i] = entry
            merged = merged.model_copy(update={"files": files})
        return merged

    async def _by_items(self, spec: ToolSpec, arguments: dict[str, Any], ctx: Context | None) -> Any:
        """A call whose items each name a path (edit's changes, and its versions by path): one workspace's."""
        wss, key = self.workspaces, spec.item_paths
        assert key is not None
        items, names = [], set()
        for item in arguments.get(key) or []:
            name, inner = wss.split(str(getattr(item, "path", None) or ""))
            if name == TOP:
                raise InputError(f"{item.path!r} names no workspace: several are served ({wss.names()})")
            items.append(item.model_copy(update={"path": inner}))
            names.add(name)
        versions = {}
        for path, version in (arguments.get("versions") or {}).items():
            name, inner = wss.split(path)
            versions[inner] = version
            names.add(name)
        if len(names) > 1:
            raise InputError(
                f"{spec.name} changes one workspace per call; these {key} name {', '.join(sorted(names))}: "
                "send one call per workspace"
            )
        name = names.pop() if names else next(iter(wss.by_name))
        routed = {**arguments, key: items} | ({"versions": versions} if "versions" in arguments else {})
        return qualify(await self._run(wss.by_name[name], spec, routed, ctx), wss.prefix(name))

    async def _at_top(self, spec: ToolSpec, arguments: dict[str, Any], ctx: Context | None) -> Any:
        """A call that names no workspace while several are served: list them, run in each, or ask for one."""
        wss = self.workspaces
        if not spec.merges:
            example = f"{spec.paths}={next(iter(wss.by_name))!r}" if spec.paths else "a path"
            raise InputError(f"several workspaces are served ({wss.names()}): say which one, e.g. {example}")
        inner = {key: value for key, value in arguments.items() if key != spec.paths}
        nested = spec.name == "list_dir" and not arguments.get("glob")  # each workspace's tree under its name
        if nested and arguments.get("depth", 1) <= 1:
            entries = [DirEntry(path=name, type="dir", depth=1) for name in wss.by_name]
            return ListResult(
                path=".", entries=entries, total=len(entries), truncated=False, hidden_by_ignore=0, hidden_examples=[]
            )
        if nested:
            inner["depth"] = arguments["depth"] - 1

        async def run(name: str, ws: Workspace) -> Any:
            return qualify(await self._run(ws, spec, inner, ctx), wss.prefix(name))

        ordered = await concurrently([functools.partial(run, name, ws) for name, ws in wss.by_name.items()])
        merged = merge(ordered)
        if nested:
            entries = []
            for name, result in zip(wss.by_name, ordered, strict=True):
                entries.append(DirEntry(path=name, type="dir", depth=1))
                entries += [e.model_copy(update={"depth": e.depth + 1}) for e in result.entries]
            assert isinstance(merged, ListResult)
            merged = merged.model_copy(
                update={"path": ".", "entries": entries, "total": merged.total + len(wss.by_name)}
            )
        return merged

    async def _run(self, ws: Workspace, spec: ToolSpec, arguments: dict[str, Any], ctx: Context | None) -> Any:
        assert self.scheduler is not None
        timeout = ws.config.concurrency.call_timeout_s if spec.kind in ("read", "search") else None
        share_key = None
        if spec.kind in ("read", "search", "lint") and not spec.annotations.destructive_hint:
            share_key = f"{ws.root}\0{spec.name}\0{sorted(arguments.items())!r}"  # equal only for equal calls
        extra: dict[str, Any] = {}
        if ctx is not None and spec.takes_progress:
            extra["progress"] = ctx.report_progress
        work = lambda: spec.fn(ws, **arguments, **extra)  # noqa: E731
        return await self.scheduler.run(spec.kind, spec.name, work, timeout, share_key)

    async def tell(self, ctx: Context | None, level: LoggingLevel, message: str) -> None:
        """Send an MCP log notification to a client that asked for this level.

        On 2026-07-28 connections a client asks per request (the SDK filters); before, with logging/setLevel.
        """
        if ctx is None:
            return
        if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            asked = self.client_log_levels.get(connection_of(ctx.session))
            if asked is None or LOG_LEVELS.index(level) < LOG_LEVELS.index(asked):
                return
        await ctx.log(level, message, logger_name="volley")

    # -- workspaces from MCP roots, and their watchers ---------------------------------------

    async def settle(self, ctx: Context | None) -> None:
        """In roots mode, (re)read the client's roots before a call once they are new or changed."""
        if not self.from_roots or self._settled:
            return
        async with self._settling:
            if self._settled:
                return
            self._settled = True
            paths = await client_roots(ctx)
            if paths:
                self.workspaces = await blocking(self._workspaces_at, paths)
                log.info("serving the client's roots: %s", ", ".join(paths))
            self.start_watching()

    def _workspaces_at(self, paths: list[str]) -> Workspaces:
        """Workspaces for these roots, keeping those already served (their index and caches) as they are."""
        served = {str(ws.root): ws for ws in self.workspaces}
        flags = self.workspaces.first.flags
        return Workspaces([served.get(os.path.realpath(path)) or Workspace(path, flags=flags) for path in paths])

    def roots_changed(self) -> None:
        if self.from_roots:
            self._settled = False

    def begin_watching(self) -> None:
        """Start watching once the client has its handshake answered (or its first call, on handshake-less eras).

        Setting up the watch walks the tree and imports watchfiles: begun with the lifespan, it slowed the
        answer to ``initialize``. In roots mode, watching starts once the roots are known. The process reaper
        starts here too.
        """
        if self._serving and not self._watch_begun:
            self._watch_begun = True
            start_reaper_soon()  # else the first run (a grep's rg) starts it, an interpreter beside its search
            if not self.from_roots:
                self.start_watching()

    def start_watching(self) -> None:
        """Watch the workspaces now served: start watchers for new ones, stop those of workspaces gone."""
        wanted = {str(ws.root): ws for ws in self.workspaces} if self.watch_files and self._serving else {}
        for root in [root for root in self._watching if root not in wanted]:
            self._watching.pop(root).stop()
        for root, ws in wanted.items():
            if root not in self._watching:
                self._watching[root] = watcher = Watcher(ws)
                watcher.start()
                resume_content_index(ws)

    def stop_watching(self) -> None:
        for root in list(self._watching):
            self._watching.pop(root).stop()


def connection_of(session: Any) -> Any:
    """What outlives one request of a client's connection: the SDK makes a session object per request."""
    return getattr(session, "_connection", session)


def in_request(ctx: Context | None) -> bool:
    """Whether ctx belongs to a request (progress and log messages go to its session)."""
    try:
        return ctx is not None and ctx.request_context is not None
    except ValueError:  # the SDK's way of saying there is none
        return False


def elapsed_ms(started: float) -> str:
    return f"{(time.perf_counter() - started) * 1000:.1f} ms"


async def client_roots(ctx: Context | None) -> list[str]:
    """The local directories among the client's MCP roots; [] when it has none or cannot say."""
    caps = ctx.client_capabilities if ctx is not None else None
    if ctx is None or caps is None or caps.roots is None:
        return []
    try:
        listed = await ctx.session.list_roots()
    except Exception as exc:  # a client that cannot answer keeps the default workspace
        log.warning("could not list the client's roots (%s); serving %s", exc, "the current directory")
        return []
    return root_paths([str(root.uri) for root in listed.roots])
