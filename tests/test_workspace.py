"""The sandbox: every escape refused, deny rules stronger than anything, with messages a model can act on."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from volley.errors import DeniedError, EscapeError, NotFoundError
from volley.workspace import Workspace


@pytest.fixture
def ws(project: Path) -> Workspace:
    return Workspace(project)


@pytest.mark.parametrize("path", ["src/app.py", "./src/../src/app.py", "link_inside.py", "src//app.py"])
def test_paths_inside_resolve_to_the_real_file(ws: Workspace, path: str) -> None:
    assert ws.resolve(path).rel == "src/app.py"


def test_absolute_path_inside_the_root_is_accepted(ws: Workspace) -> None:
    assert ws.resolve(str(ws.root / "src" / "app.py")).rel == "src/app.py"


@pytest.mark.parametrize(
    "path",
    [
        "..",
        "../outside/secret.txt",
        "src/../../outside/secret.txt",
        "/etc/passwd",
        "link_outside.txt",
        "dirlink_outside/secret.txt",
        "dirlink_outside",
    ],
)
def test_escapes_are_refused(ws: Workspace, path: str) -> None:
    with pytest.raises(EscapeError, match="path escapes the workspace"):
        ws.resolve(path)


def test_sibling_sharing_the_roots_prefix_is_outside(ws: Workspace, tmp_path: Path) -> None:
    evil = tmp_path / "ws-evil"
    evil.mkdir()
    (evil / "x.txt").write_text("x")
    with pytest.raises(EscapeError):
        ws.resolve(str(evil / "x.txt"))
    with pytest.raises(EscapeError):
        ws.resolve("../ws-evil/x.txt")


@pytest.mark.parametrize("path", ["", "   ", "src/\x00app.py", "a\nb", "x" * 5000, "a/" + "b" * 300])
def test_malformed_paths_are_refused_with_a_reason(ws: Workspace, path: str) -> None:
    with pytest.raises(EscapeError, match=r"empty path|NUL or control|too long"):
        ws.resolve(path)


@pytest.mark.parametrize("path", [".env", "config/.env.local", "keys/server.pem", ".git/config", "env_link"])
def test_denied_paths_are_refused_even_through_links(ws: Workspace, project: Path, path: str) -> None:
    (project / ".git").mkdir(exist_ok=True)
    (project / ".git" / "config").write_text("[core]\n")
    with pytest.raises(DeniedError, match="deny rule"):
        ws.resolve(path)


def test_missing_file_names_the_nearest_directory(ws: Workspace) -> None:
    with pytest.raises(NotFoundError, match="nearest existing directory is 'src'"):
        ws.resolve("src/nope/deeper.py")


def test_symlink_loop_is_refused_not_hung(ws: Workspace, project: Path) -> None:
    os.symlink("loop_b", project / "loop_a")
    os.symlink("loop_a", project / "loop_b")
    with pytest.raises((NotFoundError, EscapeError)):
        ws.resolve("loop_a")


def test_ignore_decisions_name_their_source(ws: Workspace) -> None:
    decision = ws.ignored("src/gen/out.py", is_dir=False)
    assert decision is not None and decision.source == "src/.gitignore:1" and decision.pattern == "gen/"
    assert ws.ignored("src/important.log", is_dir=False) is None  # re-included one level down
    assert ws.ignored("keep.log", is_dir=False) is None
    assert ws.ignored("anchored.txt", is_dir=False) is not None
    assert ws.ignored("sub/anchored.txt", is_dir=False) is None
    assert str(ws.ignored("scratch/notes.txt", is_dir=False)).startswith("ignored by .ignore:1")


def test_walk_never_enters_ignored_or_denied_directories(ws: Workspace) -> None:
    hidden: list[str] = []
    seen = [e.rel for e in ws.walk(ws.resolve("."), on_hidden=lambda e, d: hidden.append(e.rel))]
    assert "src/app.py" in seen and ".github/workflows/ci.yml" in seen
    assert not any(p.startswith(("node_modules/", "build/", "scratch/", "src/gen/")) for p in seen)
    assert not any(p in (".env", "keys/server.pem", "config/.env.local") for p in seen)
    assert {"node_modules", "build", "scratch", "debug.log", "src/gen", "anchored.txt"} <= set(hidden)
