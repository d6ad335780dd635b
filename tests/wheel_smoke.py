"""Build the wheel and sdist, install the wheel into a fresh venv per Python, and serve from there.

    python -m tests.wheel_smoke            # every supported Python found (3.11 to 3.14)
    python -m tests.wheel_smoke 3.12 3.13  # these

No checkout on the path: each venv holds only the wheel and its dependencies from the registry. The
installed `volley` answers initialize and a grep over stdio (calls piped in, stdin then closed), and
`volley --version` names the version. Exit 1 when any Python fails. `.ci/run` runs it; `make smoke` too.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUPPORTED = ["3.11", "3.12", "3.13", "3.14"]


def pythons(wanted: list[str]) -> dict[str, str]:
    """The newest interpreter found for each wanted minor version (PATH, then pyenv's versions)."""
    found: dict[str, str] = {}
    home = os.path.expanduser("~")
    candidates = [f"python{v}" for v in wanted] + sorted(glob.glob(f"{home}/.pyenv/versions/3.*/bin/python3"))
    for candidate in candidates:
        exe = shutil.which(candidate) or (candidate if os.access(candidate, os.X_OK) else None)
        if exe is None:
            continue
        probe = subprocess.run(
            [exe, "-c", "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')"],
            capture_output=True,
            text=True,
        )
        version = probe.stdout.strip()
        if probe.returncode == 0 and version in wanted:
            found[version] = exe
    return found


def build(out: Path) -> Path:
    subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], check=True, capture_output=True)
    assert list(out.glob("*.tar.gz")), "no sdist was built"
    return next(out.glob("*.whl"))


def smoke(python: str, wheel: Path, work: Path) -> str:
    """Install the wheel into a fresh venv and serve a workspace from it; '' when it works, else why not."""
    venv = work / "venv"
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run([venv / "bin" / "python", "-m", "pip", "install", "--quiet", str(wheel)], capture_output=True)
    if pip.returncode:
        return "pip install failed: " + pip.stderr.decode()[-2000:]
    ws = work / "ws"
    (ws / "src").mkdir(parents=True)
    (ws / "src" / "a.py").write_text("def hello():\n    return 'smoke'\n")
    version = subprocess.run([venv / "bin" / "volley", "--version"], capture_output=True, text=True, cwd=work)
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": _init()},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "grep", "arguments": {"pattern": "smo"}},
        },
    ]
    served = subprocess.run(
        [venv / "bin" / "volley", "serve", "--workspace", str(ws)],
        input="".join(json.dumps(m) + "\n" for m in messages),
        capture_output=True,
        text=True,
        cwd=work,
        env={"PATH": "/usr/bin:/bin", "HOME": str(work)},  # as Claude Desktop starts a server
        timeout=120,
    )
    answers = {m.get("id"): m for m in map(json.loads, served.stdout.splitlines())}
    grep = answers.get(2, {}).get("result", {}).get("content", [{}])[0].get("text")
    if not version.stdout.startswith("volley ") or grep != "src/a.py:2:    return 'smoke'":
        return f"version {version.stdout!r}, grep answered {grep!r}; stderr: {served.stderr[-2000:]}"
    return ""


def _init() -> dict:
    return {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "smoke", "version": "1"}}


def main() -> int:
    wanted = sys.argv[1:] or SUPPORTED
    found = pythons(wanted)
    with tempfile.TemporaryDirectory(prefix="volley-smoke-") as tmp:
        wheel = build(Path(tmp) / "dist")
        print(f"built {wheel.name}")
        failures = 0
        for version in wanted:
            if version not in found:
                print(f"Python {version}: not on this machine, skipped")
                continue
            work = Path(tmp) / version
            work.mkdir()
            problem = smoke(found[version], wheel, work)
            failures += bool(problem)
            print(f"Python {version} ({found[version]}): {'ok' if not problem else 'FAILED: ' + problem}")
    return 1 if failures or not found else 0


if __name__ == "__main__":
    raise SystemExit(main())
