"""Definitions against universal-ctags, the oracle: Python classes, functions and methods at the same lines."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import serve, write

pytestmark = pytest.mark.anyio
CTAGS = shutil.which("ctags")
VERSION = subprocess.run([CTAGS, "--version"], capture_output=True, text=True).stdout if CTAGS else ""
if "Universal Ctags" not in VERSION:
    if os.environ.get("CI"):
        raise RuntimeError("universal-ctags is not installed; .ci/run installs it")
    pytest.skip("universal-ctags is not installed", allow_module_level=True)

TRICKY = """\
import contextlib


class Outer:
    class Inner(object):
        def method(self): ...

    @property
    def value(self):
        return 1

    @value.setter
    def value(self, new):
        pass

    async def fetch(self, *, timeout: float = 1.0) -> "Outer":
        def helper():
            class Local:
                pass
            return Local
        return helper()

    handler = lambda self: None  # not a definition for either


if True:
    def conditional():
        pass
else:
    def conditional():
        pass


@contextlib.contextmanager
def decorated(
    a,
    b,
):
    yield


def f(): return "def g(): pass"
class Empty: pass
"""


def _ctags(root: Path) -> set[tuple[str, int, str]]:
    argv = [CTAGS, "-R", "--languages=Python", "--kinds-Python=cfm", "--fields=+n", "--output-format=json", "-f", "-"]
    out = subprocess.run([*argv, "."], cwd=root, capture_output=True, text=True, check=True).stdout
    tags = [json.loads(line) for line in out.splitlines()]
    return {(t["path"].removeprefix("./"), t["line"], t["name"]) for t in tags if t["_type"] == "tag"}


async def test_outline_finds_what_ctags_finds_at_the_same_lines(tmp_path: Path) -> None:
    write(tmp_path, "tricky.py", TRICKY)
    write(tmp_path, "pkg/__init__.py", "")
    write(tmp_path, "pkg/deep/mod.py", "class A:\n    def b(self):\n        pass\n\n\ndef c():\n    pass\n")
    async with serve(tmp_path) as client:
        result = await client.call_tool("outline", {"path": ".", "depth": 20})
    ours = {(f["path"], s["line"], s["name"]) for f in result.structured_content["files"] for s in f["symbols"]}
    theirs = _ctags(tmp_path)
    assert len(theirs) > 15
    assert ours == theirs


async def test_find_symbol_agrees_with_ctags_on_every_name(tmp_path: Path) -> None:
    write(tmp_path, "tricky.py", TRICKY)
    theirs = _ctags(tmp_path)
    async with serve(tmp_path) as client:
        for name in sorted({n for _, _, n in theirs}):
            hits = (await client.call_tool("find_symbol", {"name": name})).structured_content["hits"]
            assert {(h["path"], h["line"]) for h in hits} == {(p, line) for p, line, n in theirs if n == name}, name
