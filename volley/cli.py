"""The `volley` command: serve a workspace, call one tool from a terminal, show the configuration."""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import sys
from typing import TYPE_CHECKING, Any

from volley import __version__
from volley.errors import VolleyError

if TYPE_CHECKING:
    from volley.workspace import Workspace

LOG_LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
TRANSPORTS = ["stdio", "sse", "http"]


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        args.run(args)
    except VolleyError as exc:
        sys.stderr.write(f"volley: {exc}\n")
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="volley", description="A fast, parallel, sandboxed MCP server.")
    parser.add_argument("--version", action="version", version=f"volley {__version__}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="serve a workspace over MCP (stdio by default)")
    _common(serve)
    serve.add_argument("--transport", choices=TRANSPORTS, default="stdio", help="default: stdio")
    serve.add_argument("--host", default="127.0.0.1", help="HTTP transports: address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8765, help="HTTP transports: port (default 8765)")
    serve.add_argument(
        "--token",
        default=os.environ.get("VOLLEY_TOKEN"),
        help="HTTP transports: bearer token every request must carry (or $VOLLEY_TOKEN); "
        "required to bind a non-loopback address",
    )
    serve.add_argument("--no-watch", action="store_true", help="do not watch files (stat checks keep results fresh)")
    serve.add_argument(
        "--read-only", action="store_true", help="list no tool that writes files (edit, undo_edit, fix_lint)"
    )
    serve.set_defaults(run=_serve)

    call = commands.add_parser("call", help="run one tool and print its answer, e.g. volley call grep pattern=TODO")
    _common(call)
    call.add_argument("tool", help="read_file, grep, list_dir, ... or 'list' to list the tools")
    call.add_argument(
        "arguments", nargs="*", help="key=value pairs (values parsed as JSON when they can be), or one JSON object"
    )
    call.add_argument("--json", action="store_true", help="print the structured result as JSON")
    call.set_defaults(run=_call)

    config = commands.add_parser("config", help="print the effective configuration and where each value came from")
    _common(config)
    config.add_argument("--json", action="store_true", help="print {values, sources} as JSON")
    config.set_defaults(run=_config)
    return parser


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workspace",
        "-w",
        action="append",
        default=[],
        help="a directory to serve; repeat for several (paths then start with a workspace's name). "
        "Default: the client's MCP roots when it has them, else the current directory",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        dest="settings",
        help="override a configuration value, e.g. --set limits.grep_max_results=50 (repeatable); "
        "outranks VOLLEY_<SECTION>__<KEY> environment variables and the workspace's config file",
    )
    parser.add_argument(
        "--log-level", default=os.environ.get("VOLLEY_LOG_LEVEL", "WARNING"), choices=LOG_LEVELS, type=str.upper
    )


def _workspaces(args: argparse.Namespace) -> list[Any]:
    from volley.config import assign
    from volley.workspace import Workspace

    flags: dict[str, Any] = {}
    for setting in args.settings:
        key, sep, value = setting.partition("=")
        if not sep or not key:
            raise SystemExit(f"volley: --set expects KEY=VALUE (e.g. limits.grep_max_results=50), got {setting!r}")
        assign(flags, key.strip(), value)
    return [Workspace(path, flags=flags) for path in args.workspace or ["."]]


def _serve(args: argparse.Namespace) -> None:
    from volley.platform import raise_descriptor_limit

    raise_descriptor_limit()
    early = None
    if args.transport == "stdio":  # the handshake is answered while the SDK imports (volley/server/early.py)
        from volley.server.early import start

        settings = repr(sorted((k, v) for k, v in vars(args).items() if k != "run"))
        early = start(settings, args.workspace or ["."])

    if args.read_only:
        args.settings = [*args.settings, "read_only=true"]
    workspaces = _workspaces(args)
    from_roots = not args.workspace
    if early is not None:  # read_file answered before the SDK is up, over one fixed workspace
        from volley.edits.writer import interrupted
        from volley.server.early_calls import EarlyCalls

        # not over several workspaces (routing), the client's roots, nor files an interrupted edit will change
        single = len(workspaces) == 1 and not from_roots and not interrupted(str(workspaces[0].root))
        early.take_calls(EarlyCalls(workspaces[0], workspaces[0].config.structured_output) if single else None)

    from volley.server.app import build_server
    from volley.server.transports import run

    server = build_server(workspaces, log_level=args.log_level, watch_files=not args.no_watch, from_roots=from_roots)
    served = ", ".join(str(ws.root) for ws in workspaces)
    if from_roots:
        served = f"the client's roots (else {served})"
    where = ""
    if args.transport != "stdio":
        host = f"[{args.host}]" if ":" in args.host else args.host
        where = f" at http://{host}:{args.port}{'/sse' if args.transport == 'sse' else '/mcp'}"
    sys.stderr.write(f"volley {__version__}: serving {served} over {args.transport}{where}\n")
    # The SDK and pydantic leave ~90k long-lived objects: keep them out of the collector's sweeps,
    # which spares every full collection while serving and ~180 ms at exit (a client waits for that).
    gc.freeze()
    drain_s = workspaces[0].config.concurrency.call_timeout_s  # calls in flight when stdin ends are answered
    run(server, args.transport, host=args.host, port=args.port, token=args.token, drain_s=drain_s, early=early)


def _call(args: argparse.Namespace) -> None:
    arguments = _parse_arguments(args.arguments)
    workspaces = _workspaces(args)
    answered = _call_early(workspaces, args.tool, arguments, args.json)
    if answered is not None:
        raise SystemExit(answered)
    import anyio

    from volley.jobs import JOBS
    from volley.runs import shared_store
    from volley.server.app import build_server

    shared_store().keeping = False  # the process ends with the answer: offer no run_output id
    JOBS.detach = False  # nor answer a test run before it ends: nothing could ask for the rest
    server = build_server(workspaces, log_level=args.log_level, watch_files=False, structured=args.json or None)
    gc.freeze()  # as in _serve: the collector has nothing to find among the SDK's objects
    code = anyio.run(_call_async, server, args.tool, arguments, args.json)
    raise SystemExit(code)


def _call_early(workspaces: list[Any], tool: str, arguments: dict[str, Any], as_json: bool) -> int | None:
    """A plain read_file answered without the SDK (volley/server/early_calls.py), printed as _call_async prints
    an answer: its exit code, or None when the SDK must answer."""
    from volley.edits.writer import interrupted
    from volley.server.early_calls import EarlyCalls

    if os.environ.get("VOLLEY_EARLY") == "0" or len(workspaces) != 1 or interrupted(str(workspaces[0].root)):
        return None
    answer = EarlyCalls(workspaces[0], structured=as_json).answer(tool, arguments)
    if answer is None:
        return None
    result = json.loads(answer)
    if as_json and "structuredContent" in result:
        sys.stdout.write(json.dumps(result["structuredContent"], indent=2, ensure_ascii=False) + "\n")
    else:
        text = "\n".join(block.get("text", "") for block in result["content"])
        (sys.stderr if result["isError"] else sys.stdout).write(text + "\n")
    return 1 if result["isError"] else 0


async def _call_async(server: Any, tool: str, arguments: dict[str, Any], as_json: bool) -> int:
    from mcp import Client

    async with Client(server) as client:
        if tool == "list":
            for t in (await client.list_tools()).tools:
                sys.stdout.write(f"{t.name}: {(t.description or '').splitlines()[0]}\n")
            return 0
        result = await client.call_tool(tool, arguments)
    if as_json and result.structured_content is not None:
        sys.stdout.write(json.dumps(result.structured_content, indent=2, ensure_ascii=False) + "\n")
    else:
        text = "\n".join(getattr(block, "text", "") for block in result.content)
        (sys.stderr if result.is_error else sys.stdout).write(text + "\n")
    return 1 if result.is_error else 0


def _parse_arguments(items: list[str]) -> dict[str, Any]:
    if len(items) == 1 and items[0].lstrip().startswith("{"):
        try:
            parsed = json.loads(items[0])
        except json.JSONDecodeError as exc:
            raise SystemExit(f"volley: the JSON arguments do not parse: {exc}") from None
        if isinstance(parsed, dict):
            return parsed
    arguments: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"volley: expected key=value, got {item!r}")
        try:
            arguments[key] = json.loads(value)
        except json.JSONDecodeError:
            arguments[key] = value
    return arguments


