"""The recorded way: which code each test ran, from pytest runs Volley made, kept per workspace on disk.

A pytest run loads the plugin in ``plugin/volley_record.py`` (from a directory put on PYTHONPATH: nothing is
installed into the project's environment). Where the project's interpreter has coverage.py, it records every
line each test ran; after the run the lines become function bodies (``blocks``) and are kept with the
fingerprint of each body they were recorded on. A later change selects the tests that ran a body it changed;
what the record cannot attribute is left to the static way (``volley.affected``), which the answer says.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import sqlite3
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from volley import stat_keys
from volley.affected.blocks import MODULE, Blocks, blocks_of, local_names, names_of_lines
from volley.affected.pytest_plugins import with_plugin
from volley.cache_dir import cache_home
from volley.exact_open import read_exact
from volley.stat_keys import too_fresh

log = logging.getLogger(__name__)
PRELOAD = "volley_preload"  # what a spare for a recording run imports ahead (plugin/volley_preload.py)
FORMAT = 4
SESSION = "@session"
MODULE_SCOPE = "@module:"
Lines = tuple[int, ...]


@dataclass
class Recording:
    """A run's scratch directory and what it asked for (what decides which test files it recorded whole)."""

    directory: str
    targets: list[str] | None
    whole_files: bool  # no keyword, no fail-fast: every test of each target ran


def recording_wanted(root: str, setting: str) -> bool:
    """Whether a pytest run records: always, never, or (auto) once affected tests were asked for here."""
    return setting == "always" or (setting == "auto" and _store_path(root).exists())


def prepare(argv: list[str], env: dict[str, str], root: str, recording: Recording) -> tuple[list[str], dict[str, str]]:
    """pytest's argv and environment with the recording plugin loaded."""
    os.makedirs(recording.directory, exist_ok=True)
    extra = {"VOLLEY_RECORD_DIR": recording.directory, "VOLLEY_RECORD_ROOT": root}
    return with_plugin(argv, env, "volley_record", extra)


@dataclass
class Store:
    """What the workspace's recorded runs say (JSON on disk, one file per workspace)."""

    files: dict[str, dict[str, object]] = field(default_factory=dict)  # rel → {sha, skeleton, bodies}
    tests: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # node id → {rel: [block names]}
    wide: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # "" / @session / @module:… → same
    whole: set[str] = field(default_factory=set)  # test files whose every test is recorded
    note: str = ""  # why the last run recorded nothing

    @classmethod
    def load(cls, root: str) -> Store:
        try:
            raw = json.loads(_store_path(root).read_text())
        except (OSError, ValueError):
            return cls()
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            return cls()
        return cls(raw["files"], raw["tests"], raw["wide"], set(raw["whole"]), raw.get("note", ""))

    def save(self, root: str) -> None:
        path = _store_path(root)
        path.parent.mkdir(parents=True, exist_ok=True)
        body = {"format": FORMAT, "files": self.files, "tests": self.tests, "wide": self.wide}
        body |= {"whole": sorted(self.whole), "note": self.note}
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as out:
            out.write(json.dumps(body))  # (one C call: json.dump writes piece by piece, 4x slower)
        os.replace(out.name, path)


def take_in(root: str, recording: Recording, ran_to_the_end: bool) -> str:
    """Fold a finished run's recording into the workspace's store (blocking): what it says, for the log."""
    store = Store.load(root)
    status_file = os.path.join(recording.directory, "status")
    if os.path.exists(status_file):
        store.note = Path(status_file).read_text(errors="replace").strip()
        store.save(root)
        return store.note
    lines = _in_workspace_ids(_read_lines(recording.directory, root), recording.directory, root)
    if not lines:
        return "nothing recorded"
    blocks: dict[str, Blocks | None] = {}
    shas: dict[str, str] = {}
    proofs: dict[str, list[int] | None] = {}
    ran_files = {rel for per_file in lines.values() for rel in per_file}
    local = local_names(ran_files | store.files.keys())  # every module a test imported ran: its file is here
    # (with those of earlier runs: as the selection reads them, and each file's blocks are parsed once)
    for rel in ran_files:
        try:
            seen = os.stat(os.path.join(root, rel))  # before the read: a write after it moves the key
            data = read_exact(os.path.join(root, rel))
        except OSError:
            continue
        shas[rel] = hashlib.sha1(data).hexdigest()
        proofs[rel] = None if too_fresh(seen) else list(stat_keys.key(seen))
        text = data.decode("utf-8", errors="surrogateescape")
        blocks[rel] = blocks_of(text, local) if rel.endswith(".py") else None
    ran: dict[str, dict[str, list[str]]] = defaultdict(dict)
    named: dict[tuple[str, Lines], set[str]] = {}  # a piece's blocks (a code object's lines recur in many tests)
    for context, per_file in lines.items():
        for rel, pieces in per_file.items():
            found = blocks.get(rel)
            if rel in shas:
                names = set()
                for piece in pieces:
                    if (got := named.get((rel, piece))) is None:
                        got = named[(rel, piece)] = names_of_lines(found, piece) if found else {MODULE}
                    names |= got
                ran[context][rel] = sorted(names)
    _merge(store, ran, blocks, shas, recording, ran_to_the_end)
    for rel, proof in proofs.items():
        store.files[rel]["key"] = proof  # a later stat with this key proves the content unchanged
    store.note = ""
    store.save(root)
    return f"recorded {sum(1 for c in ran if c and not c.startswith('@'))} tests over {len(shas)} files"


