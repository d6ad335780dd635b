"""ripgrep's search over a list of files, through one of two engines with the same answers.

- ``python-ripgrep`` (the binding, in-process, releases the GIL) where it installs: Python 3.11 and 3.12;
  its wheels stop there and it publishes no source distribution.
- the ``rg`` binary (the ``ripgrep`` PyPI wheel ships the official build for Linux, macOS and Windows,
  any Python) run with ``--heading``, which prints what the binding returns: per file, its path on a
  line of its own, then ``N:text`` for matches and ``N-text`` for context.

``search_engine`` in the config chooses (``auto``: the binding when it imports). Both are given the
files the workspace's index decided on, so ignore rules are Volley's, never ripgrep's.
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
import tempfile
from functools import cache
from typing import Literal

from volley.concurrency import abandoned
from volley.errors import InputError, ToolchainError
from volley.process import argv_parts, run_blocking

Engine = Literal["auto", "python-ripgrep", "rg"]
_ARGV_BYTES = 512 * 1024  # paths per rg process: well under the kernel's limit on a command line
_INLINE_PATTERN = 64 * 1024  # longer patterns go through a file
_GLOB_ESCAPED = {c: "\\" + c for c in "\\*?[]{}"}  # what a glob reads as syntax, escaped to be itself


def search(
    engine: Engine, regex: str, paths: list[str], *, before: int, after: int, max_count: int | None, multiline: bool
) -> list[str]:
    """One chunk per file with a match: its path, a NUL (the rg binary's; python-ripgrep's, a newline), its
    numbered lines (blocking)."""
    binary = engine == "rg" or (engine == "auto" and not _binding_available())
    if binary or any("\n" in path for path in paths):  # (python-ripgrep's heading cannot name such a file)
        return _with_binary(regex, paths, before=before, after=after, max_count=max_count, multiline=multiline)
    import python_ripgrep  # type: ignore[import-not-found,unused-ignore]  # installed below Python 3.13 only

    return python_ripgrep.search(
        [regex],
        paths=paths,
        heading=True,
        line_number=True,
        before_context=before or None,
        after_context=after or None,
        max_count=max_count,
        multiline=multiline or None,
    )


def engine_name(engine: Engine) -> str:
    if engine == "rg" or (engine == "auto" and not _binding_available()):
        return f"rg binary ({rg_binary()})"
    return "python-ripgrep"


@cache
def _binding_available() -> bool:
    try:
        import python_ripgrep  # noqa: F401
    except ImportError:
        return False
    return True


@cache
def rg_binary() -> str:
    """The rg installed with Volley (the ripgrep wheel puts it beside Python's scripts), else rg on PATH."""
    name = "rg.exe" if sys.platform == "win32" else "rg"
    for scripts in (sysconfig.get_path("scripts"), os.path.dirname(sys.executable)):
        candidate = os.path.join(scripts, name)
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("rg")
    if found is None:
        raise ToolchainError("no rg binary: install Volley with its dependencies (the ripgrep package ships one)")
    return os.path.abspath(found)  # (runs start in the searched folder)


def search_walking(
    regex: str, folder: str, less: list[str], *, before: int, after: int, max_count: int | None, multiline: bool
) -> list[str]:
    """rg walking ``folder`` (absolute) itself, less the paths ``less`` (relative to it: ``exclusions_sayable``),
    with no rule of its own: one chunk per file with a match, its path absolute (blocking)."""
    globs = [word for rel in less for word in ("--glob", "!/" + "".join(_GLOB_ESCAPED.get(c, c) for c in rel))]
    return _with_binary(
        regex, ["."], before=before, after=after, max_count=max_count, multiline=multiline, walk=(folder, globs)
    )


def exclusions_sayable(less: list[str]) -> bool:
    """Whether each path can be excluded exactly by an rg glob (``!/path``, escaped): no whitespace or control
    character (gitignore syntax trims trailing spaces), no byte that is not UTF-8, and few enough for one
    command line."""
    if sum(len(rel) + 12 for rel in less) > _ARGV_BYTES:
        return False
    return all(rel and not any(c.isspace() or c < " " or "\udc80" <= c <= "\udcff" for c in rel) for rel in less)


def _with_binary(
    regex: str,
    paths: list[str],
    *,
    before: int,
    after: int,
    max_count: int | None,
    multiline: bool,
    walk: tuple[str, list[str]] | None = None,
) -> list[str]:
    argv = [rg_binary(), "--no-config", "--heading", "--null", "--with-filename", "--line-number", "--color=never"]
    argv += ["--no-messages", "--hidden", "--no-ignore"]  # the files are Volley's choice, not rg's
    argv += ["--path-separator", "/"]  # what it walks named as Volley names paths (Windows: not its \\)
    if before:
        argv += ["--before-context", str(before)]
    if after:
        argv += ["--after-context", str(after)]
    if max_count is not None:
        argv += ["--max-count", str(max_count)]
    if multiline:
        argv.append("--multiline")
    chunks: list[str] = []
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".pattern") as pattern:
        if len(regex) > _INLINE_PATTERN and "\n" not in regex:  # an argument may not exceed 128 KiB on Linux
            pattern.write(regex)
            pattern.flush()
            argv += ["--file", pattern.name, "--"]
        else:
            argv += ["--regexp", regex, "--"]
        if walk is not None:  # globs are matched from rg's folder: it runs in the walked one
            folder, globs = walk
            dotted = f"{folder}/./"  # (rg names what it walks from ".": ./path)
            chunks = _run([*argv[:-1], *globs, "--"], ["."], folder)
            return [f"{folder}/{chunk[len(dotted) :]}" if chunk.startswith(dotted) else chunk for chunk in chunks]
        base = _common_base(paths)
        if base is not None:  # rg 14 resolves each path it is given, one component at a time: from their
            paths = [path[len(base) + 1 :] for path in paths]  # folder, in fewer (a third of the time at 1M)
        for part in argv_parts(paths, _ARGV_BYTES):  # no paths: no search (rg alone would search its cwd)
            chunks += _run(argv, part, base)
    return chunks