def _config(args: argparse.Namespace) -> None:
    from volley.config import ENV_PREFIX, flatten
    from volley.ngram.content import on_disk

    workspaces = _workspaces(args)
    if args.json:
        found = [
            {
                "workspace": str(ws.root),
                "values": ws.config.model_dump(mode="json"),
                "sources": ws.config_sources,
                "refused": list(ws.config_refused),
            }
            for ws in workspaces
        ]
        sys.stdout.write(json.dumps(found[0] if len(found) == 1 else found, indent=2) + "\n")
        return
    lines = [f"# precedence: --set > {ENV_PREFIX}<SECTION>__<KEY> environment variables > config file > defaults"]
    for ws in workspaces:
        lines += [
            f"# workspace: {ws.root}",
            f"# config file: {ws.config_path or 'none (.volley.toml or [tool.volley] in pyproject.toml)'}",
        ]
        lines += [f"# ignored from the config file: {what}" for what in ws.config_refused]
        lines.append(f"# grep's content index: {on_disk(ws)}")
        flat = flatten(ws.config.model_dump(mode="json"))
        width = max(len(f"{key} = {json.dumps(value)}") for key, value in flat.items())
        for key, value in flat.items():
            setting = f"{key} = {json.dumps(value)}"
            lines.append(f"{setting:<{width}}  # {ws.config_sources.get(key, 'default')}")
        lines += _projects(ws)
    sys.stdout.write("\n".join(lines) + "\n")


def _projects(ws: Workspace) -> list[str]:
    """The workspace's projects, each with where its [lint] and [test] come from."""
    from volley.projects import commands_of, project_dirs

    found = [d for d in project_dirs(ws) if d]
    if not found:
        return []
    lines = ["# projects (each runs its own linters and tests, in its folder):"]
    for project in found:
        try:
            where = commands_of(ws, project)[2]
        except VolleyError as exc:
            where = f"error: {exc}"
        lines.append(f"#   {project}: {where}")
    return lines
