"""Volley's benchmarks, side by side in one run: `make bench` (or `python -m benchmarks.run [--quick]`).

Measures, over real MCP stdio sessions with the Python SDK's client:
  1. the parallel-tool-calling latency model (sequential vs concurrent vs batch, N = 1..20),
  2. Volley against the reference filesystem server (@modelcontextprotocol/server-filesystem),
  3. grep against the `rg` binary (time and identical matches),
  4. scale: the same work with and without a 20,000-file ignored node_modules/,
  5. per-call overhead against a bare MCPServer tool, the line cache, peak memory.
Writes benchmarks/results/latest.{json,md,png}. Figures are medians; ratios come from one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mcp import Client
from mcp.client.stdio import StdioServerParameters

from benchmarks import corpus

RESULTS = Path(__file__).parent / "results"
GREP_PATTERNS = [r"def get_\w+\(", r"TODO", r"class \w+Test", r"import os$"]
ECHO_SERVER = Path(__file__).parent / "echo_server.py"
ECHO_PARAMS = StdioServerParameters(command=sys.executable, args=[str(ECHO_SERVER)], env=dict(os.environ))


def volley_params(root: Path, whole: bool = False) -> StdioServerParameters:
    """``whole``: answers are not cut to the answer budget, so they can be compared with another's whole answer."""
    budget = ["--set", "limits.answer_chars=1000000000"] if whole else []
    return StdioServerParameters(
        command=sys.executable, args=["-m", "volley", "serve", "--workspace", str(root), *budget], env=dict(os.environ)
    )


def reference_params(root: Path) -> StdioServerParameters:
    argv = corpus.reference_server()
    return StdioServerParameters(command=argv[0], args=[*argv[1:], str(root)], env=dict(os.environ))


