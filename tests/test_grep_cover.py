"""A search of a tree lets the rg binary walk the directories in which every file is visible: same answers as
handing it every file, never a file the index leaves out."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SECRET, write
from volley.index import index_of
from volley.tools import grep as grep_tool
from volley.workspace import Workspace

pytestmark = pytest.mark.anyio
PATTERNS = [".", "hello", "def get_", SECRET, "API_KEY", "line 4999", "PNG", "globs read"]


@pytest.fixture
def tree(project: Path) -> Path:
    """The shared project (ignore rules, secrets, links, a binary) with whole directories, deep and shallow."""
    for i in range(3):
        write(project, f"lib/pkg{i}/a.py", f"def get_{i}():\n    return 'hello {i}'\n")
        write(project, f"lib/pkg{i}/deep/b.ts", f"export const hello{i} = {i};\n")
    write(project, "lib/pkg1/.hidden/c.txt", "hello hidden but visible\n")
    write(project, "lib/pkg2/trace.log", "hello ignored\n")  # *.log: pkg2 and lib are not whole
    os.mkfifo(project / "lib/pkg0/deep/pipe")  # not a regular file: pkg0/deep is not whole
    write(project, "lib/pkg3/.gitignore", "a\\[b\\].txt\n*\\{x,y\\}*\n")
    for name in ("a[b].txt", "ab.txt", "c{x,y}d.txt", "cxd.txt", "!x?.txt"):
        write(project, f"lib/pkg3/{name}", "hello from a name rg globs read as syntax\n")  # ab, cxd: visible
    write(project, "odd/.gitignore", "spaced name.txt\\ \n")
    write(project, "odd/spaced name.txt ", "hello from a name rg globs read as syntax\n")
    write(project, "odd/spaced name.txt", "hello from a name rg globs read as syntax\n")
    return project


_FILES_TO_SEARCH = grep_tool._files_to_search


def _listed(ws: Workspace, path: str, globs: list[str], include_ignored: bool, may_cover: bool = True) -> Any:
    return _FILES_TO_SEARCH(ws, path, globs, include_ignored, False)  # rg is handed every file


async def answers(ws: Workspace, monkeypatch: pytest.MonkeyPatch, cover: bool, **args: object) -> dict:
    monkeypatch.setattr(grep_tool, "_files_to_search", _FILES_TO_SEARCH if cover else _listed)
    result = await grep_tool.grep(ws, max_results=100_000, **args)  # type: ignore[arg-type]
    return result.model_dump()


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("path", [".", "lib", "lib/pkg1", "lib/pkg3", "odd"])
async def test_walking_whole_directories_answers_as_searching_every_file(
    tree: Path, monkeypatch: pytest.MonkeyPatch, pattern: str, path: str
) -> None:
    ws = Workspace(str(tree))
    walked = await answers(ws, monkeypatch, True, pattern=pattern, path=path)
    listed = await answers(ws, monkeypatch, False, pattern=pattern, path=path)
    assert walked == listed
    assert SECRET not in str(walked["lines"])


def test_the_cover_is_whole_directories_and_the_files_elsewhere(tree: Path) -> None:
    ws = Workspace(str(tree))
    cover = index_of(ws).cover(ws.resolve("."))
    assert cover is not None and cover.less is None
    paths, count, holds = cover.paths, cover.count, cover.holds
    assert {"lib/pkg1", "docs", ".github", "sub"} <= set(paths) and "lib/pkg0/deep" not in paths
    assert "lib/pkg0/deep/b.ts" in paths and "lib/pkg0/a.py" in paths  # pkg0/deep holds a FIFO
    assert "lib/pkg2/a.py" in paths and "lib/pkg2/deep" in paths  # pkg2 holds an ignored log
    assert "src" not in paths and "src/app.py" in paths  # src holds an ignored directory
    assert count == len(index_of(ws).files(ws.resolve("."), False))
    assert holds("lib/pkg1/a.py") and not holds("lib/pkg2/trace.log") and not holds(".env")


def test_a_small_tree_is_walked_too(tree: Path) -> None:
    """rg hands a file it is given by name to its search whole, a binary one too (it stops at the first NUL
    byte only in the files it walks): .venv/lib searched file by file took 2.8x `rg` (5 shared objects of
    80 MB), walked 1.1x."""
    ws = Workspace(str(tree))
    files, cover = grep_tool._files_to_search(ws, "lib", [], False)
    assert not files and cover is not None and cover.paths == ["lib"] and cover.less is not None
    assert {"pkg0/deep/pipe", "pkg2/trace.log", "pkg3/a[b].txt"} <= set(cover.less)  # relative to lib
    assert not {"pkg3/ab.txt", "pkg1/.hidden/c.txt"} & set(cover.less)
    assert grep_tool._files_to_search(ws, ".", ["*.py"], False)[1] is None  # globs: Volley's choice of files


def test_a_name_no_glob_can_say_is_searched_through_whole_directories(tree: Path) -> None:
    """gitignore syntax trims a name's trailing spaces: a walk less such a name is not said as globs."""
    ws = Workspace(str(tree))
    _, cover = grep_tool._files_to_search(ws, "odd", [], False)  # an ignored "spaced name.txt "
    assert cover is not None and cover.less is None and "odd/spaced name.txt" in cover.paths


async def test_a_file_made_after_the_index_proved_itself_is_left_out(tree: Path) -> None:
    """rg walks what is there when it runs: a secret or an ignored file written meanwhile is not answered."""
    ws = Workspace(str(tree))
    write(tree, "lib/pkg0/uses.py", "KEY = 'API_KEY'\n")  # visible: found both ways
    covers, since = [], index_of(ws).since()
    for path in ("lib", "."):  # walked less what is not visible; walked through its whole directories
        _, cover = grep_tool._files_to_search(ws, path, [], False)
        assert cover is not None and (cover.less is not None) == (path == "lib")
        covers.append(cover)
    write(tree, "lib/pkg1/.env", f"API_KEY={SECRET}\n")
    write(tree, "lib/pkg1/new.log", "API_KEY in a new log\n")
    options = {"before": 0, "after": 0, "max_count": None, "multiline": False, "shown": "API_KEY"}
    search = functools.partial(grep_tool._search, "rg", "API_KEY", **options)
    for cover in covers:
        found = grep_tool._search_cover(ws, search, cover, since)
        assert list(found) == ["lib/pkg0/uses.py"]
