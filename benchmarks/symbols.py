"""The symbol tools on django, side by side in one run: `make symbols` (part of `make bench`).

- outline of a 100 KB file over MCP (cold: the file just changed; warm) against reading the whole file;
- find_symbol against `rg` for the same definition (`class X\\b`, `def x\\b`), cold (a new server) and warm;
- find_references against `rg -w`; repo_map cold, unchanged, and after a one-file edit, its size in
  tokens against its budget;
- definitions against universal-ctags (Python: classes, functions, methods);
- a token study: ten questions about django answered by scripted calls with read/grep alone and with
  the symbol tools; calls and characters (and tokens) each way, every answer checked for the fact asked.

Writes benchmarks/results/symbols.md and .json.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters

from benchmarks import corpus
from benchmarks.answer_sizes import tokenizer
from benchmarks.run import RESULTS, median_time, text, timed
from benchmarks.run import volley_params as _volley_params
from volley.symbols.extract import SymbolCache

OUTLINE_FILE = "django/db/models/query.py"
DEFINITIONS = [("QuerySet", "class"), ("ValidationError", "class"), ("get_compiler", "def"), ("as_sql", "def")]
REFERENCES = ["get_compiler", "make_hashable", "QuerySet", "resolve_expression"]
EDITED = "django/utils/hashable.py"


def volley_params(root: Path) -> Any:
    params = _volley_params(root)
    params.args.extend(["--set", "structured_output=true"])
    return params


def symbols_tree() -> Path:
    """A copy of django the benchmark may edit (repo_map after a one-file edit)."""
    tree = corpus.CACHE / "django-symbols"
    if not tree.exists():
        shutil.copytree(corpus.django(), tree)
    return tree


async def outline_rows(client: Client, root: Path, runs: int) -> dict[str, Any]:
    path = root / OUTLINE_FILE
    size = path.stat().st_size

    async def cold() -> Any:
        os.utime(path, ns=(time.time_ns(), time.time_ns()))  # a changed file: parsed again
        return await client.call_tool("outline", {"path": OUTLINE_FILE})

    original = path.stat().st_mtime_ns
    cold_s = await median_time(cold, runs)
    os.utime(path, ns=(original, original))  # an old timestamp again: its parse may be kept (git's racy rule)
    warm_s = await median_time(lambda: client.call_tool("outline", {"path": OUTLINE_FILE}), runs)
    read = {"path": OUTLINE_FILE, "limit": 100_000}
    read_s = await median_time(lambda: client.call_tool("read_file", read), runs)
    outline_chars = len(text(await client.call_tool("outline", {"path": OUTLINE_FILE})))
    read_chars = len(text(await client.call_tool("read_file", read)))
    return {
        "file": OUTLINE_FILE,
        "bytes": size,
        "cold_ms": cold_s * 1e3,
        "warm_ms": warm_s * 1e3,
        "read_ms": read_s * 1e3,
        "outline_chars": outline_chars,
        "read_chars": read_chars,
    }


def _rg(root: Path, *args: str) -> Callable[[], Awaitable[Any]]:
    argv = [shutil.which("rg") or "rg", "-n", "--no-heading", *args]
    return lambda: asyncio.to_thread(subprocess.run, argv, cwd=root, capture_output=True)


def empty_disk_cache() -> None:
    """Forget the symbols kept on disk (the benchmark's own cache directory, set in main_async)."""
    for path in Path(os.environ["VOLLEY_CACHE_DIR"]).iterdir():
        path.unlink()


async def first_call(root: Path, tool: str, arguments: dict[str, Any]) -> tuple[float, Any]:
    """A new server's first call of ``tool`` (its file index built first, as any earlier call builds it)."""
    async with Client(volley_params(root), mode="legacy") as fresh:
        await fresh.call_tool("grep", {"pattern": "volley-warm-up", "output_mode": "files"})
        return await timed(lambda: fresh.call_tool(tool, arguments))


async def find_symbol_rows(root: Path, runs: int) -> list[dict[str, Any]]:
    rows = []
    for name, keyword in DEFINITIONS:
        empty_disk_cache()
        cold, first = await first_call(root, "find_symbol", {"name": name})
        async with Client(volley_params(root), mode="legacy") as fresh:
            await fresh.call_tool("grep", {"pattern": "volley-warm-up", "output_mode": "files"})
            on_disk = (await timed(lambda n=name, c=fresh: c.call_tool("find_symbol", {"name": n})))[0]
            warm = await median_time(lambda n=name, c=fresh: c.call_tool("find_symbol", {"name": n}), runs)
        rg_s = await median_time(_rg(root, "-e", rf"{keyword} {name}\b"), runs)
        hits = first.structured_content["total"] if first.structured_content else text(first).count("\n") + 1
        rows.append(
            {
                "name": name,
                "volley_cold_s": cold,
                "volley_new_server_s": on_disk,
                "volley_warm_s": warm,
                "rg_s": rg_s,
                "definitions": hits,
            }
        )
    return rows


async def find_references_rows(client: Client, root: Path, runs: int) -> list[dict[str, Any]]:
    rows = []
    for name in REFERENCES:
        started = time.perf_counter()
        result = await client.call_tool("find_references", {"name": name})
        cold = time.perf_counter() - started
        warm = await median_time(lambda n=name: client.call_tool("find_references", {"name": n}), runs)
        rg_s = await median_time(_rg(root, "-w", "-e", name), runs)
        rg_lines = len(
            subprocess.run(["rg", "-n", "-w", "-e", name], cwd=root, capture_output=True).stdout.splitlines()
        )
        data = result.structured_content or {}
        rows.append(
            {
                "name": name,
                "volley_cold_s": cold,
                "volley_new_server_s": (await first_call(root, "find_references", {"name": name}))[0],
                "volley_warm_s": warm,
                "rg_s": rg_s,
                "uses_in_code": data.get("total_uses"),
                "in_text": data.get("in_text"),
                "rg_lines": rg_lines,
            }
        )
    return rows


async def repo_map_rows(root: Path, runs: int, tok: Any) -> dict[str, Any]:
    edited = root / EDITED
    original = edited.read_text()
    empty_disk_cache()
    try:
        async with Client(volley_params(root), mode="legacy") as client:
            small = {"path": EDITED, "limit": 20}
            await client.call_tool("read_file", small)
            alone = await median_time(lambda: client.call_tool("read_file", small), runs * 4)
            started = time.perf_counter()
            mapping = asyncio.create_task(client.call_tool("repo_map", {"max_tokens": 2048}))
            during = []
            while not mapping.done() and len(during) < 200:
                during.append((await timed(lambda: client.call_tool("read_file", small)))[0])
            result = await mapping
            cold = time.perf_counter() - started
            unchanged = await median_time(lambda: client.call_tool("repo_map", {"max_tokens": 2048}), runs)
            edits = []
            for i in range(runs):
                edited.write_text(original + f"\n\ndef volley_bench_{i}():\n    return make_hashable({i})\n")
                edits.append((await timed(lambda: client.call_tool("repo_map", {"max_tokens": 2048})))[0])
            sizes = {}
            for budget in (1024, 2048, 4096, 8192):
                answer = text(await client.call_tool("repo_map", {"max_tokens": budget}))
                sizes[budget] = len(tok.encode(answer).ids) if tok else round(len(answer) / 3.6)
    finally:
        edited.write_text(original)
    on_disk, _ = await first_call(root, "repo_map", {"max_tokens": 2048})
    return {
        "cold_s": cold,
        "new_server_s": on_disk,
        "unchanged_s": unchanged,
        "after_edit_s": statistics.median(edits),
        "small_read_alone_ms": alone * 1e3,
        "small_read_during_ms": statistics.median(during) * 1e3 if during else None,
        "small_reads_during": len(during),
        "tokens_by_budget": sizes,
        "first_lines": text(result).splitlines()[:12],
    }


def ctags_rows(root: Path) -> dict[str, Any]:
    ctags = shutil.which("ctags")
    if not ctags:
        return {"error": "universal-ctags is not installed (apt-get install universal-ctags)"}
    argv = [ctags, "-R", "--languages=Python", "--kinds-Python=cfm", "--fields=+n", "--output-format=json", "-f", "-"]
    out = subprocess.run([*argv, "."], cwd=root, capture_output=True, text=True, check=True).stdout
    tags = [json.loads(line) for line in out.splitlines()]
    theirs = {(t["path"].removeprefix("./"), t["line"], t["name"]) for t in tags if t["_type"] == "tag"}
    cache = SymbolCache()
    ours = {
        (path, d.line, d.name)
        for path in {p for p, _, _ in theirs}
        for d in cache.get(str(root / path), "python").definitions
    }
    return {
        "tags": sorted(theirs),
        "ctags": len(theirs),
        "volley": len(ours),
        "same": len(theirs & ours),
        "only_ctags": sorted(theirs - ours)[:10],
        "only_volley": sorted(ours - theirs)[:10],
    }


async def find_symbol_against_ctags(client: Client, tags: list[tuple[str, int, str]], every: int = 100) -> dict:
    """find_symbol for a sample of the names ctags lists: the same path:line for each (Python files)."""
    names = sorted({name for _, _, name in tags})[::every]
    differ = []
    for name in names:
        result = await client.call_tool("find_symbol", {"name": name, "max_results": 500})
        ours = {(h["path"], h["line"]) for h in result.structured_content["hits"] if h["path"].endswith(".py")}
        if ours != {(p, line) for p, line, n in tags if n == name}:
            differ.append(name)
    return {"names": len(names), "differ": differ}


# -- Serena, the peer that answers by symbol through language servers ---------------------------------

SERENA_VENV = corpus.CACHE / "serena-venv"


def serena_params(root: Path) -> StdioServerParameters | str:
    """Serena 2.x from PyPI (with uv, which it runs pyright through), or why it cannot run here."""
    if not (SERENA_VENV / "bin" / "serena").exists():
        subprocess.run([sys.executable, "-m", "venv", str(SERENA_VENV)], check=True)
        done = subprocess.run([str(SERENA_VENV / "bin" / "pip"), "install", "-q", "serena-agent", "uv"], check=False)
        if done.returncode:
            return "pip install serena-agent failed"
    # uvx fetches pyright from PyPI; it needs a Python 3.13 it can find (it may not download one offline)
    py313 = next(iter(Path.home().glob(".pyenv/versions/3.13*/bin")), None) or Path(sys.executable).parent
    project = root / ".serena" / "project.yml"
    project.parent.mkdir(exist_ok=True)
    project.write_text(f'project_name: "{root.name}"\nlanguage_servers: ["python"]\nencoding: "utf-8"\n')
    home = corpus.CACHE / "serena-home"
    home.mkdir(exist_ok=True)
    path = f"{SERENA_VENV / 'bin'}:{py313}:/usr/bin:/bin"  # the proxy and certificates stay in the environment
    env = {**os.environ, "HOME": str(home), "PATH": path, "UV_PYTHON_DOWNLOADS": "never"}
    args = ["start-mcp-server", "--project", str(root), "--context", "ide", "--agent-interface", "tools"]
    args += ["--enable-web-dashboard", "False"]
    return StdioServerParameters(command=str(SERENA_VENV / "bin" / "serena"), args=args, env=env)


def serena_tree() -> Path:
    tree = corpus.CACHE / "django-serena"  # its own copy: Serena writes .serena/ into the project
    if not tree.exists():
        shutil.copytree(corpus.django(), tree)
    return tree


async def serena_rows(runs: int) -> dict[str, Any]:
    root = serena_tree()
    params = serena_params(root)
    if isinstance(params, str):
        return {"error": params}
    rows: dict[str, Any] = {}
    try:
        async with Client(params, mode="legacy") as client:
            started = time.perf_counter()
            first = await client.call_tool("find_symbol", {"name_path_pattern": "QuerySet"})
            rows["first_call_s"] = time.perf_counter() - started  # starts pyright and indexes
            if first.is_error or "query.py" not in text(first):
                return {"error": f"find_symbol answered: {text(first)[:300]}"}
            for name, _ in DEFINITIONS:
                args = {"name_path_pattern": name}
                rows[f"find_symbol {name}"] = await median_time(lambda a=args: client.call_tool("find_symbol", a), runs)
            overview = {"relative_path": OUTLINE_FILE}
            rows["outline"] = await median_time(lambda: client.call_tool("get_symbols_overview", overview), runs)
            refs = {"name_path": "make_hashable", "relative_path": "django/utils/hashable.py"}
            rows["references make_hashable"] = await median_time(
                lambda: client.call_tool("find_referencing_symbols", refs), runs
            )
    except Exception as exc:  # a peer that fails is a figure too
        return {"error": f"{type(exc).__name__}: {exc}"[:300]}
    return rows


# -- the token study ------------------------------------------------------------------------------


@dataclass
class Step:
    tool: str
    args: dict[str, Any]
    read_hit_in: str | None = None  # then read a window of the file at a hit the answer gives in it
    window: int = 60
    hit: int = 0  # which of the hits in that file (the one a reader would choose)


@dataclass
class Question:
    question: str
    check: str  # a fact the answers must contain
    with_grep: list[Step]
    with_symbols: list[Step]
    notes: list[str] = field(default_factory=list)


def _g(pattern: str, read: str | None = None, path: str = ".", window: int = 60, hit: int = 0, **more: Any) -> Step:
    return Step("grep", {"pattern": pattern, "path": path, **more}, read, window, hit)


QUESTIONS = [
    Question(
        "Where is the queryset's filter defined, and what does it call?",
        "_filter_or_exclude_inplace",
        [_g(r"def filter\(", "django/db/models/query.py"), _g(r"def _filter_or_exclude\(", OUTLINE_FILE)],
        [
            Step("find_symbol", {"name": "QuerySet.filter", "include_body": True}),
            Step("find_symbol", {"name": "QuerySet._filter_or_exclude", "include_body": True}),
        ],
    ),
    Question(
        "What classes and methods does django/db/models/query.py hold?",
        "class RawQuerySet",
        [Step("read_file", {"path": OUTLINE_FILE}), Step("read_file", {"path": OUTLINE_FILE, "offset": 2001})],
        [Step("outline", {"path": OUTLINE_FILE})],
    ),
    Question(
        "Which code calls get_compiler?",
        "django/contrib/postgres/constraints.py",
        [_g(r"\bget_compiler\b", max_results=200)],
        [Step("find_references", {"name": "get_compiler"})],
    ),
    Question(
        "Where is ValidationError defined, and what methods does it have?",
        "update_error_dict",
        [_g(r"class ValidationError\b", "django/core/exceptions.py", window=110)],
        [
            Step("find_symbol", {"name": "ValidationError", "kind": "class"}),
            Step("outline", {"path": "django/core/exceptions.py"}),
        ],
    ),
    Question(
        "Which model field classes does django/db/models/fields define?",
        "BigAutoField",
        [_g(r"^class \w*Field\b", path="django/db/models/fields")],
        [Step("find_symbol", {"name": "*Field", "kind": "class", "path": "django/db/models/fields"})],
    ),
    Question(
        "What does the login view do on a valid form?",
        "auth_login",
        [_g(r"class LoginView\b", "django/contrib/auth/views.py", window=90)],
        [Step("find_symbol", {"name": "LoginView.form_valid", "include_body": True})],
    ),
    Question(
        "How does URLResolver.resolve resolve a path?",
        "Resolver404",
        [_g(r"def resolve\(", "django/urls/resolvers.py", path="django/urls", window=70, hit=1)],  # URLResolver's
        [Step("find_symbol", {"name": "URLResolver.resolve", "include_body": True})],
    ),
    Question(
        "Where are the settings loaded lazily?",
        "ENVIRONMENT_VARIABLE",
        [_g(r"def _setup\(", "django/conf/__init__.py", window=40)],
        [Step("find_symbol", {"name": "LazySettings._setup", "include_body": True})],
    ),
    Question(
        "Which functions use make_hashable?",
        "django/db/models/expressions.py",
        [_g(r"\bmake_hashable\b", max_results=200)],
        [Step("find_references", {"name": "make_hashable"})],
    ),
    Question(
        "What is in the django/db/models/sql package?",
        "class SQLCompiler",
        [
            Step("list_dir", {"path": "django/db/models/sql"}),
            *(
                Step("read_file", {"path": f"django/db/models/sql/{f}"})
                for f in ("query.py", "compiler.py", "where.py")
            ),
        ],
        [Step("outline", {"path": "django/db/models/sql"})],
    ),
]
_HIT = re.compile(r"^(?P<path>[^\s:]+):(?P<line>\d+):", re.MULTILINE)


async def run_steps(client: Client, steps: list[Step]) -> tuple[int, str]:
    calls, answers = 0, []
    for step in steps:
        answer = text(await client.call_tool(step.tool, step.args))
        calls += 1
        answers.append(answer)
        if step.read_hit_in:
            hits = [m for m in _HIT.finditer(answer) if m["path"] == step.read_hit_in]
            hit = hits[step.hit] if len(hits) > step.hit else None
            if hit is None:
                raise RuntimeError(f"{step.args}: no hit in {step.read_hit_in}")
            read = {"path": step.read_hit_in, "offset": int(hit["line"]), "limit": step.window}
            answers.append(text(await client.call_tool("read_file", read)))
            calls += 1
    return calls, "\n".join(answers)


async def token_study(client: Client, tok: Any) -> list[dict[str, Any]]:
    rows = []
    for q in QUESTIONS:
        row: dict[str, Any] = {"question": q.question}
        for label, steps in (("grep", q.with_grep), ("symbols", q.with_symbols)):
            calls, answers = await run_steps(client, steps)
            row[label] = {
                "calls": calls,
                "chars": len(answers),
                "tokens": len(tok.encode(answers).ids) if tok else None,
                "answered": q.check in answers,
            }
        rows.append(row)
    return rows


def _ms(row: dict[str, Any], *keys: str) -> str:
    return " / ".join(f"{row[k] * 1e3:.0f}" for k in keys) + " ms"


def _ratios(row: dict[str, Any], *keys: str) -> str:
    return " / ".join(f"{row[k] / row['rg_s']:.2f}x" for k in keys)


def report(r: dict[str, Any]) -> str:
    o = r["outline"]
    lines = [
        f"Symbols on {r['corpus']} ({r['machine']}), one run, {r['date']}; `make symbols`.",
        "",
        "| measure | Volley | against | ratio |",
        "|---|---|---|---|",
        f"| outline of {o['file']} ({o['bytes'] / 1024:.0f} KB), changed file | {o['cold_ms']:.1f} ms | "
        f"read_file of it {o['read_ms']:.1f} ms (its first 40,000 characters) | {o['cold_ms'] / o['read_ms']:.2f}x |",
        f"| outline, unchanged file | {o['warm_ms']:.1f} ms | | |",
        f"| outline answer | {o['outline_chars']:,} chars | the file {o['bytes']:,} bytes (read_file's default "
        f"answer: {o['read_chars']:,} chars, cut at the answer budget) | {o['outline_chars'] / o['bytes']:.1%} |",
    ]
    for row in r["find_symbol"]:
        lines.append(
            f"| find_symbol {row['name']} ({row['definitions']} definitions): first ever / new server / warm | "
            f"{_ms(row, 'volley_cold_s', 'volley_new_server_s', 'volley_warm_s')} | rg {row['rg_s'] * 1e3:.0f} ms | "
            f"{_ratios(row, 'volley_cold_s', 'volley_new_server_s', 'volley_warm_s')} |"
        )
    for row in r["find_references"]:
        lines.append(
            f"| find_references {row['name']} ({row['uses_in_code']} uses in code, {row['in_text']} in text): "
            f"first ever / new server / warm | {_ms(row, 'volley_cold_s', 'volley_new_server_s', 'volley_warm_s')} | "
            f"rg -w {row['rg_s'] * 1e3:.0f} ms ({row['rg_lines']} lines) | "
            f"{_ratios(row, 'volley_cold_s', 'volley_new_server_s', 'volley_warm_s')} |"
        )
    m = r["repo_map"]
    lines.append(
        f"| repo_map (2,048 tokens): first ever / new server / unchanged / after a one-file edit | "
        f"{m['cold_s']:.2f} s / {m['new_server_s']:.2f} s / {m['unchanged_s'] * 1e3:.0f} ms / "
        f"{m['after_edit_s'] * 1e3:.0f} ms | | |"
    )
    if m.get("small_read_during_ms"):
        lines.append(
            f"| a 20-line read_file while repo_map parses django (median of {m['small_reads_during']}) | "
            f"{m['small_read_during_ms']:.1f} ms | alone {m['small_read_alone_ms']:.1f} ms | "
            f"{m['small_read_during_ms'] / m['small_read_alone_ms']:.2f}x |"
        )
    sizes = ", ".join(f"{b:,} → {t:,}" for b, t in m["tokens_by_budget"].items())
    lines.append(f"| repo_map size, budget → tokens | {sizes} | | |")
    c = r["ctags"]
    if "error" not in c:
        lines.append(
            f"| Python definitions, same path:line:name as universal-ctags | {c['same']:,} of {c['volley']:,} | "
            f"ctags {c['ctags']:,} | only ctags {len(c['only_ctags'])}, only Volley {len(c['only_volley'])} |"
        )
        f = c["find_symbol"]
        lines.append(
            f"| find_symbol for {f['names']} of ctags' names (every 100th): same path:line | "
            f"{f['names'] - len(f['differ'])} of {f['names']} | | differ: {', '.join(f['differ']) or 'none'} |"
        )
    sr = r.get("serena", {})
    if "error" in sr:
        lines.append(f"| Serena 2.1 (pyright) | could not run: {sr['error']} | | |")
    elif sr:
        lines.append(
            f"| Serena 2.1 (pyright): first call (starts the language server) | {sr['first_call_s']:.1f} s | | |"
        )
        volley = {row["name"]: row for row in r["find_symbol"]}
        for name, _ in DEFINITIONS:
            ours = volley[name]["volley_warm_s"]
            theirs = sr[f"find_symbol {name}"]
            lines.append(
                f"| Serena find_symbol {name}, warm | {theirs * 1e3:.0f} ms | Volley {ours * 1e3:.0f} ms | "
                f"Volley {ours / theirs:.2f}x Serena |"
            )
        lines.append(
            f"| Serena get_symbols_overview {OUTLINE_FILE} | {sr['outline'] * 1e3:.0f} ms | "
            f"Volley outline {o['warm_ms']:.0f} ms | |"
        )
        lines.append(
            f"| Serena find_referencing_symbols make_hashable | {sr['references make_hashable'] * 1e3:.0f} ms | | |"
        )
    lines += ["", "Token study (calls / characters / tokens; `answered`: the fact asked is in the answers):", ""]
    lines += ["| question | read/grep | symbol tools | answered (grep / symbols) |", "|---|---|---|---|"]
    totals = {"grep": [0, 0, 0], "symbols": [0, 0, 0]}
    for row in r["token_study"]:
        cells = []
        for label in ("grep", "symbols"):
            s = row[label]
            totals[label] = [
                totals[label][0] + s["calls"],
                totals[label][1] + s["chars"],
                totals[label][2] + (s["tokens"] or 0),
            ]
            cells.append(f"{s['calls']} / {s['chars']:,} / {s['tokens'] or 0:,}")
        answered = f"{'yes' if row['grep']['answered'] else 'NO'} / {'yes' if row['symbols']['answered'] else 'NO'}"
        lines.append(f"| {row['question']} | {cells[0]} | {cells[1]} | {answered} |")
    g, s = totals["grep"], totals["symbols"]
    lines.append(f"| **total** | {g[0]} / {g[1]:,} / {g[2]:,} | {s[0]} / {s[1]:,} / {s[2]:,} | |")
    lines.append(
        f"\nWith the symbol tools: {1 - s[0] / g[0]:.0%} fewer calls, {1 - s[1] / g[1]:.0%} fewer characters"
        + (f", {1 - s[2] / g[2]:.0%} fewer tokens." if g[2] else ".")
    )
    return "\n".join(lines) + "\n"


async def main_async(runs: int) -> dict[str, Any]:
    import platform
    from datetime import UTC, datetime

    root = symbols_tree()
    tok = tokenizer()
    # symbols kept on disk go to a directory of this run's: "first ever" starts from none, and ~/.cache is left alone
    os.environ["VOLLEY_CACHE_DIR"] = tempfile.mkdtemp(prefix="volley-bench-cache-")
    results: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, Python {platform.python_version()}",
        "corpus": root.name,
    }
    async with Client(volley_params(root), mode="legacy") as client:
        await client.call_tool("grep", {"pattern": "volley-warm-up", "output_mode": "files"})  # the file index
        results["outline"] = await outline_rows(client, root, runs)
        results["find_references"] = await find_references_rows(client, root, runs)
        results["token_study"] = await token_study(client, tok)
    results["find_symbol"] = await find_symbol_rows(root, runs)
    results["repo_map"] = await repo_map_rows(root, runs, tok)
    results["serena"] = await serena_rows(runs)
    results["ctags"] = await asyncio.to_thread(ctags_rows, root)
    if "tags" in results["ctags"]:
        async with Client(volley_params(root), mode="legacy") as client:
            tags = [tuple(t) for t in results["ctags"].pop("tags")]
            results["ctags"]["find_symbol"] = await find_symbol_against_ctags(client, tags)
    return results


def main() -> None:
    results = asyncio.run(main_async(runs=5))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "symbols.json").write_text(json.dumps(results, indent=2))
    (RESULTS / "symbols.md").write_text(report(results))
    print(report(results))


if __name__ == "__main__":
    main()
