"""A synthetic monorepo at 50k and 200k visible files, Volley side by side with `rg`: `make monorepo`.

The generator is deterministic: packages of TypeScript and Python sources in nested directories, a
`.gitignore` at the root and in every tenth package, and per package an ignored `node_modules/` and
`dist/` (half again as many files as the visible ones, in many directories). Rows, one run per size:
the first call of a new server (glob, grep) against `rg --files` and `rg`, warm calls, a grep after one
file edited, a glob after one file created, a grep after 1,000 files rewritten as `git checkout` does
(removed and written anew), the inotify watches held against
the visible directories, and the server's peak RSS. Writes benchmarks/results/monorepo.md and .json.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from mcp import Client

from benchmarks import corpus
from benchmarks.run import RESULTS, median_time, peak_rss_mb, pyplot, server_pid, text, volley_params
from tests.conftest import inotify_watches  # the tests' count, so both read it alike

SIZES = [int(s) for s in os.environ.get("MONOREPO_SIZES", "50000,200000").split(",")]
FILES_PER_DIR = 12
PATTERN = "TODO\\(volley\\)"  # in about one file in a thousand
RG_FLAGS = ["--hidden", "--no-require-git", "-g", "!.git"]  # what Volley searches: hidden files too


def generate(visible: int) -> Path:
    """The tree (made once, then cached): ``visible`` files that ignore rules leave, and half as many hidden."""
    root = corpus.CACHE / f"monorepo-{visible}"
    if (root / ".complete").exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    rng = random.Random(visible)
    (root).mkdir(parents=True)
    (root / ".gitignore").write_text("node_modules/\ndist/\n*.log\n.cache/\n")
    made, package = 0, 0
    while made < visible:
        pkg = root / "packages" / f"pkg{package:04}"
        if package % 10 == 0:
            (pkg).mkdir(parents=True, exist_ok=True)
            (pkg / ".gitignore").write_text("coverage/\n*.tmp\n!keep.tmp\n")
        for d in range(rng.randint(4, 12)):
            sub = pkg / "src" / f"area{d}" / ("deep" if d % 3 == 0 else "")
            sub.mkdir(parents=True, exist_ok=True)
            for f in range(FILES_PER_DIR):
                ext = "ts" if (d + f) % 3 else "py"
                marker = "// TODO(volley): look here\n" if rng.random() < 0.001 else ""
                (sub / f"mod{f}.{ext}").write_text(
                    f"export const v{f} = {made};\n{marker}" + "x = 1\n" * rng.randint(5, 60)
                )
                made += 1
        (pkg / "package.json").write_text(f'{{"name": "pkg{package}"}}\n')
        made += 1
        hidden = [f"node_modules/dep{i}/{part}" for i in range(3) for part in ("lib", "types")] + [
            "dist/js",
            "dist/types",
        ]
        for hidden_dir in hidden:  # about half as many ignored files as visible ones
            h = pkg / hidden_dir
            h.mkdir(parents=True, exist_ok=True)
            for f in range(6):
                (h / f"f{f}.js").write_text("TODO(volley) in an ignored file\n")
        package += 1
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / ".complete").write_text(str(made))
    return root


def _drop_caches() -> bool:
    """Empty the kernel's page, dentry and inode caches (root only), so that first calls read the disk."""
    try:
        subprocess.run(["sync"], check=True)
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def _rg(root: Path, *args: str) -> float:
    started = time.perf_counter()
    subprocess.run(["rg", *args], cwd=root, capture_output=True)
    return time.perf_counter() - started