def _common_base(paths: list[str]) -> str | None:
    """The deepest folder that holds every one of ``paths`` (absolute), if there is one besides ``/``."""
    if len(paths) < 2:
        return None
    first, last = paths[0], paths[-1]
    same = next((i for i, (a, b) in enumerate(zip(first, last, strict=False)) if a != b), min(len(first), len(last)))
    base = first[:same].rpartition("/")[0]
    if not base or not base.startswith("/") or not all(path.startswith(base + "/") for path in paths):
        return None
    return base


def _chunks(answer: bytes) -> list[bytes]:
    """rg's answer (--heading --null) a file at a time: its path, a NUL, its lines; or a line saying a binary
    file matches. A blank line ends each, and a path may hold one (a line never does: each has its number),
    so a piece with no NUL that is no such line is a path's start."""
    chunks: list[bytes] = []
    start = b""
    for piece in answer.split(b"\n\n"):
        piece = start + piece
        if b"\0" in piece or (piece.endswith(b")") and b": binary file matches (" in piece):
            chunks.append(piece)
            start = b""
        elif piece.strip():
            start = piece + b"\n\n"
    return chunks


def _decoded(chunk: bytes) -> str:
    """A file's chunk of rg's answer: its path, as Python names the file (a byte that is not UTF-8 kept as a
    surrogate, as in the listing), then a NUL and its lines, such a byte there as U+FFFD."""
    heading, nul, lines = chunk.partition(b"\0")
    return heading.decode("utf-8", "surrogateescape") + nul.decode() + lines.decode("utf-8", "replace")


def _run(argv: list[str], paths: list[str], base: str | None = None) -> list[str]:
    """rg over ``paths`` (relative to ``base`` when given: its answer names them from there again)."""
    try:
        done = run_blocking([*argv, *paths], abandoned, cwd=base)
    except OSError as exc:
        raise ToolchainError(f"the rg binary could not be started: {exc}") from None
    message = done.stderr.decode("utf-8", errors="replace").strip()
    if done.returncode == 2 and not done.stdout and message:  # with --no-messages, only what is not a file's
        raise InputError(message.removeprefix("rg: ")) if "regex" in message else ToolchainError(message)
    # exit 2 with nothing said: a file named could not be read (deleted since it was listed): it has no match
    chunks = [_decoded(chunk) for chunk in _chunks(done.stdout)]
    return [f"{base}/{chunk}" for chunk in chunks] if base is not None else chunks  # (each begins with its path)
