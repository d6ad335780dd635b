"""Which definitions matter most: files linked by the names they use and define, ranked with PageRank
(as Aider ranks its repo map), each file's rank passed on to the definitions it uses.

A name defined in many files (``get``, ``__init__``, ``Meta``) says little about which one is meant: names
with more than MAX_DEFINERS definers link nothing; nor do the language's own builtins and the methods of
its builtin types (``list()``, ``super()``, ``.append()`` are not calls to a workspace's ``list`` method).
Private names (``_x``) weigh a tenth.
"""

from __future__ import annotations

import builtins
import math
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from volley.symbols.extract import Definition, FileSymbols

MAX_DEFINERS = 12
_PYTHON_BUILTINS = frozenset(dir(builtins)).union(*(dir(t) for t in (str, bytes, list, dict, set, tuple, int)))
_COMMON_CALLS = (  # the JavaScript/TypeScript builtins and methods of builtin types, with Go's and Rust's
    "push pop shift unshift slice splice map filter reduce forEach find findIndex some every includes indexOf join "
    "concat sort reverse keys values entries get set has delete add clear toString valueOf then catch finally "
    "resolve reject all race log error warn info debug parse stringify assign freeze create defineProperty "
    "call apply bind replace split trim toLowerCase toUpperCase startsWith endsWith match test exec String "
    "Number Boolean Array Object Promise Error Map Set Date JSON Math Symbol require len make append new panic "
    "println format unwrap expect clone into iter collect to_string from default"
)
_JS_BUILTINS = frozenset(_COMMON_CALLS.split())
BUILTINS = {"python": _PYTHON_BUILTINS}  # the rest share the JavaScript list (with Go's and Rust's commonest)
DAMPING = 0.85
TOLERANCE = 1e-6


@dataclass
class Ranking:
    scores: list[tuple[float, str, Definition]]  # best first
    file_rank: dict[str, float]
    iterations: int


def rank(
    files: dict[str, FileSymbols], focus: frozenset[str] = frozenset(), start: dict[str, float] | None = None
) -> Ranking:
    """Definitions by importance; ``focus`` files and what they use come first; ``start`` is a previous
    ranking's file ranks (an edit moves ranks little, so few iterations are needed from there)."""
    paths = list(files)
    index = {p: i for i, p in enumerate(paths)}
    definers: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(paths):
        for name in {d.name for d in files[p].definitions}:
            definers[name].append(i)
    links = [list(_links(files[p], definers)) for p in paths]  # per file: (name, weight, defining files)
    out_edges: list[dict[int, float]] = []
    for i in range(len(paths)):
        row: dict[int, float] = defaultdict(float)
        for _, w, targets in links[i]:
            for j in targets:
                if j != i:
                    row[j] += w
        out_edges.append(row)
    personal = _personalization(paths, index, focus)
    ranks = _pagerank(out_edges, personal, [start.get(p, 0.0) for p in paths] if start else None)
    file_rank = {p: ranks.values[i] for i, p in enumerate(paths)}
    share: dict[tuple[int, str], float] = defaultdict(float)  # (defining file, name) -> rank received
    for i in range(len(paths)):
        total = sum(out_edges[i].values())
        if not total:
            continue
        for name, w, targets in links[i]:
            for j in targets:
                if j != i:
                    share[j, name] += ranks.values[i] * w / total
    scores = []
    for i, p in enumerate(paths):
        for d in files[p].definitions:
            received = share.get((i, d.name), 0.0)
            # a definition nothing uses still orders by its file's rank (and top-level first)
            scores.append((received + ranks.values[i] * 1e-3 / (1 + d.depth), p, d))
    scores.sort(key=lambda s: (-s[0], s[1], s[2].line))
    return Ranking(scores, file_rank, ranks.iterations)


def _links(symbols: FileSymbols, definers: dict[str, list[int]]) -> Iterator[tuple[str, float, list[int]]]:
    """The names a file uses that link it to the files defining them, with each link's weight."""
    ignored = BUILTINS.get(symbols.language, _JS_BUILTINS)
    for name, count in symbols.used or ():
        targets = definers.get(name)
        if not targets or len(targets) > MAX_DEFINERS or name in ignored:
            continue
        yield name, math.sqrt(count) * (0.1 if name.startswith("_") else 1.0) / len(targets), targets


@dataclass
class _Ranks:
    values: list[float]
    iterations: int


def _personalization(paths: list[str], index: dict[str, int], focus: frozenset[str]) -> list[float]:
    chosen = [index[p] for p in paths if p in focus or any(p.startswith(f.rstrip("/") + "/") for f in focus)]
    if not chosen:
        return [1.0 / len(paths)] * len(paths) if paths else []
    personal = [0.0] * len(paths)
    for i in chosen:
        personal[i] = 1.0 / len(chosen)
    return personal


def _pagerank(out_edges: list[dict[int, float]], personal: list[float], start: list[float] | None) -> _Ranks:
    n = len(out_edges)
    if n == 0:
        return _Ranks([], 0)
    ranks = start if start and sum(start) > 0 else list(personal)
    norm = sum(ranks)
    ranks = [r / norm for r in ranks]
    normalized: list[list[tuple[int, float]]] = []
    for row in out_edges:
        total = sum(row.values())
        normalized.append([(j, w / total) for j, w in row.items()] if total else [])
    iterations = 0
    while iterations < 100:
        iterations += 1
        nxt = [0.0] * n
        dangling = 0.0
        for i, edges in enumerate(normalized):
            r = ranks[i]
            if not edges:
                dangling += r
                continue
            for j, w in edges:
                nxt[j] += r * w
        restart = DAMPING * dangling
        nxt = [DAMPING * v + (restart + 1 - DAMPING) * personal[k] for k, v in enumerate(nxt)]
        change = sum(abs(a - b) for a, b in zip(nxt, ranks, strict=True))
        ranks = nxt
        if change < TOLERANCE * n:
            break
    return _Ranks(ranks, iterations)
