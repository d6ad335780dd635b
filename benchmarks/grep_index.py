"""grep through the content index at scale, beside grep reading every file and beside `rg`: `make grep-index`.

On the synthetic monorepo (benchmarks/monorepo.py's generator; GREP_INDEX_SIZES, default 200000 visible files),
with REAL_TREE=1 on Linux, GCC and binutils side by side (benchmarks/real_tree.py: 220,967 files) and, with
REALWORLD=1, Volley's own .venv/lib (published packages: many files, much text); on the real trees PATTERNS
(1,000) patterns drawn from the tree are also checked against `rg -l`, file for file. One run per tree,
side by side: the build on one core (in-process, the file index already walked) against one `rg` pass, the
text taken in and the store on disk; over MCP, a warm selective grep (a pattern in about one file in a
thousand) through the index, reading every file (grep_index=off) and by `rg`; a grep right after one file is
edited (it must see each edit: the median of RUNS edits, each adding the pattern or taking it out); a pattern
with no trigram; a new server's first grep, right after its handshake and after a pause (a model's first turn:
the index resumes at the handshake), with the store and the file index's walk on disk (it proves the walk,
loads the table and states every file once; with JOURNAL=1, a watchman daemon of the run's own watches each tree
and a new server proves the table by its journal instead); the servers' peak RSS. Writes
benchmarks/results/grep_index.json and .md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mcp import Client
from mcp.client.stdio import StdioServerParameters

from benchmarks.monorepo import RG_FLAGS, generate
from benchmarks.real_tree import SELECTIVE, real_tree
from benchmarks.run import RESULTS, median_time, peak_rss_mb, server_pid, text
from tests.test_ngram_plan import TRICKY_PATTERNS, _patterns
from volley.index import visible_files
from volley.journal import Journal
from volley.ngram.content import ContentIndex
from volley.ngram.store import Store
from volley.workspace import Workspace

SIZES = [int(s) for s in os.environ.get("GREP_INDEX_SIZES", "200000").split(",") if s]
RUNS = 5
REAL_TREE_NAME = "Linux 6.1 + GCC 12.2 + binutils 2.40"
RG = ["rg", *RG_FLAGS, "--no-ignore-parent"]  # a tree inside a venv: its parent's .gitignore says `*`


def _params(root: Path, mode: str, cache: str) -> StdioServerParameters:
    env = {**os.environ, "VOLLEY_CACHE_DIR": cache}
    argv = ["-m", "volley", "serve", "--workspace", str(root), "--set", f"grep_index={mode}"]
    argv += ["--set", "limits.answer_chars=1000000000"]  # whole answers, to compare with rg's
    argv += ["--set", "concurrency.call_timeout_s=3600"]  # eager: the first grep waits for the build
    return StdioServerParameters(command=sys.executable, args=argv, env=env)


def _rg(root: Path, pattern: str) -> float:
    best = float("inf")
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run([*RG, "-n", pattern], cwd=root, capture_output=True)
        best = min(best, time.perf_counter() - started)
    return best


def _build(root: Path, cache: str) -> dict[str, Any]:
    """The build alone, in-process, the walk done before it; the store left in ``cache`` for the servers."""
    os.environ["VOLLEY_CACHE_DIR"] = cache
    ws = Workspace(root, flags={"grep_index": "eager"})
    files = visible_files(ws, ws.resolve("."))
    index = ContentIndex(ws)
    index._journal = Journal.of(str(root))  # (with JOURNAL=1: the table is kept with watchman's clock)
    index.store = Store(index.directory)
    index._writer = index.store.writer()
    started, used = time.perf_counter(), _cpu_s()
    index._build()
    took = time.perf_counter() - started
    writer, index._writer = index._writer, None
    writer.wait_merging_threads()  # (its lock released: the servers take the store up from here)
    cpu = _cpu_s() - used  # every thread's: tantivy indexes on one of its own
    text_bytes = sum(os.path.getsize(root / rel) for rel in files if os.path.isfile(root / rel))
    store = sum(f.stat().st_size for f in index.directory.rglob("*") if f.is_file())
    built = {"build_s": took, "build_cpu_s": cpu, "store_mb": store / 1e6}
    return {"files": len(files), "text_mb": text_bytes / 1e6, **built}


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def _journal(root: Path) -> Iterator[None]:
    """With JOURNAL=1, a watchman daemon of the run's own watching ``root`` (the servers find it by
    WATCHMAN_SOCK), stopped afterwards; nothing otherwise."""
    if not os.environ.get("JOURNAL"):
        yield
        return
    state = Path(tempfile.mkdtemp(prefix="wm-"))
    argv = ["watchman", f"--sockname={state}/sock", f"--statefile={state}/state", f"--logfile={state}/log"]
    os.environ["WATCHMAN_SOCK"] = f"{state}/sock"
    try:
        done = subprocess.run([*argv, "--no-save-state", "watch-project", str(root)], capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"watchman could not watch {root}: {done.stdout}{done.stderr}")
        yield
    finally:
        subprocess.run([*argv, "shutdown-server"], capture_output=True)
        del os.environ["WATCHMAN_SOCK"]
        shutil.rmtree(state, ignore_errors=True)


async def tree_row(name: str, root: Path, selective: str) -> dict[str, Any]:
    with _journal(root):
        row = await _tree_row(name, root, selective)
    row["journal"] = bool(os.environ.get("JOURNAL"))
    return row


async def _tree_row(name: str, root: Path, selective: str) -> dict[str, Any]:
    row: dict[str, Any] = {"tree": name}
    edited = root / "volley-bench-edit.txt"  # the benchmark's own file, edited once the index holds it
    edited.write_text("a file the benchmark edits\n")
    grep = {"pattern": selective, "max_results": 100_000, "output_mode": "files"}
    none = {"pattern": r"\d{9}", "max_results": 100_000, "output_mode": "files"}
    with tempfile.TemporaryDirectory(prefix="volley-gi-") as cache:
        subprocess.run([*RG, "-c", "zq(x|y)zq"], cwd=root, capture_output=True)  # both read from the page cache
        row |= _build(root, cache)
        started = time.perf_counter()
        subprocess.run([*RG, "-c", "zq(x|y)zq"], cwd=root, capture_output=True)
        row["rg_pass_s"] = time.perf_counter() - started
        row["rg_selective_s"] = _rg(root, selective)
        row["rg_no_gram_s"] = _rg(root, r"\d{9}")
        async with Client(_params(root, "off", cache), mode="legacy") as client:
            await client.call_tool("grep", grep)
            row["every_file_s"] = await median_time(lambda: client.call_tool("grep", grep), RUNS)
        async with Client(_params(root, "eager", cache), mode="legacy") as client:
            expected = text(await client.call_tool("grep", grep))
            row["index_warm_s"] = await median_time(lambda: client.call_tool("grep", grep), RUNS)
            row["index_no_gram_s"] = await median_time(lambda: client.call_tool("grep", none), RUNS)
            name, took, seen = str(edited.relative_to(root)), [], name not in expected
            for run in range(RUNS):  # each edit in turn adds the pattern to the file or takes it out
                edited.write_text(f"// {selective.replace(chr(92), '')} added\n" if run % 2 == 0 else "taken out\n")
                started = time.perf_counter()
                after = text(await client.call_tool("grep", grep))
                took.append(time.perf_counter() - started)
                seen = seen and (name in after) == (run % 2 == 0)
            row["after_edit_s"], row["edit_seen"] = statistics.median(took), seen
            edited.unlink()
            row["rss_mb"] = peak_rss_mb(server_pid(str(root)))
        async with Client(_params(root, "off", cache), mode="legacy") as client:  # no index: every file read
            started = time.perf_counter()
            await client.call_tool("grep", grep)
            row["new_server_off_first_s"] = time.perf_counter() - started
        async with Client(_params(root, "auto", cache), mode="legacy") as client:  # the default
            started = time.perf_counter()
            await client.call_tool("grep", grep)
            row["new_server_first_s"] = time.perf_counter() - started
            row["new_server_second_s"] = await median_time(lambda: client.call_tool("grep", grep), RUNS)
            row["new_server_rss_mb"] = peak_rss_mb(server_pid(str(root)))
            row["new_server_rss_now_mb"] = peak_rss_mb(server_pid(str(root)), "VmRSS")
        async with Client(_params(root, "auto", cache), mode="legacy") as client:
            row["turn_s"] = max(3.0, 2 * row["new_server_first_s"])  # a model's first turn: the index resumes
            await asyncio.sleep(row["turn_s"])
            started = time.perf_counter()
            await client.call_tool("grep", grep)
            row["new_server_after_turn_s"] = time.perf_counter() - started
    return row


async def exactness(root: Path, count: int, suffix: str = ".py") -> dict[str, Any]:
    """``count`` patterns drawn from the tree's ``suffix`` files (tests/test_ngram_plan.py's generator): the
    files a grep through the index names equal the files `rg -l` names among the visible ones, pattern by
    pattern."""
    ws = Workspace(root)
    visible = set(visible_files(ws, ws.resolve(".")))
    sample = sorted(rel for rel in visible if rel.endswith(suffix))[::50]
    texts = [(root / rel).read_text("utf-8", "replace") for rel in sample]
    patterns = TRICKY_PATTERNS + _patterns(texts, random.Random(1), count)
    differing: list[str] = []
    checked = 0
    with tempfile.TemporaryDirectory(prefix="volley-gi-") as cache:
        async with Client(_params(root, "eager", cache), mode="legacy") as client:
            for pattern in patterns:
                argv = [*RG, "--no-config", "--no-ignore", "-l", "-e", pattern, "."]
                done = subprocess.run(argv, cwd=root, capture_output=True)
                if done.returncode == 2:
                    continue
                theirs = {line[2:] for line in done.stdout.decode("utf-8", "surrogateescape").splitlines()} & visible
                args = {"pattern": pattern, "output_mode": "files", "max_results": 1_000_000}
                answer = await client.call_tool("grep", args)
                mine = set() if "no matches in" in text(answer) else set(text(answer).splitlines())
                checked += 1
                if mine != theirs:
                    differing.append(pattern)
    return {"patterns": checked, "differing": differing}


def report(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| tree | files | text | build (CPU) / rg pass | store | warm grep: index / every file / rg | "
        "after an edit (seen) | no trigram: index / rg | "
        "new server: first grep at once (no index) / after a turn / second | "
        "RSS: built (peak) / new server (peak, serving) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['tree']}{' (watchman)' if r.get('journal') else ''} | {r['files']:,} | {r['text_mb']:.0f} MB | "
            f"{r['build_s']:.1f} s ({r['build_cpu_s']:.1f} s) / {r['rg_pass_s']:.2f} s "
            f"({r['build_s'] / r['rg_pass_s']:.0f}x) | {r['store_mb']:.0f} MB ({r['store_mb'] / r['text_mb']:.2f}x) | "
            f"{r['index_warm_s'] * 1e3:.0f} / {r['every_file_s'] * 1e3:.0f} / {r['rg_selective_s'] * 1e3:.0f} ms | "
            f"{r['after_edit_s'] * 1e3:.0f} ms ({'yes' if r['edit_seen'] else 'NO'}) | "
            f"{r['index_no_gram_s'] * 1e3:.0f} / {r['rg_no_gram_s'] * 1e3:.0f} ms | "
            f"{r['new_server_first_s']:.2f} s ({r['new_server_off_first_s']:.2f} s) / "
            f"{r['new_server_after_turn_s'] * 1e3:.0f} ms "
            f"({r['turn_s']:.0f} s) / "
            f"{r['new_server_second_s'] * 1e3:.0f} ms | {r['rss_mb'] or 0:.0f} / {r['new_server_rss_mb'] or 0:.0f}, "
            f"{r.get('new_server_rss_now_mb') or 0:.0f} MB |"
        )
    return "\n".join(lines)


async def exactness_only() -> list[dict[str, Any]]:
    """EXACTNESS_ONLY=1: the real tree's pattern check alone (PATTERNS, default 1,000; ~45 min), set on its
    kept row (its timings left as they were)."""
    kept = RESULTS / "grep_index.json"
    rows = [row for row in json.loads(kept.read_text()) if row["tree"] == REAL_TREE_NAME]
    if not rows:
        raise SystemExit("no real tree row yet: run `make grep-index-real` first")
    rows[0]["exactness"] = await exactness(real_tree(), int(os.environ.get("PATTERNS", "1000")), ".c")
    print(rows[0]["exactness"], file=sys.stderr)
    return rows


async def main_async() -> list[dict[str, Any]]:
    if os.environ.get("EXACTNESS_ONLY"):
        return await exactness_only()
    rows = []
    for size in SIZES:
        rows.append(await tree_row(f"monorepo {size:,}", generate(size), "TODO\\(volley\\)"))
        print(report(rows), file=sys.stderr)
    if os.environ.get("REAL_TREE"):
        tree = real_tree()
        rows.append(await tree_row(REAL_TREE_NAME, tree, SELECTIVE))
        rows[-1]["exactness"] = await exactness(tree, int(os.environ.get("PATTERNS", "1000")), ".c")
        print(report(rows), rows[-1]["exactness"], file=sys.stderr)
    if os.environ.get("REALWORLD"):
        venv = Path(sys.prefix) / "lib"
        rows.append(await tree_row("Volley's .venv/lib", venv, "def model_json_schema"))
        rows[-1]["exactness"] = await exactness(venv, int(os.environ.get("PATTERNS", "1000")))
        print(rows[-1]["exactness"], file=sys.stderr)
    return rows


def main() -> None:
    rows = asyncio.run(main_async())
    RESULTS.mkdir(exist_ok=True)
    kept = RESULTS / "grep_index.json"  # a run replaces the rows of the trees it measured, keeps the others'
    earlier = json.loads(kept.read_text()) if kept.exists() else []
    measured = {row["tree"] for row in rows}
    rows = [row for row in earlier if row["tree"] not in measured] + rows
    kept.write_text(json.dumps(rows, indent=2))
    (RESULTS / "grep_index.md").write_text(report(rows))
    print(report(rows))


if __name__ == "__main__":
    main()
