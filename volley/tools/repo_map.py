"""repo_map: an orientation map of the workspace within a token budget, the most used definitions first."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, Field

from volley.budget import body_chars
from volley.concurrency import blocking, concurrently
from volley.symbols.extract import Definition, FileSymbols
from volley.symbols.rank import Ranking, rank
from volley.symbols.source import parse_files, source_files
from volley.tools.outline import Symbol
from volley.workspace import Workspace

CHARS_PER_TOKEN = 3.25  # measured on django's map with Anthropic's published tokenizer (benchmarks/symbols.py)
CLOSING_NOTE = 160  # characters of the map's last line
DEFAULT_TOKENS = 2048


class MapFile(BaseModel):
    path: str
    symbols: list[Symbol]


class RepoMapResult(BaseModel):
    path: str
    files: list[MapFile]
    max_tokens: int
    tokens: int = Field(description="the map's size, estimated at 3.25 characters a token")
    definitions_shown: int
    definitions_total: int
    files_ranked: int
    focus: list[str]

    def render(self) -> str:
        lines = []
        for f in self.files:
            lines.append(f"{f.path}:")
            lines += [s.render("  ") for s in f.symbols]
        if not self.files:
            lines.append(f"{self.path}: no definitions in supported languages")
        centre = f" around {', '.join(self.focus)}" if self.focus else ""
        lines.append(
            f"[{self.definitions_shown} of {self.definitions_total} definitions in {self.files_ranked} files, most "
            f"used first{centre}; a larger max_tokens shows more; outline a file for all of it]"
        )
        return "\n".join(lines)


@dataclass
class _Kept:
    key: tuple[frozenset[str], tuple[int, ...]]  # the focus, and which symbols (by identity) it was made from
    ranking: Ranking


_last: dict[str, _Kept] = {}  # per workspace root and path: the last ranking (reused whole, or as a start)


async def repo_map(
    ws: Workspace,
    path: Annotated[str, Field(description="the directory to map, relative to the workspace root")] = ".",
    focus: Annotated[
        list[str] | None,
        Field(description="files or directories to centre the map on (what they use ranks first)"),
    ] = None,
    max_tokens: Annotated[int, Field(ge=256, le=20_000, description="the map's size in tokens")] = DEFAULT_TOKENS,
) -> RepoMapResult:
    """A map of the code for orientation: the definitions the rest of the code uses most (ranked like Aider's
    repo map, with PageRank over who uses what), grouped by file, within max_tokens.

    Per-file results are cached: after an edit only the changed files are parsed again.
    """
    target = await blocking(ws.resolve, path, "dir")
    resolved = await concurrently([functools.partial(blocking, ws.resolve, f) for f in focus or []])
    centre = frozenset(target.rel for target in resolved)
    rels = [r for r in await blocking(source_files, ws, target) if ".min." not in r.rsplit("/", 1)[-1]]
    parsed = await parse_files(ws, rels, with_names=True)
    chars = min(max_tokens * CHARS_PER_TOKEN, body_chars(ws.config.limits.answer_chars))  # the answer's limit
    return await blocking(_map, str(ws.root), target.shown, parsed.symbols, centre, max_tokens, chars)


def _map(
    root: str, path: str, files: dict[str, FileSymbols], focus: frozenset[str], max_tokens: int, chars: float
) -> RepoMapResult:
    key = (focus, tuple(id(s) for s in files.values()))
    kept = _last.get(f"{root}\0{path}")
    if kept is not None and kept.key == key:
        ranking = kept.ranking
    else:
        ranking = rank(files, focus, kept.ranking.file_rank if kept else None)
        _last[f"{root}\0{path}"] = _Kept(key, ranking)
    chosen = _fit([(p, d) for _, p, d in ranking.scores], chars)
    shown = _grouped(chosen, files)
    text_chars = sum(len(f.path) + 2 + sum(len(s.render("  ")) + 1 for s in f.symbols) for f in shown)
    return RepoMapResult(
        path=path,
        files=shown,
        max_tokens=max_tokens,
        tokens=round(text_chars / CHARS_PER_TOKEN),
        definitions_shown=sum(len(f.symbols) for f in shown),
        definitions_total=len(ranking.scores),
        files_ranked=len(files),
        focus=sorted(focus),
    )


def _fit(ranked: list[tuple[str, Definition]], chars: float) -> list[tuple[str, Definition]]:
    """The most definitions, best first, whose map fits ``chars`` (a binary search on the count)."""
    budget = chars - CLOSING_NOTE
    low, high = 0, len(ranked)
    while low < high:
        mid = (low + high + 1) // 2
        if _size(ranked[:mid]) <= budget:
            low = mid
        else:
            high = mid - 1
    return ranked[:low]


def _size(chosen: list[tuple[str, Definition]]) -> int:
    paths = {p for p, _ in chosen}
    return sum(len(p) + 2 for p in paths) + sum(len(d.signature) + 12 + 2 * d.depth for _, d in chosen)


def _grouped(chosen: list[tuple[str, Definition]], files: dict[str, FileSymbols]) -> list[MapFile]:
    """Files in the order of their best definition; each file's definitions in line order."""
    order: dict[str, list[Definition]] = {}
    for p, d in chosen:
        order.setdefault(p, []).append(d)
    return [
        MapFile(
            path=p,
            symbols=[
                Symbol(name=d.name, kind=d.kind, line=d.line, end_line=d.end_line, signature=d.signature, depth=d.depth)
                for d in sorted(defs, key=lambda d: d.line)
            ],
        )
        for p, defs in order.items()
    ]
