"""pytest runs after the first start from a spare interpreter (volley/spare): the run it becomes must be the run a
cold `python -m pytest` makes, whatever changed since the spare started, and no spare outlives the server."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import own_venv, serve, text_of, write
from volley.spare import BOOT
from volley.spare.boot import MARGIN_NS

pytestmark = [pytest.mark.anyio, pytest.mark.skipif(sys.platform != "linux", reason="spares are POSIX-only; /proc")]

FACTS = """import gc, json, os, sys, weakref


class Cycle:
    pass


def test_facts():
    main = sys.modules["__main__"]
    cycle = Cycle()
    cycle.self, seen = cycle, weakref.ref(cycle)
    del cycle
    gc.collect()
    null = os.stat(os.devnull)
    facts = {
        "argv": [word.split("=")[0] if word.startswith("--junitxml") else word for word in sys.argv[1:]],
        "argv0": os.path.basename(sys.argv[0]),
        "path0": sys.path[0],
        "cwd": os.getcwd(),
        "main": [main.__name__, os.path.basename(main.__file__), getattr(main.__spec__, "name", None)],
        "stdin_is_null": os.fstat(0).st_rdev == null.st_rdev,
        "mode": os.environ.get("MODE"),
        "record_dir": bool(os.environ.get("VOLLEY_RECORD_DIR")),
        "cycle_collected": seen() is None,
        "gc_enabled": gc.isenabled(),
        "spare": any("boot.py" in word for word in open("/proc/self/cmdline").read().split("\\0")),
    }
    with open(os.environ["FACTS_OUT"], "a") as out:
        out.write(json.dumps(facts) + "\\n")
"""


def _project(root: Path, venv: bool) -> Path:
    """A project whose pytest runs as `.venv/bin/python -m pytest` (``venv``), else as the `pytest` on PATH."""
    write(root, "tests/test_facts.py", FACTS)
    write(root, "pyproject.toml", "[tool.pytest.ini_options]\naddopts = '-p no:cacheprovider'\n")
    if venv:
        own_venv(root)
    return root


def _facts(out: Path) -> list[dict]:
    return [json.loads(line) for line in out.read_text().splitlines()]


def _spares_of(root: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        words = process.info["cmdline"] or []
        if BOOT in words and str(root) in words:
            found.append(process)
    return found


@pytest.mark.slow  # (spare interpreters running pytest: make test-slow, which CI runs too)
@pytest.mark.parametrize("venv", [True, False], ids=["python -m pytest", "pytest script"])
async def test_a_run_from_a_spare_sees_what_a_cold_run_sees_and_no_spare_outlives_the_server(
    tmp_path: Path, venv: bool
) -> None:
    root = _project(tmp_path / "ws", venv)
    out = tmp_path / "facts.jsonl"
    env = {"FACTS_OUT": str(out), "MODE": "a"}
    async with serve(root, "--set", "test.record=always", env=env) as client:
        for _ in range(3):
            result = await client.call_tool("run_tests", {})
            assert result.structured_content["passed"] == 1, text_of(result)
            assert (" -m pytest " in " ".join(result.structured_content["argv"])) == venv
        assert len(_spares_of(root)) == 1  # waiting for the next run
    cold, *warm = _facts(out)
    assert not cold["spare"] and all(facts["spare"] for facts in warm)  # the runs after the first took a spare
    for facts in warm:
        assert {**facts, "spare": False} == cold
    assert cold["cycle_collected"] and cold["gc_enabled"]
    assert cold["stdin_is_null"] and cold["record_dir"] and cold["mode"] == "a" and cold["cwd"] == str(root)
    assert not _spares_of(root)  # killed with the server

    out.unlink()
    async with serve(root, "--set", "test.warm=false", env=env) as client:
        for _ in range(2):
            await client.call_tool("run_tests", {})
        assert not _spares_of(root)
    assert not any(facts["spare"] for facts in _facts(out))


@pytest.mark.slow  # (spare interpreters running pytest: make test-slow, which CI runs too)
async def test_a_module_changed_or_shadowed_after_the_spare_started_is_the_one_the_run_imports(tmp_path: Path) -> None:
    """pytest imports pprint. A pprint.py on PYTHONPATH (outside the workspace: a spare may import it) that
    changes after the spare imported it, then a pprint.py put in the workspace, which a cold `python -m pytest`
    imports first (the run's folder leads sys.path): each run imports what a cold start would."""
    root = _project(tmp_path / "ws", venv=True)
    site = tmp_path / "site"
    stdlib = os.path.join(os.path.dirname(os.__file__), "pprint.py")
    wrap = f"VERSION = {{}}\nexec(compile(open({stdlib!r}).read(), {stdlib!r}, 'exec'))\n"
    want = tmp_path / "want"
    check = f"import pprint\n\n\ndef test_pprint():\n    assert pprint.VERSION == int(open({str(want)!r}).read())\n"
    write(root, "tests/test_seen.py", check)
    env = {"FACTS_OUT": str(tmp_path / "facts.jsonl"), "PYTHONPATH": str(site)}
    write(site, "pprint.py", wrap.format(1))
    age(site / "pprint.py")  # a spare trusts only files older than its start by MARGIN_NS

    async def run(version: int) -> None:
        want.write_text(str(version))
        result = await client.call_tool("run_tests", {})
        assert result.structured_content["passed"] == 2, text_of(result)

    async with serve(root, env=env) as client:
        await run(1)  # cold; a spare starts and imports site/pprint.py
        await run(1)  # from the spare
        waiting(root)  # the next spare has imported the standard library's pprint
        write(root, "pprint.py", wrap.format(3))  # a cold start imports this one first now
        await run(3)
        waiting(root)  # this spare imported the workspace's pprint.py
        (root / "pprint.py").unlink()
        await run(1)  # the workspace's own code is never trusted: a cold start
        waiting(root)
        write(site, "pprint.py", wrap.format(2))  # changed after the spare imported it
        await run(2)
        assert len(_spares_of(root)) == 1
    runs = _facts(tmp_path / "facts.jsonl")
    spare = [facts["spare"] for facts in runs]
    assert spare == [False, True, False, False, False]  # shadowed, then changed: each ran as a cold start


def waiting(root: Path) -> None:
    """Wait until the workspace's spare has imported what it imports ahead and waits for its run."""
    for _ in range(3000):
        spares = _spares_of(root)
        if len(spares) == 1:
            with open(f"/proc/{spares[0].pid}/wchan") as f:
                if "pipe_read" in f.read() or "pipe_wait" in f.read():
                    return
        time.sleep(0.01)
    raise AssertionError("no spare waits")


def age(path: Path) -> None:
    """Wait until the file's status changed more than MARGIN_NS ago."""
    time.sleep(max(0.0, (path.stat().st_ctime_ns + MARGIN_NS - time.time_ns()) / 1e9) + 0.05)
