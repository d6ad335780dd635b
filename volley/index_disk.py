"""The file index's walk kept on disk between sessions, so a new server proves it instead of walking again.

Every agent session starts a server of its own; at 200k files the walk alone took 2.7 s before its first
answer. A walk is kept here (one JSON file per workspace and configuration under the cache directory) with
everything that shaped it: the stat of each directory and ignore or rule file, as a walk records them
(snapshot.py). A new server loads it and proves it exactly as a server proves its own kept walk where no
watches run: every recorded path is stated again, and only the directories that changed are read again
(index_patch.py). A stat taken too close to a change proves nothing (a second change in the same clock
tick could keep it): such paths are kept marked racy, so they count as changed. The denied files' inodes
the walk met are kept too (hard links to them stay refused). The rules (deny and ignore patterns from flags and
the environment as well as files, and Volley's own code) name the file, so a server with other rules walks anew.
An accelerator only: a file that cannot be read or written is a walk, as before.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
from pathlib import Path

from volley import ignore as _ignore
from volley import snapshot as _snapshot
from volley import workspace as _workspace
from volley.cache_dir import cache_home
from volley.snapshot import Snapshot
from volley.stat_keys import RACY_NS, StatKey
from volley.workspace import Workspace

log = logging.getLogger(__name__)

FORMAT = 1
_said: set[str] = set()


def path_of(ws: Workspace) -> Path:
    """Where the workspace's walk is kept, named by its root, the rules it was walked by (the configuration's
    ignore and deny patterns) and the code that walked it (the default rules are Volley's)."""
    rules = json.dumps([ws.config.ignore, ws.config.deny])
    walked_by = hashlib.sha256(f"{FORMAT}\0{_code()}\0{rules}".encode()).hexdigest()[:16]
    return cache_home() / f"{_prefix(ws)}{walked_by}.json"


def _prefix(ws: Workspace) -> str:
    return f"files-{hashlib.sha256(os.fsencode(ws.root)).hexdigest()[:16]}-"


@functools.cache
def _code() -> str:
    digest = hashlib.sha256()
    for module in (_ignore, _snapshot, _workspace):
        digest.update(Path(module.__file__ or "").read_bytes())
    return digest.hexdigest()


def save(ws: Workspace, snapshot: Snapshot) -> None:
    """Keep ``snapshot`` (the visible files' walk) for the next server; not when a rule file changed too
    recently to prove anything by its stat, or the cache cannot be written (said once)."""
    fresh_from = snapshot.since_ns - RACY_NS  # a stat read after this, of a path changed after it, is racy
    racy = set(snapshot.racy) | {path for path, key in snapshot.stats.items() if _changed_after(key, fresh_from)}
    if racy.intersection(snapshot.rule_files):
        return
    body = {
        "format": FORMAT,
        "root": str(ws.root),
        "since_ns": snapshot.since_ns,
        "entries": snapshot.entries,
        "kinds": snapshot.kinds.decode("latin-1"),
        "hidden": snapshot.hidden,
        "stats": snapshot.stats,
        "rule_files": snapshot.rule_files,
        "ignore_files": snapshot.ignore_files,
        "racy": sorted(racy),
        "directories": snapshot.directories,
        "left_out": sorted(snapshot.left_out),
        "denied_inodes": sorted(ws.denied_inodes),
    }
    path = path_of(ws)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.new")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(json.dumps(body))
        os.replace(temporary, path)
        for other in path.parent.glob(f"{_prefix(ws)}*.json"):  # walked by other rules, or older code
            if other != path:
                other.unlink(missing_ok=True)
    except (OSError, ValueError) as exc:  # ValueError: a name json cannot write (never seen: names round-trip)
        _say_once(path, f"cannot keep the walk of {ws.root} in {path} ({exc}): the next server walks it again")
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        return


def load(ws: Workspace) -> Snapshot | None:
    """The walk a former server kept for this workspace and configuration, not yet proven; None if none."""
    path = path_of(ws)
    try:
        kept = json.loads(path.read_text())
        if kept.get("format") != FORMAT or kept.get("root") != str(ws.root):
            return None
        stats = {path: None if key is None else tuple(key) for path, key in kept["stats"].items()}
        one = {path: path for path in stats}  # one string per path, as a walk keeps them (not one per mention)
        snapshot = Snapshot(
            entries=kept["entries"],
            kinds=bytearray(kept["kinds"].encode("latin-1")),
            hidden=kept["hidden"],
            stats=stats,
            rule_files=kept["rule_files"],
            ignore_files={one.get(d, d): [one.get(f, f) for f in files] for d, files in kept["ignore_files"].items()},
            racy={one.get(path, path) for path in kept["racy"]},
            directories=[one.get(d, d) for d in kept["directories"]],
            left_out=set(kept["left_out"]),
            since_ns=kept["since_ns"],
        )
        denied = {(device, inode) for device, inode in kept["denied_inodes"]}
    except (FileNotFoundError, NotADirectoryError):  # none kept (or no cache directory: saving says so)
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        _say_once(path, f"the walk kept in {path} cannot be read ({type(exc).__name__}: {exc}): walking again")
        return None
    if len(snapshot.kinds) != len(snapshot.entries):
        return None
    ws.denied_inodes |= denied
    return snapshot


def _changed_after(key: StatKey | None, ns: int) -> bool:
    return key is not None and max(key[0], key[3]) >= ns


def _say_once(path: Path, message: str) -> None:
    if str(path) not in _said:
        _said.add(str(path))
        log.warning(message)