async def size_rows(visible: int, runs: int) -> dict[str, Any]:
    root = generate(visible)
    files = subprocess.run(["rg", *RG_FLAGS, "--files"], cwd=root, capture_output=True, text=True).stdout.splitlines()
    row: dict[str, Any] = {"visible_files": len(files), "visible_dirs": _directories(files)}
    glob = {"glob": "**/package.json", "max_entries": 100_000}
    grep = {"pattern": PATTERN, "max_results": 100_000}
    row["caches_dropped"] = _drop_caches()
    row["rg_cold_s"] = _rg(root, *RG_FLAGS, "-n", PATTERN)
    async with Client(volley_params(root, whole=True), mode="legacy") as client:
        _drop_caches()  # the first call of each reads the tree from disk
        started = time.perf_counter()
        await client.call_tool("grep", grep)
        row["first_grep_s"] = time.perf_counter() - started
        row["rg_s"] = min(_rg(root, *RG_FLAGS, "-n", PATTERN) for _ in range(runs))
        row["rg_files_s"] = min(_rg(root, *RG_FLAGS, "--files") for _ in range(runs))
        row["warm_grep_s"] = await median_time(lambda: client.call_tool("grep", grep), runs)
        row["warm_glob_s"] = await median_time(lambda: client.call_tool("list_dir", glob), runs)
        answer = text(await client.call_tool("list_dir", glob))
        row["glob_matches"] = answer.count("package.json")
        one = root / "packages/pkg0000/src/area1/mod1.ts"
        original = one.read_text()
        one.write_text(original + "// changed\n")
        started = time.perf_counter()
        await client.call_tool("grep", grep)
        row["grep_after_one_change_s"] = time.perf_counter() - started
        one.write_text(original)
        await client.call_tool("list_dir", glob)
        created = root / "packages/pkg0000/src/area1/package.json"  # a new entry: its directory is read again
        created.write_text("{}\n")
        started = time.perf_counter()
        answer = text(await client.call_tool("list_dir", glob))
        row["glob_after_create_s"] = time.perf_counter() - started
        row["glob_after_create_seen"] = "packages/pkg0000/src/area1/package.json" in answer
        created.unlink()
        changed = sorted(root.glob("packages/pkg00[0-9]*/src/area*/mod*.ts"))[:1000]
        for path in changed:  # as git checkout does: each file removed and written anew (a new inode)
            content = path.read_text()
            path.unlink()
            path.write_text(content + "// checkout\n")
        started = time.perf_counter()
        await client.call_tool("grep", grep)
        row["grep_after_1000_changed_s"] = time.perf_counter() - started
        for path in changed:
            path.write_text(path.read_text().removesuffix("// checkout\n"))
        await asyncio.sleep(0)  # the watcher settles in its own thread; the next call proves the index anyway
        row["rss_mb"] = peak_rss_mb(server_pid(str(root)))  # before the four greps at once below
        small = {"path": "packages/pkg0000/package.json"}
        row["small_read_alone_ms"] = await median_time(lambda: client.call_tool("read_file", small), runs * 5) * 1e3
        heavy = [asyncio.create_task(client.call_tool("grep", {**grep, "pattern": f"x{i} = 1"})) for i in range(4)]
        during: list[float] = []
        while not all(task.done() for task in heavy) and len(during) < 500:
            started = time.perf_counter()
            await client.call_tool("read_file", small)
            during.append(time.perf_counter() - started)
        await asyncio.gather(*heavy)
        during.sort()
        row["small_read_during_ms"] = during[len(during) // 2] * 1e3 if during else None
        row["small_read_during_p90_ms"] = during[int(len(during) * 0.9)] * 1e3 if during else None
        row["small_read_during_max_ms"] = during[-1] * 1e3 if during else None
        row["small_reads_during"] = len(during)
        pid = server_pid(str(root))
        row["watches"] = inotify_watches(pid) if pid else None
        row["peak_rss_mb"] = peak_rss_mb(pid)
    return row


def _directories(files: list[str]) -> int:
    """The directories holding the visible files (with the root): what the watcher may watch."""
    dirs = {""}
    for path in files:
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    return len(dirs)


def report(results: dict[str, Any]) -> str:
    lines = [
        f"Synthetic monorepo ({results['machine']}), one run per size, {results['date']}; `make monorepo`.",
        "",
        "| visible files (dirs) | first grep / rg, caches dropped | warm grep / rg | warm glob (rg --files) "
        "| grep after 1 file edited | glob after 1 file created "
        "| grep after 1,000 files checked out | inotify watches | peak RSS (4 greps at once) "
        "| small read: alone / during 4 greps (median, p90, max) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["sizes"]:
        first, warm = r["first_grep_s"] / r["rg_cold_s"], r["warm_grep_s"] / r["rg_s"]
        lines.append(
            f"| {r['visible_files']:,} ({r['visible_dirs']:,}) | {r['first_grep_s']:.2f} s / {r['rg_cold_s']:.2f} s "
            f"({first:.2f}x) | {r['warm_grep_s']:.2f} s / {r['rg_s']:.2f} s ({warm:.2f}x) | "
            f"{r['warm_glob_s'] * 1e3:.0f} ms "
            f"({r['rg_files_s'] * 1e3:.0f} ms) | {r['grep_after_one_change_s']:.2f} s | "
            f"{r['glob_after_create_s'] * 1e3:.0f} ms{'' if r['glob_after_create_seen'] else ' (NOT SEEN)'} | "
            f"{r['grep_after_1000_changed_s']:.2f} s | {r['watches']:,} | {r['rss_mb']:.0f} MB "
            f"({r['peak_rss_mb']:.0f} MB) | "
            f"{r['small_read_alone_ms']:.1f} / {r['small_read_during_ms']:.1f}, "
            f"{r['small_read_during_p90_ms']:.1f}, {r['small_read_during_max_ms']:.0f} ms |"
        )
    return "\n".join(lines) + "\n"


def plot(results: dict[str, Any], path: Path) -> None:
    """Cost against tree size, Volley beside rg."""
    plt = pyplot()
    if plt is None:
        return
    rows = results["sizes"]
    x = [r["visible_files"] / 1000 for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(x, [r["first_grep_s"] for r in rows], "o-", label="Volley grep, new server")
    ax.plot(x, [r["warm_grep_s"] for r in rows], "s-", label="Volley grep, warm")
    ax.plot(x, [r["rg_s"] for r in rows], "k--", label="rg")
    ax.plot(x, [r["warm_glob_s"] for r in rows], "^-", label="Volley glob, warm")
    ax.plot(x, [r["rg_files_s"] for r in rows], "k:", label="rg --files")
    ax.set_xlabel("visible files (thousands)")
    ax.set_ylabel("wall time (s)")
    ax.set_title("Synthetic monorepo: cost against tree size (2 cores)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


async def main_async() -> dict[str, Any]:
    import platform
    from datetime import UTC, datetime

    results: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, Python {platform.python_version()}",
        "sizes": [],
    }
    for size in SIZES:
        print(f"monorepo {size:,}…", file=sys.stderr, flush=True)
        results["sizes"].append(await size_rows(size, runs=3))
    return results


def main() -> None:
    results = asyncio.run(main_async())
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "monorepo.json").write_text(json.dumps(results, indent=2))
    (RESULTS / "monorepo.md").write_text(report(results))
    plot(results, RESULTS / "monorepo.png")
    print(report(results))


if __name__ == "__main__":
    main()
