"""The workspace's files read by symbol: which files, their cached symbols, parsed in parallel."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from volley.concurrency import blocking, concurrently
from volley.config import CORES
from volley.index import hard_link_to_denied, visible_files
from volley.symbols.disk import DiskSymbols
from volley.symbols.extract import FileSymbols, FileTooLarge, Refused, SymbolCache
from volley.symbols.languages import language_of
from volley.text import human_size
from volley.workspace import Target, Workspace

MAX_SOURCE_BYTES = 2 * 1024 * 1024  # larger files (generated, minified, vendored) are left out of symbol answers
PART_MIN_FILES = 64  # files per worker-thread part: below this, one thread does it

_caches: dict[str, SymbolCache] = {}


def too_large_note(paths: list[str]) -> str:
    """The closing line that names the files left out for their size, and what to use on them."""
    return f"[not parsed, over {human_size(MAX_SOURCE_BYTES)}: {', '.join(paths[:5])}; grep them]"


def cache_of(ws: Workspace) -> SymbolCache:
    """The workspace's symbol cache (one per root, for the life of the process), backed by the disk
    cache while the workspace's config keeps symbols on disk."""
    root = str(ws.root)
    cache = _caches.get(root)
    if cache is None or (cache.disk is not None) != ws.config.symbols_on_disk:
        cache = _caches[root] = SymbolCache(disk=DiskSymbols(root) if ws.config.symbols_on_disk else None)
    return cache


_sources: dict[str, tuple[list[str], list[str]]] = {}  # root -> (the index's whole list, its source files)


def source_files(ws: Workspace, target: Target) -> list[str]:
    """The visible files below ``target`` in a language Volley reads by symbol (blocking).

    For the whole workspace, while the index answers with the same list (nothing changed), the filtered
    list is reused (callers must not change it).
    """
    if not target.is_dir:
        return [target.rel] if language_of(target.rel) else []
    files = visible_files(ws, target)
    kept = _sources.get(str(ws.root)) if not target.rel else None
    if kept is not None and kept[0] is files:  # the list is held here, so its identity cannot be reused
        return kept[1]
    sources = sorted(rel for rel in files if language_of(rel))
    if not target.rel:
        _sources[str(ws.root)] = (files, sources)
    return sources


@dataclass
class Parsed:
    symbols: dict[str, FileSymbols] = field(default_factory=dict)  # by relative path
    too_large: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    denied: list[str] = field(default_factory=list)  # hard links to denied files: left out


async def parse_files(ws: Workspace, rels: list[str], *, with_names: bool = False) -> Parsed:
    """Each file's symbols (from the cache when its stat holds), parsed on the worker threads."""
    count = max(1, min(CORES, ws.config.concurrency.threads, len(rels) // PART_MIN_FILES))
    parts = [rels[i::count] for i in range(count)]
    job = functools.partial(_parse_part, cache_of(ws), ws, with_names)
    done: list[Parsed] = await concurrently([functools.partial(blocking, job, part) for part in parts])
    merged = Parsed()
    for part in done:
        merged.symbols.update(part.symbols)
        merged.too_large += part.too_large
        merged.unreadable += part.unreadable
        merged.denied += part.denied
    merged.symbols = {rel: merged.symbols[rel] for rel in sorted(merged.symbols)}
    return merged


def _parse_part(cache: SymbolCache, ws: Workspace, with_names: bool, rels: list[str]) -> Parsed:
    parsed = Parsed()
    try:
        _parse_into(parsed, cache, ws, with_names, rels)
    finally:
        cache.save()
    return parsed


def _parse_into(parsed: Parsed, cache: SymbolCache, ws: Workspace, with_names: bool, rels: list[str]) -> None:
    root, refused = str(ws.root), functools.partial(hard_link_to_denied, ws)
    for rel in rels:
        language = language_of(rel)
        if language is None:
            continue
        try:
            parsed.symbols[rel] = cache.get(
                f"{root}/{rel}", language, with_names=with_names, max_bytes=MAX_SOURCE_BYTES, refused=refused
            )
        except FileTooLarge:
            parsed.too_large.append(rel)
        except Refused:
            parsed.denied.append(rel)
        except OSError:
            parsed.unreadable.append(rel)  # deleted or unreadable since it was listed