def _merge(
    store: Store,
    ran: dict[str, dict[str, list[str]]],
    blocks: dict[str, Blocks | None],
    shas: dict[str, str],
    recording: Recording,
    ran_to_the_end: bool,
) -> None:
    for rel, sha in shas.items():
        old = store.files.get(rel)
        found = blocks.get(rel)
        entry: dict[str, object] = {"sha": sha, "skeleton": found.skeleton if found else sha}
        entry["bodies"] = found.bodies if found else {}
        entry["units"] = [unit.as_json() for unit in found.units] if found else []
        entry["mentions"] = {name: sorted(said) for name, said in found.mentions.items()} if found else {}
        entry["reads"] = {name: sorted(said) for name, said in found.reads.items()} if found else {}
        entry["writes"] = {name: sorted(w) for name, w in found.writes.items() if w} if found else {}
        if old is not None and old.get("sha") != sha:  # tests recorded on the old content are stale there
            changed = _changed_names(old, entry)
            for test, per_file in list(store.tests.items()):
                if test not in ran and changed & set(per_file.get(rel, ())):
                    del store.tests[test]
                    store.whole.discard(test.split("::", 1)[0])
        store.files[rel] = entry
    for context, per_file in ran.items():
        if context == "" or context.startswith("@"):
            kept = store.wide.setdefault(context, {})
            for rel, names in per_file.items():
                kept[rel] = sorted(set(kept.get(rel, ())) | set(names))
        else:
            store.tests[context] = per_file
    if recording.whole_files and ran_to_the_end:
        run_files = {test.split("::", 1)[0] for test in ran if test and not test.startswith("@")}
        targets = recording.targets
        for test_file in run_files:
            if not targets or any(t == test_file or test_file.startswith(t.rstrip("/") + "/") for t in targets):
                store.whole.add(test_file)
                stale = [t for t in store.tests if t.split("::", 1)[0] == test_file and t not in ran]
                for test in stale:  # a test that is gone, or no longer collected
                    del store.tests[test]


def _changed_names(old: dict[str, object], new: dict[str, object]) -> set[str]:
    """The blocks that differ between two records of a file (the module's when its skeleton does)."""
    before, after = old.get("bodies") or {}, new.get("bodies") or {}
    assert isinstance(before, dict) and isinstance(after, dict)
    changed = {name for name in before.keys() | after.keys() if before.get(name) != after.get(name)}
    return changed | ({MODULE} if old.get("skeleton") != new.get("skeleton") else set())


def _read_lines(directory: str, root: str) -> dict[str, dict[str, list[Lines]]]:
    """context → workspace-relative file → the pieces of lines it ran there, from every data file of the run
    (coverage.py's SQLite: a piece per file and context; the sys.monitoring recorder's JSON: one per code object)."""
    found: dict[str, dict[str, set[Lines]]] = defaultdict(lambda: defaultdict(set))
    prefix = root.rstrip(os.sep) + os.sep
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if name.startswith("data"):
            rows = _coverage_rows(path)
        elif name.startswith("monitor.") and name.endswith(".json"):
            rows = _monitor_rows(path)
        else:
            continue
        real: dict[str, str] = {}  # each file's real path once, not per row
        for context, file, numbers in rows:
            if (resolved := real.get(file)) is None:
                resolved = real[file] = os.path.realpath(file)
            if resolved.startswith(prefix):
                found[context][resolved[len(prefix) :]].add(numbers)
    return {c: {rel: list(pieces) for rel, pieces in per.items()} for c, per in found.items()}


def _coverage_rows(path: str) -> list[tuple[str, str, Lines]]:
    """(context, file, lines) of a coverage.py data file."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            files = dict(db.execute("select id, path from file"))
            contexts = dict(db.execute("select id, context from context"))
            rows = db.execute("select file_id, context_id, numbits from line_bits").fetchall()
    except sqlite3.Error as exc:
        log.warning("unreadable coverage data %s: %s", path, exc)
        return []
    return [(contexts.get(c, ""), files[f], _numbers(bits)) for f, c, bits in rows if f in files]


def _monitor_rows(path: str) -> list[tuple[str, str, Lines]]:
    """(context, file, lines) of the sys.monitoring recorder's file (plugin/volley_monitor.py)."""
    try:
        raw = json.loads(Path(path).read_text())
        codes = [(str(file), tuple(int(n) for n in lines)) for file, lines in raw["codes"]]
        return [(str(c), *codes[i]) for c, started in raw["contexts"].items() for i in started]
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        log.warning("unreadable recording %s: %s", path, exc)
        return []


def _in_workspace_ids(
    lines: dict[str, dict[str, list[Lines]]], directory: str, root: str
) -> dict[str, dict[str, list[Lines]]]:
    """Contexts named by node ids relative to pytest's rootdir, renamed relative to the workspace's root."""
    try:
        rootdir = Path(directory, "rootdir").read_text().strip()
    except OSError:
        return lines
    inside = os.path.relpath(rootdir, root).replace(os.sep, "/")
    if inside == ".":
        return lines
    if inside.startswith(".."):
        return {}  # pytest's rootdir is outside the workspace: its node ids name nothing here
    renamed = {}
    for context, per_file in lines.items():
        if context.startswith(MODULE_SCOPE):
            renamed[f"{MODULE_SCOPE}{inside}/{context[len(MODULE_SCOPE) :]}"] = per_file
        elif context and not context.startswith("@"):
            renamed[f"{inside}/{context}"] = per_file
        else:
            renamed[context] = per_file
    return renamed


@functools.lru_cache(maxsize=65536)
def _numbers(numbits: bytes) -> tuple[int, ...]:
    """coverage.py's numbits: bit n set means line n ran (many tests run the same lines of a file)."""
    return tuple(i * 8 + bit for i, byte in enumerate(numbits) if byte for bit in range(8) if byte & (1 << bit))


def _store_path(root: str) -> Path:
    return cache_home() / "affected" / f"{hashlib.sha256(root.encode()).hexdigest()[:16]}.json"
