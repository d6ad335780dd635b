"""Each tool's default answer size on a real tree, against the hosts' caps: `make answers`.

The tree: the Django 5.2 sdist plus a node_modules/ of published minified bundles (jquery, lodash,
bootstrap, d3, moment, chart.js from the npm registry), not ignored, as a project that commits them
has it. Tokens are counted with the tokenizer Anthropic published (tokenizer.json in the `anthropic`
0.38 wheel, read with `tokenizers`). Every call is made twice: with the default budget and with
`limits.answer_chars=20000`. Writes benchmarks/results/answers.md.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

from mcp import Client
from mcp.client.stdio import StdioServerParameters

from benchmarks import corpus

RESULTS = Path(__file__).parent / "results"
BUNDLES = ["jquery@3.7.1", "lodash@4.17.21", "bootstrap@5.3.3", "d3@7.9.0", "moment@2.30.1", "chart.js@4.4.4"]
CAP_TOKENS = 25_000
SMALL_BUDGET = 20_000


def minified_tree() -> Path:
    """django with node_modules/ of minified bundles (cached)."""
    target = corpus.CACHE / "django-minified"
    if (target / "node_modules" / ".done").exists():
        return target
    modules = corpus.CACHE / "bundles"
    modules.mkdir(parents=True, exist_ok=True)
    subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund", *BUNDLES], cwd=modules, check=True)
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(corpus.django(), target, symlinks=True)
    shutil.copytree(modules / "node_modules", target / "node_modules", symlinks=True)
    (target / "node_modules" / ".done").write_text("")
    return target


def tokenizer() -> Any:
    """Anthropic's published tokenizer (from the anthropic 0.38 wheel), or None when it cannot be had."""
    try:
        from tokenizers import Tokenizer
    except ImportError:
        return None
    path = corpus.CACHE / "tokenizer.json"
    if not path.exists():
        wheels = corpus.CACHE / "wheels"
        pip = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "anthropic==0.38.0", "-d", str(wheels)]
        subprocess.run(pip, check=True)
        with zipfile.ZipFile(next(wheels.glob("anthropic-0.38.0-*.whl"))) as wheel:
            path.write_bytes(wheel.read("anthropic/tokenizer.json"))
    return Tokenizer.from_file(str(path))


def calls(root: Path) -> list[tuple[str, str, dict[str, Any]]]:
    py_files = sorted(root.glob("django/**/*.py"), key=lambda p: p.stat().st_size)
    largest = str(py_files[-1].relative_to(root))
    fifty = [str(p.relative_to(root)) for p in py_files[-50:]]
    return [
        ("read_file: the largest .py file", "read_file", {"path": largest}),
        ("read_file: the 50 largest .py files", "read_file", {"path": fifty}),
        ("grep 'use strict' (minified lines)", "grep", {"pattern": "use strict"}),
        ("grep 'use strict', context=50", "grep", {"pattern": "use strict", "context": 50}),
        ("grep 'def ', max_results=100000", "grep", {"pattern": "def ", "max_results": 100000}),
        (
            "grep 'import', output_mode=files",
            "grep",
            {"pattern": "import", "output_mode": "files", "max_results": 5000},
        ),
        ("list_dir depth=4", "list_dir", {"depth": 4}),
        ("list_dir glob='**/*'", "list_dir", {"glob": "**/*", "max_entries": 100000}),
        ("outline: the largest .py file", "outline", {"path": largest}),
        ("outline: the whole tree", "outline", {"path": "."}),
        ("find_symbol '*' (every definition)", "find_symbol", {"name": "*", "max_results": 500}),
        ("find_symbol 'get_*', include_body", "find_symbol", {"name": "get_*", "include_body": True}),
        ("find_references 'self', max_results=1000", "find_references", {"name": "self", "max_results": 1000}),
        ("repo_map max_tokens=20000", "repo_map", {"max_tokens": 20000}),
        ("run_linter (ruff, 7,000+ findings)", "run_linter", {}),
        ("list_toolchains", "list_toolchains", {}),
        (
            "batch: 10 greps",
            "batch",
            {
                "calls": [
                    {"tool": "grep", "arguments": {"pattern": p}}
                    for p in (
                        "def ",
                        "class ",
                        "return",
                        "import",
                        "self",
                        "None",
                        "if ",
                        "for ",
                        "raise",
                        "use strict",
                    )
                ]
            },
        ),
    ]


async def measure(root: Path, budget: int | None, count: Any) -> tuple[list[tuple[str, int, int, bool]], set[Any]]:
    extra = ["--set", f"limits.answer_chars={budget}"] if budget else []
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "volley", "serve", "--workspace", str(root), *extra], env=dict(os.environ)
    )
    rows = []
    async with Client(params, mode="legacy") as client:
        declared = {(t.meta or {}).get("anthropic/maxResultSizeChars") for t in (await client.list_tools()).tools}
        for label, tool, arguments in calls(root):
            result = await client.call_tool(tool, arguments)
            text = "\n".join(getattr(block, "text", "") for block in result.content)
            marks = ("[truncated", "[answer cut", "not read", "not shown", "more follows", "the rest:")
            cut = any(mark in text for mark in marks)
            rows.append((label, len(text), count(text), cut or result.is_error))
    return rows, declared


def main() -> None:
    root = minified_tree()
    tok = tokenizer()
    count = (lambda text: len(tok.encode(text).ids)) if tok else (lambda text: -(-len(text) // 3))
    unit = "tokens (Anthropic's published tokenizer)" if tok else "tokens (estimated: characters / 3)"
    default, declared = asyncio.run(measure(root, None, count))
    small, declared_small = asyncio.run(measure(root, SMALL_BUDGET, count))
    lines = [
        f"Each tool's answer on django 5.2 + node_modules/ of minified bundles ({', '.join(BUNDLES)});",
        f"{unit}; the cap is Claude Code's {CAP_TOKENS:,} tokens. tools/list declares "
        f"anthropic/maxResultSizeChars = {sorted(declared)} (default) and {sorted(declared_small)} "
        f"(answer_chars = {SMALL_BUDGET:,}).",
        "",
        "| call | characters | tokens | of the cap | cut, with the way to the rest | at answer_chars=20,000 |",
        "|---|---|---|---|---|---|",
    ]
    for (label, chars, tokens, cut), (_, small_chars, _, _) in zip(default, small, strict=True):
        share = f"{tokens / CAP_TOKENS:.0%}"
        lines.append(f"| {label} | {chars:,} | {tokens:,} | {share} | {'yes' if cut else 'no'} | {small_chars:,} |")
    worst = max(tokens for _, _, tokens, _ in default)
    worst_small = max(chars for _, chars, _, _ in small)
    lines += [
        "",
        f"Largest default answer: {worst:,} tokens; largest at answer_chars=20,000: {worst_small:,} characters.",
    ]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "answers.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    if worst > CAP_TOKENS or worst_small > SMALL_BUDGET:
        raise SystemExit("an answer is over its cap")


if __name__ == "__main__":
    main()
