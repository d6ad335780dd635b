"""Fixtures: workspaces built in tmp_path, and a real `volley serve` subprocess spoken to over stdio."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from volley.platform import INOTIFY
from volley.stat_keys import RACY_NS

# Tests of the inotify proof itself: Linux's path; portable mode (VOLLEY_PORTABLE=1) proves listings by stat,
# which the rest of the suite exercises there.
needs_inotify = pytest.mark.skipif(not INOTIFY, reason="the inotify proof itself (portable mode proves by stat)")

SECRET = "TOP-SECRET-VALUE-41"
# The server finds ruff, pytest and python3 on PATH as a user's shell would: this venv's bin comes first.
SERVER_ENV = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")}
# Symbols kept on disk go to a directory of this test session's, not the user's ~/.cache.
os.environ["VOLLEY_CACHE_DIR"] = SERVER_ENV["VOLLEY_CACHE_DIR"] = tempfile.mkdtemp(prefix="volley-test-cache-")
atexit.register(shutil.rmtree, os.environ["VOLLEY_CACHE_DIR"], ignore_errors=True)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def write(root: Path, rel: str, content: str | bytes = "") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def settle(path: Path) -> None:
    """Wait until the file's ctime is old enough for a stat to prove it unchanged (RACY_NS): no call can set a
    ctime back, so a cache keeps a file only once this much time has passed since it was written."""
    time.sleep(max(0.0, (path.stat().st_ctime_ns + RACY_NS - time.time_ns()) / 1e9) + 0.05)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory next to the workspace, with a file the server must never show."""
    out = tmp_path / "outside"
    write(out, "secret.txt", f"{SECRET}\n")
    return out


@pytest.fixture
def project(tmp_path: Path, outside: Path) -> Path:
    """A workspace with nested ignore rules, secrets, binaries, symlinks in and out."""
    ws = tmp_path / "ws"
    write(ws, ".gitignore", "*.log\n!keep.log\nbuild/\n/anchored.txt\nnode_modules/\n")
    write(ws, ".ignore", "scratch/\n")
    write(ws, "src/app.py", "def main():\n    return 'hello'\n\n\ndef get_value(x):\n    return x\n")
    write(ws, "src/util.py", "import os\n\ndef get_path():\n    return os.getcwd()\n")
    write(ws, "src/.gitignore", "gen/\n!important.log\n")
    write(ws, "src/gen/out.py", "def get_generated():\n    pass\n")
    write(ws, "src/important.log", "hello from an important log\n")
    write(ws, "debug.log", "hello from a debug log\n")
    write(ws, "keep.log", "hello from keep.log\n")
    write(ws, "anchored.txt", "hello anchored\n")
    write(ws, "sub/anchored.txt", "hello not anchored\n")
    write(ws, "build/artifact.txt", "hello build\n")
    write(ws, "node_modules/pkg/index.js", "function hello() {}\n")
    write(ws, "scratch/notes.txt", "hello scratch\n")
    write(ws, ".env", f"API_KEY={SECRET}\n")
    write(ws, "config/.env.local", f"API_KEY={SECRET}\n")
    write(ws, "keys/server.pem", f"-----BEGIN {SECRET}-----\n")
    write(ws, "docs/guide.md", "# Guide\n\nhello docs\n")
    write(ws, ".github/workflows/ci.yml", "name: hello ci\n")
    write(ws, "assets/logo.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64))
    write(ws, "big.txt", "".join(f"line {i}\n" for i in range(1, 5001)))
    os.symlink("src/app.py", ws / "link_inside.py")
    os.symlink(outside / "secret.txt", ws / "link_outside.txt")
    os.symlink(outside, ws / "dirlink_outside")
    os.symlink(".env", ws / "env_link")
    return ws


@asynccontextmanager
async def serve(
    workspace: Path, *extra: str, structured: bool = True, env: dict[str, str] | None = None
) -> AsyncIterator[Client]:
    """A `volley serve` subprocess over stdio, with the SDK's client connected to it.

    ``structured`` turns on structured output, so tests can read each answer's fields (the text is the same);
    ``env`` adds to the server's environment.
    """
    switch = ["--set", "structured_output=true"] if structured else []
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "volley", "serve", "--workspace", str(workspace), *switch, *extra],
        env={**SERVER_ENV, **(env or {})},
    )
    async with Client(params, mode="legacy") as client:
        yield client


def text_of(result) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


def inotify_watches(pid: int) -> int:
    """Watches the kernel holds for this process: one `inotify wd:` line per watch in its fds' fdinfo."""
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                count += sum(line.startswith("inotify wd:") for line in f)
        except OSError:
            continue
    return count


def alive(pid: int) -> bool:
    """Whether the process runs (a zombie does not)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


async def wait_for(path: Path, words: int = 1) -> None:
    """Until a test run has written at least ``words`` words to ``path`` (its pids)."""
    with anyio.fail_after(60):
        while not path.exists() or len(path.read_text().split()) < words:
            await anyio.sleep(0.05)


async def wait_until_gone(pids: list[int]) -> None:
    with anyio.fail_after(15):
        while any(alive(p) for p in pids):
            await anyio.sleep(0.05)


def own_venv(ws: Path) -> None:
    """A .venv in the workspace holding ruff and pytest: this test run's environment, seen from the workspace."""
    ours = Path(sys.prefix)
    venv = ws / ".venv"
    (venv / "bin").mkdir(parents=True)
    shutil.copy(ours / "pyvenv.cfg", venv / "pyvenv.cfg")
    os.symlink(ours / "lib", venv / "lib")
    os.symlink(sys.executable, venv / "bin" / "python")
    os.symlink(shutil.which("ruff", path=str(ours / "bin")), venv / "bin" / "ruff")
    write(
        venv,
        "bin/pytest",
        f"#!{venv}/bin/python\nimport sys\nfrom pytest import console_main\nsys.exit(console_main())\n",
    )
    (venv / "bin" / "pytest").chmod(0o755)
