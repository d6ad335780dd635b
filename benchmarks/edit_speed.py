"""The change-then-prove loop in the agent latency model: one edit call with lint and tests against the calls
an agent makes otherwise, and an edit's own cost against a read of the same file.

    python -m benchmarks.edit_speed [--runs 5]        # `make replay` runs it too

On itsdangerous (its ruff configuration, its pytest suite for the signer), a model that thinks T_llm before
each turn changes src/itsdangerous/signer.py and proves the change:
- one call: edit(changes, tests=[…]) answers with the introduced diagnostics and the test counts;
- three turns: edit, then run_linter, then run_tests;
- two turns: edit, then run_linter and run_tests at once (the host runs them in parallel).
Each edit is undone after its run (not timed). And on its own: an edit of a 100 KB file (no lint) against a
read_file of it, both warm.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from mcp import Client
from mcp.client.stdio import StdioServerParameters

MIRROR = Path(os.environ.get("REALWORLD_MIRRORS", "/work/.mirror")) / "pallets+itsdangerous" / "repo"
RESULTS = Path(__file__).parent / "results" / "edit_speed.json"
FILE = "src/itsdangerous/signer.py"
TESTS = ["tests/test_itsdangerous/test_signer.py"]
OLD = "    #: The default scheme to use to derive the signing key from the"  # a comment line of signer.py


async def loop_rows(client: Client, think: float, runs: int) -> dict[str, float]:
    change = {"path": FILE, "old": OLD, "new": OLD.replace("default", "usual")}
    paths: dict[str, list[float]] = {"one call": [], "three turns": [], "two turns": []}
    for _ in range(runs):
        for path in paths:
            start = time.perf_counter()
            await asyncio.sleep(think)
            if path == "one call":
                done = await client.call_tool("edit", {"changes": [change], "tests": TESTS})
            else:
                done = await client.call_tool("edit", {"changes": [change], "lint": False})
                await asyncio.sleep(think)
                if path == "three turns":
                    await client.call_tool("run_linter", {"paths": [FILE]})
                    await asyncio.sleep(think)
                    await client.call_tool("run_tests", {"targets": TESTS})
                else:
                    await asyncio.gather(
                        client.call_tool("run_linter", {"paths": [FILE]}),
                        client.call_tool("run_tests", {"targets": TESTS}),
                    )
            paths[path].append(time.perf_counter() - start)
            assert not done.is_error, done.content
            await client.call_tool("undo_edit", {"edit_id": done.structured_content["edit_id"]})
    return {path: statistics.median(times) for path, times in paths.items()}


async def big_file_rows(client: Client, root: Path, runs: int) -> dict[str, float]:
    (root / "big.py").write_text("".join(f"value_{n} = {n}  # a line of about forty chars\n" for n in range(2500)))
    reads, edits = [], []
    await client.call_tool("read_file", {"path": "big.py"})
    for n in range(runs * 4):
        start = time.perf_counter()
        await client.call_tool("read_file", {"path": "big.py"})
        reads.append(time.perf_counter() - start)
        change = {"path": "big.py", "old": f"value_{n} = {n} ", "new": f"value_{n} = {n + 1} "}
        start = time.perf_counter()
        done = await client.call_tool("edit", {"changes": [change], "lint": False})
        edits.append(time.perf_counter() - start)
        assert not done.is_error, done.content
    read, edit = statistics.median(reads), statistics.median(edits)
    return {"size_kb": (root / "big.py").stat().st_size / 1024, "read_s": read, "edit_s": edit, "ratio": edit / read}


async def run(root: Path, runs: int) -> dict[str, Any]:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "volley", "serve", "--workspace", str(root), "--set", "structured_output=true"],
        env={**os.environ, "PYTHONPATH": str(root / "src")},
    )
    async with Client(params, mode="legacy") as client:
        await client.call_tool("run_tests", {"targets": TESTS})  # warm: the first run imports everything
        results: dict[str, Any] = {}
        for think in (1.5, 0.15):
            results[f"T_llm={think}"] = await loop_rows(client, think, runs)
        results["100 KB file"] = await big_file_rows(client, root, runs)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="volley-edit-speed-") as scratch:
        root = Path(scratch) / "itsdangerous"
        root.mkdir()
        archive = subprocess.run(["git", "-C", str(MIRROR), "archive", "HEAD"], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(root)], input=archive, check=True)
        results = asyncio.run(run(root, args.runs))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1))
    print("| change, then prove it | one call (edit + lint + tests) | two turns (edit; lint ∥ tests) | three turns |")
    print("|---|---:|---:|---:|")
    for think in (1.5, 0.15):
        row = results[f"T_llm={think}"]
        print(f"| T_llm {think} s | {row['one call']:.2f} s | {row['two turns']:.2f} s | {row['three turns']:.2f} s |")
    big = results["100 KB file"]
    print(
        f"\nedit of a {big['size_kb']:.0f} KB file: {big['edit_s'] * 1000:.1f} ms, read_file of it "
        f"{big['read_s'] * 1000:.1f} ms: {big['ratio']:.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
