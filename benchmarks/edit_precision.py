"""Introduced diagnostics against the linter's own runs: what edit lists equals run_linter after less before.

    python -m benchmarks.edit_precision        # `make replay` runs it after the replay

A real project (itsdangerous at its newest commit, with its own ruff configuration), each file first given
a diagnostic of its own (an unused local at its end), then edited through a real `volley serve`, 4 kinds of
edit per file, twice: an unused import at the top, an undefined name in a new function, a syntax error, and
a neutral edit that only shifts every line (and every old diagnostic) down. For each edit, run_linter on the
file before and after gives the oracle: the multiset difference of (path, code, message). The diagnostics
edit reports as introduced must equal it, no more and no fewer. Each edit is undone with undo_edit after.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from mcp import Client
from mcp.client.stdio import StdioServerParameters

MIRROR = Path(os.environ.get("REALWORLD_MIRRORS", "/work/.mirror")) / "pallets+itsdangerous" / "repo"
RESULTS = Path(__file__).parent / "results" / "edit_precision.json"
SEEDED = "\n\ndef _seeded():\n    unused_local = 1\n"


def kinds(n: int) -> dict[str, tuple[str, str]]:
    """kind → (where: top or end, text to insert)."""
    return {
        "unused import": ("top", "import colorsys\n"),
        "undefined name": ("end", f"\n\ndef _probe_{n}():\n    return undefined_{n}\n"),
        "syntax error": ("end", f"\n\ndef _broken_{n}(:\n    pass\n"),
        "neutral shift": ("top", f"# shifted {n}\n"),
    }


def keys(diagnostics: list[dict[str, Any]]) -> Counter[tuple[str, str | None, str]]:
    return Counter((d["path"], d["code"], d["message"]) for d in diagnostics)


async def run(root: Path) -> dict[str, Any]:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "volley", "serve", "--workspace", str(root), "--set", "structured_output=true", "--no-watch"],
        env=dict(os.environ),
    )
    files = sorted(str(p.relative_to(root)) for p in (root / "src").rglob("*.py")) + sorted(
        str(p.relative_to(root)) for p in (root / "tests").rglob("*.py")
    )
    rows: list[dict[str, Any]] = []
    async with Client(params, mode="legacy") as client:
        for rel in files:
            text = (root / rel).read_text()
            for n in (1, 2):
                for kind, (where, insert) in kinds(n).items():
                    before = (await client.call_tool("run_linter", {"paths": [rel]})).structured_content
                    if where == "top":
                        change = {"path": rel, "action": "overwrite", "new": insert + text}
                    else:
                        last = text.rstrip("\n").rsplit("\n", 1)[-1] + "\n"
                        change = {"path": rel, "old": last, "new": last + insert, "replace_all": False}
                        if text.count(last) != 1:
                            change = {"path": rel, "action": "overwrite", "new": text + insert}
                    edited = await client.call_tool("edit", {"changes": [change]})
                    if edited.is_error:
                        rows.append({"file": rel, "kind": kind, "error": edited.content[0].text[:200]})
                        continue
                    result = edited.structured_content
                    after = (await client.call_tool("run_linter", {"paths": [rel]})).structured_content
                    oracle = keys(after["diagnostics"]) - keys(before["diagnostics"])
                    reported = keys(result["lint"]["introduced"])
                    rows.append(
                        {
                            "file": rel,
                            "kind": kind,
                            "oracle": sum(oracle.values()),
                            "reported": sum(reported.values()),
                            "equal": oracle == reported and result["lint"]["introduced_total"] == sum(oracle.values()),
                            "complete": not before["truncated"] and not after["truncated"],
                            "preexisting": result["lint"]["preexisting"],
                        }
                    )
                    undone = await client.call_tool("undo_edit", {"edit_id": result["edit_id"]})
                    assert not undone.is_error, undone.content
    by_kind: dict[str, Counter[str]] = {}
    for row in rows:
        c = by_kind.setdefault(row["kind"], Counter())
        c["edits"] += 1
        c["equal"] += bool(row.get("equal"))
        c["introduced"] += row.get("oracle", 0)
        c["errors"] += "error" in row
    return {"rows": rows, "by_kind": {k: dict(v) for k, v in by_kind.items()}}


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="volley-precision-") as scratch:
        root = Path(scratch) / "itsdangerous"
        root.mkdir()
        archive = subprocess.run(["git", "-C", str(MIRROR), "archive", "HEAD"], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(root)], input=archive, check=True)
        for path in list((root / "src").rglob("*.py")) + list((root / "tests").rglob("*.py")):
            path.write_text(path.read_text() + SEEDED)  # a diagnostic of the file's own, before any edit
        results = asyncio.run(run(root))
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1))
    print("| edit | edits | introduced (linter's before/after) | reported exactly |")
    print("|---|---:|---:|---:|")
    total = Counter()
    for kind, c in results["by_kind"].items():
        total.update(c)
        print(f"| {kind} | {c['edits']} | {c['introduced']} | {c['equal']} of {c['edits']} |")
    print(f"| **all** | {total['edits']} | {total['introduced']} | {total['equal']} of {total['edits']} |")
    for row in results["rows"]:
        if not row.get("equal"):
            print("DIFFERENT", row)
    return 0 if total["equal"] == total["edits"] else 1


if __name__ == "__main__":
    sys.exit(main())