async def timed(fn: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = await fn()
    return time.perf_counter() - start, result


async def median_time(fn: Callable[[], Awaitable[Any]], runs: int) -> float:
    return statistics.median([(await timed(fn))[0] for _ in range(runs)])


def text(result: Any) -> str:
    if result.is_error:
        raise RuntimeError("tool error: " + "".join(getattr(b, "text", "") for b in result.content)[:500])
    return "".join(getattr(b, "text", "") for b in result.content)


def server_pid(marker: str) -> int | None:
    """The pid of our child process whose command line contains ``marker``."""
    me = os.getpid()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_text()
            cmdline = Path(f"/proc/{name}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == me and marker in cmdline:
            return int(name)
    return None


def peak_rss_mb(pid: int | None, field: str = "VmHWM") -> float | None:
    """The process's peak resident memory (``field="VmRSS"``: its resident memory now)."""
    if pid is None:
        return None
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return None


# -- 1. startup --------------------------------------------------------------------------------


async def startup(params: StdioServerParameters, runs: int, read: tuple[str, dict] | None = None) -> float:
    """Median time from the server's start to its answer to initialize (with ``read``: then tools/list and one
    call as well), as a host waits before its model sees the tools; the shutdown after is not timed."""

    async def once() -> float:
        client = Client(params, mode="legacy")
        started = time.perf_counter()
        await client.__aenter__()
        if read is not None:
            await client.list_tools()
            text(await client.call_tool(*read))
        took = time.perf_counter() - started
        await client.__aexit__(None, None, None)
        return took

    await once()  # warm the OS caches (and keep the handshake's answers for the next starts)
    return statistics.median([await once() for _ in range(runs)])


async def startup_rows(root: Path, runs: int) -> dict[str, list[float]]:
    """start + initialize, and start + initialize + tools/list + one read_file, beside the reference: on a
    quiet machine, then under 4 CPU hogs."""
    small = str(root / "django" / "__init__.py")
    rows: dict[str, list[float]] = {}
    for load in ("", " (4 CPU hogs)"):
        hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(4 if load else 0)]
        try:
            rows[f"start + initialize{load}"] = [
                await startup(volley_params(root), runs),
                await startup(reference_params(root), runs),
            ]
            rows[f"start + initialize + tools/list + read_file{load}"] = [
                await startup(volley_params(root), runs, ("read_file", {"path": "django/__init__.py"})),
                await startup(reference_params(root), runs, ("read_text_file", {"path": small})),
            ]
        finally:
            for hog in hogs:
                hog.kill()
                hog.wait()
    return rows


# -- 2. peer comparison ------------------------------------------------------------------------


async def peer_rows(root: Path, runs: int) -> dict[str, Any]:
    small = "django/__init__.py"
    # 50 small source files (about 100 KB in all), as an agent gathers them: the whole of each fits every cap
    files = sorted(
        str(p.relative_to(root)) for p in (root / "django").rglob("*.py") if 800 <= p.stat().st_size <= 3000
    )[:50]
    rows: dict[str, Any] = {}
    async with (
        Client(volley_params(root, whole=True), mode="legacy") as v,
        Client(reference_params(root), mode="legacy") as r,
    ):
        absolute = lambda rel: str(root / rel)  # noqa: E731

        async def latencies(call: Callable[[], Awaitable[Any]], n: int) -> list[float]:
            for _ in range(10):
                await call()
            return sorted([(await timed(call))[0] for _ in range(n)])

        v_lat = await latencies(lambda: v.call_tool("read_file", {"path": small}), 200)
        r_lat = await latencies(lambda: r.call_tool("read_text_file", {"path": absolute(small)}), 200)
        rows["read one small file p50"] = (_pct(v_lat, 50), _pct(r_lat, 50))
        rows["read one small file p95"] = (_pct(v_lat, 95), _pct(r_lat, 95))
        for n in (5, 50):
            subset = files[:n]
            rows[f"read {n} files, concurrent calls"] = (
                await median_time(
                    lambda s=subset: asyncio.gather(*(v.call_tool("read_file", {"path": f}) for f in s)), runs
                ),
                await median_time(
                    lambda s=subset: asyncio.gather(*(r.call_tool("read_text_file", {"path": absolute(f)}) for f in s)),
                    runs,
                ),
            )
            rows[f"read {n} files, one batch call"] = (
                await median_time(lambda s=subset: v.call_tool("read_file", {"path": s}), runs),
                await median_time(
                    lambda s=subset: r.call_tool("read_multiple_files", {"paths": [absolute(f) for f in s]}), runs
                ),
            )
            calls = [{"tool": "read_file", "arguments": {"path": f}} for f in subset]
            rows[f"read {n} files, batch tool"] = (
                await median_time(lambda c=calls: v.call_tool("batch", {"calls": c}), runs),
                rows[f"read {n} files, one batch call"][1],
            )
        v_tree = await v.call_tool("list_dir", {"depth": 50, "max_entries": 1_000_000})
        r_tree = await r.call_tool("directory_tree", {"path": str(root)})
        rows["list the whole tree"] = (
            await median_time(lambda: v.call_tool("list_dir", {"depth": 50, "max_entries": 1_000_000}), runs),
            await median_time(lambda: r.call_tool("directory_tree", {"path": str(root)}), runs),
        )
        default = await v.call_tool("list_dir", {})
        rows["answer size: whole tree (bytes)"] = (len(text(v_tree).encode()), len(text(r_tree).encode()))
        rows["answer size: default listing (bytes)"] = (len(text(default).encode()), len(text(r_tree).encode()))
        rows["find *.py by glob"] = (
            await median_time(lambda: v.call_tool("list_dir", {"glob": "**/*.py", "max_entries": 100_000}), runs),
            await median_time(lambda: r.call_tool("search_files", {"path": str(root), "pattern": "**/*.py"}), runs),
        )
        rows["_volley_peak_rss_mb"] = peak_rss_mb(server_pid("volley serve"))
    return rows


def _pct(values: list[float], p: int) -> float:
    return values[min(len(values) - 1, int(len(values) * p / 100))]


# -- 3. grep against rg ------------------------------------------------------------------------

_RG_LINE = re.compile(r"^(.*?):(\d+):")


async def grep_rows(root: Path, runs: int) -> list[dict[str, Any]]:
    rg = shutil.which("rg")
    rows = []
    async with Client(volley_params(root, whole=True), mode="legacy") as v:
        for pattern in GREP_PATTERNS:
            args = {"pattern": pattern, "max_results": 1_000_000}
            await v.call_tool("grep", args)
            v_time = await median_time(lambda a=args: v.call_tool("grep", a), runs)
            capped = await median_time(lambda p=pattern: v.call_tool("grep", {"pattern": p}), runs)
            result = await v.call_tool("grep", args)
            v_matches = {(m[1], int(m[2])) for m in map(_RG_LINE.match, text(result).splitlines()) if m}
            row = {"pattern": pattern, "volley_s": v_time, "volley_default_s": capped, "volley_matches": len(v_matches)}
            if rg:
                argv = [rg, "-n", "--no-heading", "--hidden", "--no-require-git", "-e", pattern]
                run = lambda a=argv: asyncio.to_thread(subprocess.run, a, cwd=root, capture_output=True)  # noqa: E731
                row["rg_s"] = await median_time(run, runs)
                out = subprocess.run(argv, cwd=root, capture_output=True, text=True).stdout
                rg_matches = {(m[1], int(m[2])) for m in map(_RG_LINE.match, out.splitlines()) if m}
                row.update(rg_matches=len(rg_matches), same_matches=rg_matches == v_matches)
            rows.append(row)
    return rows


# -- 4. scale: ignored trees -------------------------------------------------------------------


async def scale_rows(plain: Path, heavy: Path, runs: int) -> dict[str, tuple[float, float]]:
    work = {
        "grep def get_": ("grep", {"pattern": r"def get_\w+\(", "max_results": 100_000}),
        "list_dir root": ("list_dir", {}),
        "glob **/*.py": ("list_dir", {"glob": "**/*.py", "max_entries": 100_000}),
    }
    rows: dict[str, tuple[float, float]] = {}
    async with (
        Client(volley_params(plain, whole=True), mode="legacy") as p,
        Client(volley_params(heavy, whole=True), mode="legacy") as h,
    ):
        for name, (tool, args) in work.items():
            await p.call_tool(tool, args)
            await h.call_tool(tool, args)
            rows[name] = (
                await median_time(lambda t=tool, a=args: p.call_tool(t, a), runs),
                await median_time(lambda t=tool, a=args: h.call_tool(t, a), runs),
            )
    async with Client(reference_params(plain), mode="legacy") as p, Client(reference_params(heavy), mode="legacy") as h:
        rows["reference directory_tree"] = (
            await median_time(lambda: p.call_tool("directory_tree", {"path": str(plain)}), 1),
            await median_time(lambda: h.call_tool("directory_tree", {"path": str(heavy)}), 1),
        )
    return rows


# -- 5. the agent latency model ----------------------------------------------------------------


async def agent_rows(root: Path, think: float, runs: int) -> list[dict[str, Any]]:
    files = sorted(str(p.relative_to(root)) for p in (root / "django" / "utils").glob("*.py"))[:20]
    rows = []
    async with Client(volley_params(root), mode="legacy") as v:
        await v.call_tool("read_file", {"path": files[0]})
        for n in (1, 2, 5, 10, 20):
            subset = files[:n]
            seq, par, bat, tool_times = [], [], [], []
            for _ in range(runs):
                start = time.perf_counter()
                for f in subset:
                    await asyncio.sleep(think)  # the model thinks, then asks for one file
                    t, _ = await timed(lambda f=f: v.call_tool("read_file", {"path": f}))
                    tool_times.append(t)
                seq.append(time.perf_counter() - start)
                start = time.perf_counter()
                await asyncio.sleep(think)  # the model thinks once and asks for all of them
                await asyncio.gather(*(v.call_tool("read_file", {"path": f}) for f in subset))
                par.append(time.perf_counter() - start)
                start = time.perf_counter()
                await asyncio.sleep(think)
                await v.call_tool("batch", {"calls": [{"tool": "read_file", "arguments": {"path": f}} for f in subset]})
                bat.append(time.perf_counter() - start)
            t_tool = statistics.median(tool_times)
            ideal_seq, ideal_par = n * (think + t_tool), think + t_tool
            s, p, b = statistics.median(seq), statistics.median(par), statistics.median(bat)
            rows.append(
                {
                    "n": n,
                    "sequential_s": s,
                    "concurrent_s": p,
                    "batch_s": b,
                    "t_tool_s": t_tool,
                    "ideal_sequential_s": ideal_seq,
                    "ideal_parallel_s": ideal_par,
                    "speedup_concurrent": s / p,
                    "speedup_batch": s / b,
                    "speedup_ideal": ideal_seq / ideal_par,
                }
            )
    return rows


async def fast_agent_rows(root: Path, runs: int, think: float = 0.15) -> list[dict[str, Any]]:
    """A fast model (T_llm 0.15 s): N reads, in sequence and at once, on Volley and on the reference
    server in the same run; each server's fraction of the ideal speedup (N when the tool time is nil)."""
    files = sorted(str(p.relative_to(root)) for p in (root / "django" / "utils").glob("*.py"))[:20]
    rows = []
    async with Client(volley_params(root), mode="legacy") as v, Client(reference_params(root), mode="legacy") as r:
        servers = {
            "volley": lambda f: v.call_tool("read_file", {"path": f}),
            "reference": lambda f: r.call_tool("read_text_file", {"path": str(root / f)}),
        }
        for call in servers.values():
            await call(files[0])
        for n in (5, 10, 20):
            row: dict[str, Any] = {"n": n}
            for name, call in servers.items():
                seq, par, tool_times = [], [], []
                for _ in range(runs * 3):
                    start = time.perf_counter()
                    for f in files[:n]:
                        await asyncio.sleep(think)
                        tool_times.append((await timed(lambda f=f, call=call: call(f)))[0])
                    seq.append(time.perf_counter() - start)
                    start = time.perf_counter()
                    await asyncio.sleep(think)
                    await asyncio.gather(*(call(f) for f in files[:n]))
                    par.append(time.perf_counter() - start)
                t_tool = statistics.median(tool_times)
                ideal = (n * (think + t_tool)) / (think + t_tool)
                row[name] = (statistics.median(seq) / statistics.median(par)) / ideal
            rows.append(row)
    return rows


def import_breakdown() -> dict[str, float]:
    """Where start-up goes before the first message: import times (ms) of the SDK and of Volley's own modules."""
    probe = (
        "import time; t0 = time.perf_counter(); import mcp.server.mcpserver; t1 = time.perf_counter(); "
        "import volley.server.app, volley.server.catalog, volley.server.transports; t2 = time.perf_counter(); "
        "print(t1 - t0, t2 - t1)"
    )
    figures = []
    for _ in range(5):
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
        figures.append([float(x) * 1000 for x in out.split()])
    starts = []
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        starts.append((time.perf_counter() - start) * 1000)
    interpreter = statistics.median(starts)
    return {
        "interpreter start (ms)": interpreter,
        "import the MCP SDK (ms)": statistics.median(f[0] for f in figures),
        "import Volley's own modules (ms)": statistics.median(f[1] for f in figures),
    }


# -- 5b. concurrency per tool -----------------------------------------------------------------


async def concurrency_rows(root: Path, runs: int) -> list[dict[str, Any]]:
    """8 calls of one tool: one alone, 8 in sequence, 8 concurrent, 8 in one batch."""
    utils = ("text", "html", "http", "timesince", "dateparse", "encoding", "functional", "crypto")
    patterns = ("TODO", "import os", "class Meta", "def __init__", "raise ValueError", "yield", "lambda", "@property")
    dirs = ("django", "django/db", "django/http", "django/core", "django/utils", "tests", "docs", "django/contrib")
    work = {
        "read_file": [{"path": f"django/utils/{name}.py"} for name in utils],
        "grep": [{"pattern": p, "path": "django/db"} for p in patterns],
        "list_dir": [{"path": p} for p in dirs],
    }
    rows = [await _eight_at_once(ECHO_PARAMS, "echo (bare MCPServer)", "echo", [{"text": "x"}] * 8, runs)]
    async with Client(volley_params(root), mode="legacy") as v:
        for tool, calls in work.items():
            rows.append(await _eight_at_once(v, tool, tool, calls, runs))
    return rows


async def _eight_at_once(
    server: Client | StdioServerParameters, label: str, tool: str, calls: list[dict[str, Any]], runs: int
) -> dict[str, Any]:
    """One call alone, the 8 in sequence, the 8 concurrently, and (Volley) the 8 in one batch."""
    if isinstance(server, StdioServerParameters):
        async with Client(server, mode="legacy") as client:
            return await _eight_at_once(client, label, tool, calls, runs)
    v = server
    for args in calls:
        await v.call_tool(tool, args)
    one = await median_time(lambda: v.call_tool(tool, calls[0]), runs * 5)

    async def sequence() -> None:
        for a in calls:
            await v.call_tool(tool, a)

    seq = await median_time(sequence, runs)
    conc = await median_time(lambda: asyncio.gather(*(v.call_tool(tool, a) for a in calls)), runs)
    bat = None
    if tool != "echo":
        members = [{"tool": tool, "arguments": a} for a in calls]
        bat = await median_time(lambda: v.call_tool("batch", {"calls": members}), runs)
    return {"tool": label, "one_s": one, "sequential_s": seq, "concurrent_s": conc, "batch_s": bat}


# -- 6. overhead and cache ---------------------------------------------------------------------


async def overhead_rows(root: Path) -> dict[str, float]:
    async with Client(ECHO_PARAMS, mode="legacy") as e, Client(volley_params(root), mode="legacy") as v:

        async def p50(call: Callable[[], Awaitable[Any]]) -> float:
            for _ in range(20):
                await call()
            return statistics.median([(await timed(call))[0] for _ in range(300)])

        bare = await p50(lambda: e.call_tool("echo", {"text": "x"}))
        listing = await p50(lambda: v.call_tool("list_toolchains", {}))
        small = await p50(lambda: v.call_tool("read_file", {"path": "django/__init__.py"}))
    return {"bare MCPServer echo p50": bare, "volley list_toolchains p50": listing, "volley read_file p50": small}


def cache_rows(root: Path) -> dict[str, float]:
    import anyio

    from volley.cache import LINES
    from volley.tools.read_file import read_file
    from volley.workspace import Workspace

    ws = Workspace(root)
    path = "django/db/models/query.py"

    async def cold() -> None:
        LINES.clear()
        await read_file(ws, path, offset=1000, limit=100)

    async def warm() -> None:
        await read_file(ws, path, offset=1000, limit=100)

    async def measure() -> dict[str, float]:
        return {
            "read 100 lines of query.py, cold": await median_time(cold, 50),
            "same, from the line cache": await median_time(warm, 50),
        }

    return anyio.run(measure)


# -- report ------------------------------------------------------------------------------------


def report(results: dict[str, Any]) -> str:
    ms = lambda s: f"{s * 1000:.1f} ms"  # noqa: E731
    out = [f"Measured {results['date']} on {results['machine']} with `{results['command']}`.", ""]
    out += [
        "### Parallel tool calling: one information-gathering step",
        f"Model think time {results['think_s']} s; medians of {results['agent_runs']} runs.",
        "",
        "| N | sequential | concurrent | batch | ideal parallel | speedup (concurrent) | speedup (batch) | ideal "
        "| concurrent / ideal |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["agent"]:
        out.append(
            f"| {r['n']} | {r['sequential_s']:.2f} s | {r['concurrent_s']:.2f} s | {r['batch_s']:.2f} s | "
            f"{r['ideal_parallel_s']:.2f} s | {r['speedup_concurrent']:.2f}x | {r['speedup_batch']:.2f}x | "
            f"{r['speedup_ideal']:.2f}x | {r['speedup_concurrent'] / r['speedup_ideal']:.3f} |"
        )
    out += [
        "",
        "### Eight calls of one tool at once (over stdio)",
        "",
        "The first call alone, then the 8 (different files, patterns or directories) in sequence, concurrently",
        "and in one `batch`; the bare MCPServer echo is the Python SDK's own floor for a call.",
        "",
        "| tool | one call | 8 in sequence | 8 concurrent | 8 in one batch | concurrent / one call "
        "| concurrent / sequence |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in results.get("concurrency", []):
        batch = ms(c["batch_s"]) if c.get("batch_s") is not None else "—"
        out.append(
            f"| {c['tool']} | {ms(c['one_s'])} | {ms(c['sequential_s'])} | {ms(c['concurrent_s'])} | "
            f"{batch} | {c['concurrent_s'] / c['one_s']:.1f}x | {c['concurrent_s'] / c['sequential_s']:.2f} |"
        )
    out += [
        "",
        "### Against the reference filesystem server (same tree, same client, one run)",
        "",
        "| work | Volley | reference | Volley / reference |",
        "|---|---|---|---|",
    ]
    for name, (v, r) in results["startup"].items():
        out.append(f"| {name} | {ms(v)} | {ms(r)} | {v / r:.2f} |")
    for name, pair in results["peer"].items():
        if name.startswith("_"):
            continue
        v, r = pair
        if "bytes" in name:
            out.append(f"| {name} | {v:,} | {r:,} | {v / r:.3f} |")
        else:
            out.append(f"| {name} | {ms(v)} | {ms(r)} | {v / r:.2f} |")
    out += [
        "",
        "### grep end to end over MCP against the `rg` binary",
        "",
        "Volley returns every match here (max_results and the answer budget raised) so both sets can be compared;",
        "the default answer, what a model gets, is the first 200 matches with exact totals.",
        "",
        "| pattern | Volley, all matches | Volley, default answer | rg | all / rg | default / rg | matches "
        "| same matches |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for g in results["grep"]:
        rg_s = g.get("rg_s")
        ratio = f"{g['volley_s'] / rg_s:.2f}" if rg_s else "n/a"
        capped = g.get("volley_default_s")
        ratio_capped = f"{capped / rg_s:.2f}" if rg_s and capped else "n/a"
        out.append(
            f"| `{g['pattern']}` | {ms(g['volley_s'])} | {ms(capped) if capped else 'n/a'} | "
            f"{ms(rg_s) if rg_s else 'n/a'} | {ratio} | {ratio_capped} | {g['volley_matches']} | "
            f"{g.get('same_matches', 'n/a')} |"
        )
    out += [
        "",
        f"### Scale: the same tree with {corpus.IGNORED_FILES:,} ignored files in node_modules/",
        "",
        "| work | without | with | with / without |",
        "|---|---|---|---|",
    ]
    for name, (p, h) in results["scale"].items():
        out.append(f"| {name} | {ms(p)} | {ms(h)} | {h / p:.2f} |")
    out += ["", "### Overhead, cache, memory", ""]
    for name, value in {**results["overhead"], **results["cache"]}.items():
        out.append(f"- {name}: {ms(value)}")
    out.append(f"- Volley peak RSS after the peer run: {results['peer'].get('_volley_peak_rss_mb') or 0:.0f} MB")
    if "fast_agent" in results:
        out += [
            "",
            "### A fast model (T_llm 0.15 s): N reads at once, fraction of the ideal speedup, same run",
            "",
            "| N | Volley | reference | Volley - reference |",
            "|---|---|---|---|",
        ]
        for row in results["fast_agent"]:
            v, r = row["volley"], row["reference"]
            out.append(f"| {row['n']} | {v:.3f} | {r:.3f} | {v - r:+.3f} |")
    if "imports" in results:
        out += ["", "### Where start-up goes (medians of 5)", ""]
        out += [f"- {name}: {value:.0f}" for name, value in results["imports"].items()]
    return "\n".join(out) + "\n"


def pyplot() -> Any | None:
    """matplotlib's pyplot drawing to files, or None (and why, on stderr) when it is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib)", file=sys.stderr)
        return None
    return plt


def plot(results: dict[str, Any], path: Path) -> None:
    plt = pyplot()
    if plt is None:
        return
    rows = results["agent"]
    n = [r["n"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(n, [r["sequential_s"] for r in rows], "o-", label="sequential calls")
    ax.plot(n, [r["concurrent_s"] for r in rows], "s-", label="concurrent calls")
    ax.plot(n, [r["batch_s"] for r in rows], "^-", label="one batch call")
    ax.plot(n, [r["ideal_sequential_s"] for r in rows], "k:", label="ideal N·(T_llm + T_tool)")
    ax.plot(n, [r["ideal_parallel_s"] for r in rows], "k--", label="ideal T_llm + max(T_tool)")
    ax.set_xlabel("files gathered in one step (N)")
    ax.set_ylabel("wall time (s)")
    ax.set_title(f"Gathering N files over MCP stdio (T_llm = {results['think_s']} s)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    plain = corpus.django()
    heavy = corpus.heavy(plain)
    runs = 3 if args.quick else args.runs
    think = 0.15 if args.quick else args.think
    results: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "command": "make bench" + (" ARGS=--quick" if args.quick else ""),
        "corpus": f"{plain.name} + {corpus.IGNORED_FILES} ignored files",
        "think_s": think,
        "agent_runs": runs,
    }
    print("startup…", file=sys.stderr)
    results["startup"] = await startup_rows(heavy, runs * 2)
    print("peer…", file=sys.stderr)
    results["peer"] = await peer_rows(heavy, runs * 3)
    print("grep…", file=sys.stderr)
    results["grep"] = await grep_rows(heavy, runs * 3)
    print("scale…", file=sys.stderr)
    results["scale"] = await scale_rows(plain, heavy, runs * 3)
    print("overhead…", file=sys.stderr)
    results["overhead"] = await overhead_rows(heavy)
    results["cache"] = await asyncio.to_thread(cache_rows, heavy)
    print("concurrency…", file=sys.stderr)
    results["concurrency"] = await concurrency_rows(heavy, runs * 3)
    print("agent model…", file=sys.stderr)
    results["agent"] = await agent_rows(heavy, think, runs)
    print("fast agent model, against the reference…", file=sys.stderr)
    results["fast_agent"] = await fast_agent_rows(heavy, runs)
    results["imports"] = import_breakdown()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="T_llm = 0.15 s and fewer runs")
    parser.add_argument("--think", type=float, default=1.5, help="model think time T_llm in seconds")
    parser.add_argument("--runs", type=int, default=3, help="runs per agent-model figure")
    parser.add_argument("--report-only", action="store_true", help="redo the report from the last results")
    args = parser.parse_args()
    results = (
        asyncio.run(main_async(args)) if not args.report_only else json.loads((RESULTS / "latest.json").read_text())
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2))
    (RESULTS / "latest.md").write_text(report(results))
    plot(results, RESULTS / "latest.png")
    print(report(results))


if __name__ == "__main__":
    main()
