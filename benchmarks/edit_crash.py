"""Crash safety of edit: multi-file edits with the server killed (SIGKILL) at random moments.

    python -m benchmarks.edit_crash [--edits 200]      # `make replay` runs it too

Each round starts `volley serve`, sends one edit that overwrites 8 files of ~256 KB each (generation g →
g+1), and kills the server with SIGKILL: half the rounds at a random moment after the call is sent, half a
random moment after the edit's journal appears (inside the writes). A new server then starts on the workspace
(`volley call list_dir`, which completes an interrupted edit first). Every file must then be wholly one
generation, all files the same one, and no temporary file left.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

FILES = 8
LINES = 16_000  # ~256 KB a file


def content(generation: int) -> str:
    return f"generation {generation:06d}\n" * LINES


def check(root: Path) -> int | str:
    generations = set()
    for n in range(FILES):
        lines = set((root / f"f{n}.txt").read_text().splitlines())
        if len(lines) != 1:
            return f"f{n}.txt is torn"
        generations.add(lines.pop())
    if len(generations) != 1:
        return f"files disagree: {sorted(generations)}"
    if list(root.glob(".volley-edit-*")):
        return "a temporary file was left"
    return int(generations.pop().split()[1])


def one_round(root: Path, env: dict[str, str], journals: Path, generation: int, rng: random.Random) -> str:
    server = subprocess.Popen(
        [sys.executable, "-m", "volley", "serve", "--workspace", str(root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    assert server.stdin is not None and server.stdout is not None
    hello = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "crash", "version": "1"},
        },
    }
    server.stdin.write((json.dumps(hello) + "\n").encode())
    server.stdin.flush()
    server.stdout.readline()
    server.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
    changes = [{"path": f"f{n}.txt", "action": "overwrite", "new": content(generation + 1)} for n in range(FILES)]
    call = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "edit", "arguments": {"changes": changes, "lint": False}},
    }
    server.stdin.write((json.dumps(call) + "\n").encode())
    server.stdin.flush()
    when = "after the call"
    if rng.random() < 0.5:
        when = "inside the writes"
        deadline = time.monotonic() + 10
        while not any(journals.rglob("*.json")) and time.monotonic() < deadline and server.poll() is None:
            pass
    time.sleep(rng.uniform(0, 0.4))
    server.send_signal(signal.SIGKILL)
    server.wait()
    return when


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=200)
    args = parser.parse_args()
    rng = random.Random(20261202)
    tally: Counter[str] = Counter()
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="volley-crash-") as scratch:
        root, cache = Path(scratch) / "ws", Path(scratch) / "cache"
        root.mkdir()
        for n in range(FILES):
            (root / f"f{n}.txt").write_text(content(0))
        env = {**os.environ, "VOLLEY_CACHE_DIR": str(cache)}
        journals = cache / "journals"
        generation = 0
        for _ in range(args.edits):
            when = one_round(root, env, journals, generation, rng)
            left = [json.loads(j.read_text())["state"] for j in journals.rglob("*.json")]
            listed = subprocess.run(
                [sys.executable, "-m", "volley", "call", "list_dir", "{}", "--workspace", str(root)],
                env=env,
                capture_output=True,
                text=True,
            )
            if listed.returncode != 0:
                failures.append(f"the next server failed: {listed.stderr[-2000:]}")
                break
            state = check(root)
            if isinstance(state, str):
                failures.append(state)
                tally["broken"] += 1
                break
            outcome = "old" if state == generation else "new" if state == generation + 1 else "other"
            found = f" (a journal '{left[0]}' found at restart)" if left else ""
            tally[f"{when}: {outcome}{found}"] += 1
            generation = state
    print(f"{args.edits} multi-file edits ({FILES} files of ~256 KB), server killed with SIGKILL:")
    for key, count in sorted(tally.items()):
        print(f"  {count:4d}  {key}")
    for failure in failures:
        print("BROKEN:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
