"""The recorded way's selection: the tests that ran a changed function, or code that reads a name a changed
import-time statement binds; the import graph where the record cannot attribute a change."""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property

from volley import stat_keys
from volley.affected import Selection, Static, plural, with_failures
from volley.affected.bindings import HOOK, STAR, Unit
from volley.affected.blocks import MODULE, Blocks, blocks_of, local_names
from volley.affected.recorded import MODULE_SCOPE, SESSION, Store
from volley.exact_open import read_exact
from volley.workspace import Workspace


class WholeSuite(Exception):
    """The change reaches code every test depends on."""


def select_recorded(ws: Workspace, changed: list[str], failed_before: list[str]) -> Selection | None:
    """The tests ``changed`` (and every change since the record) can affect, from the record where it can
    attribute a change, the static way where it cannot (blocking). None: nothing is recorded."""
    root = str(ws.root)
    store = Store.load(root)
    if not store.tests:
        return None
    chooser = _Chooser(ws, store, Static(ws))
    try:
        for rel in sorted(set(changed) | _changed_since_record(root, store)):
            chooser.take(rel)
        chooser.follow_names()
    except WholeSuite as exc:
        tests = chooser.static.tests
        return Selection(tests, len(tests), True, [*chooser.reasons, str(exc)], way="recorded")
    files = chooser.files & set(chooser.static.tests)  # (a module-scoped fixture's file may be gone too)
    ids = {t for t in chooser.ids if t.split("::", 1)[0] not in files}
    chosen = Selection(sorted(files) + sorted(ids), len(chooser.static.tests), False, chooser.reasons)
    chosen.way, chosen.test_ids = "recorded", len(ids)
    return with_failures(chosen, failed_before, chooser.static.tests)


@dataclass
class _Chooser:
    ws: Workspace
    store: Store
    static: Static
    ids: set[str] = field(default_factory=set)
    files: set[str] = field(default_factory=set)
    reasons: list[str] = field(default_factory=list)
    tests: dict[str, dict[str, list[str]]] = field(init=False)  # the record's tests still in the suite
    now: dict[str, Blocks] = field(default_factory=dict)  # changed recorded files, as they are now
    seeds: dict[str, set[str]] = field(default_factory=dict)  # file → names its changed import-time code binds
    objects: set[str] = field(default_factory=set)  # what it changes in place (``REG[k] = v``)
    called: set[str] = field(default_factory=set)  # names the changed import-time code mentions

    def __post_init__(self) -> None:
        suite = set(self.static.tests)  # (a recorded test whose file is gone, or left the suite, is not run)
        self.tests = {t: per_file for t, per_file in self.store.tests.items() if t.split("::", 1)[0] in suite}

    def _test_file(self, rel: str) -> bool:
        """A test file (not a module collected for its doctests: its code is recorded as any other's)."""
        return self.static.suite.holds(rel) and not self.static.suite.doctests(rel)

    def take(self, rel: str) -> None:
        """Attribute one changed file."""
        entry = self.store.files.get(rel)
        name = rel.rsplit("/", 1)[-1]
        if not rel.endswith(".py") or self._test_file(rel) or name == "conftest.py" or entry is None:
            group, whole, because = self.static.of(rel)
            if whole:
                raise WholeSuite(whole)
            self.files |= group
            self.reasons += [because] if because else []
            return
        try:
            text = read_exact(os.path.join(str(self.ws.root), rel)).decode("utf-8", "surrogateescape")
            now = blocks_of(text, self._local | local_names([rel]))
        except OSError:
            now = None
        if now is None:
            return self.statically(rel, "it does not parse (or cannot be read)")
        self.now[rel] = now
        before = entry.get("bodies") or {}
        assert isinstance(before, dict)
        kept_units = entry.get("units") or []
        assert isinstance(kept_units, list)
        names = {n for n in before.keys() | now.bodies.keys() if before.get(n) != now.bodies.get(n)}
        bound: set[str] = set()
        objects: set[str] = set()
        if now.skeleton != entry["skeleton"]:
            added, removed = _changed_units([Unit.from_json(u) for u in kept_units], now.units)
            changed = added + removed
            opaque = _opaque(added, removed, set(self.store.wide.get("", {}).get(rel, ())))
            if opaque:
                return self.statically(rel, f"code outside its functions changed ({opaque})")
            bound = set().union(*(u.binds for u in changed))
            objects = set().union(*(u.changes for u in changed))
            self.called |= set().union(*(u.mentions | u.reads for u in changed))  # a function it calls at import
            self.ids |= {t for t, per_file in self.tests.items() if MODULE in per_file.get(rel, ())}
        if names & set(self.store.wide.get(SESSION, {}).get(rel, ())):
            raise WholeSuite(f"{rel}: a session fixture ran {', '.join(sorted(names))}: the whole suite")
        at_import = names & set(self.store.wide.get("", {}).get(rel, ()))
        bound |= {n.rsplit(".", 1)[-1] for n in at_import}  # what it returned went where its name is mentioned
        objects |= set().union(*(now.writes.get(n, frozenset()) for n in at_import))  # and what it changed
        hit = {t for t, per_file in self.tests.items() if names & set(per_file.get(rel, ()))}
        self.ids |= hit
        self.files |= {f for f in self._scoped() if names & set(self.store.wide[MODULE_SCOPE + f].get(rel, ()))}
        shown = _shown(names)
        said = [f"{plural(len(hit), 'test')} ran {shown}" if names else "no function changed"]
        said += [f"{_shown(at_import)} ran at import"] if at_import else []
        named = (bound | objects) - at_import
        said += [f"code outside its functions binds {_shown(named)}"] if named else []
        self.reasons.append(f"{rel}: {'; '.join(said)}")
        if bound:
            self.seeds.setdefault(rel, set()).update(bound)
        self.objects |= objects
        if set(self.static.tests) - self.store.whole:  # tests the record does not hold: the import graph decides
            group, _, _ = self.static.of(rel)
            self.files |= group - self.store.whole

    @cached_property
    def _local(self) -> frozenset[str]:
        """The names of the workspace's modules that the record holds (every module a test imported)."""
        return local_names(self.store.files)

    def statically(self, rel: str, why: str) -> None:
        group, whole, because = self.static.of(rel)
        self.files |= group
        self.reasons.append(f"{rel}: {why}; {because.removeprefix(rel + ': ')}" if because else f"{rel}: {why}")
        if whole:
            raise WholeSuite(whole)

    def follow_names(self) -> None:
        """Select what reads a name the changed import-time code binds (in its module, or where it is imported
        by name), through the names bound by the import-time code (and the functions run at import) that read
        them, to a fixed point."""
        if not self.seeds and not self.objects:
            return
        units = {rel: self._units(rel) for rel in self.store.files}
        at_import = self.store.wide.get("", {})
        writes: dict[str, set[str]] = {}  # a function run at import → what it changes (a decorator's registry)
        for rel, bodies in at_import.items():
            for body in bodies:
                if body != MODULE:
                    writes.setdefault(body.rsplit(".", 1)[-1], set()).update(self._writes(rel, body))
        star = {rel for rel, found in units.items() if any(u.opaque == STAR for u in found)}
        objects = self.objects.union(*(writes.get(name, ()) for name in self.called))
        reach = _Reach({rel: set(names) for rel, names in self.seeds.items()}, objects, star)
        while True:
            size = reach.size()
            for rel, found in units.items():
                for unit in found:
                    if reach.hit(rel, unit.reads, unit.mentions) and not reach.holds(rel, unit.binds, unit.changes):
                        if unit.opaque:
                            for seed in sorted(self.seeds):
                                self.statically(seed, f"{rel} uses what it binds at import ({unit.opaque})")
                            return
                        said = unit.reads | unit.mentions
                        reach.add(rel, unit.binds, unit.changes.union(*(writes.get(n, ()) for n in said)))
            for rel, bodies in at_import.items():
                for body in bodies:
                    if body != MODULE and reach.hit(rel, self._reads(rel, body), self._mentions(rel, body)):
                        reach.add(rel, {body.rsplit(".", 1)[-1]}, self._writes(rel, body))
            if reach.size() == size:
                break
        mentioning = _Mentioning(self, reach)
        if mentioning.any(self.store.wide.get(SESSION, {})):
            raise WholeSuite(f"a session fixture uses {_shown(reach.names)}: the whole suite")
        self.files |= {scope for scope in self._scoped() if mentioning.any(self.store.wide[MODULE_SCOPE + scope])}
        hit = {test for test, per_file in self.tests.items() if mentioning.any(per_file)}
        self.ids |= hit
        self.reasons.append(f"{plural(len(hit), 'test')} ran code that uses {_shown(reach.names)}")

    def _units(self, rel: str) -> list[Unit]:
        if rel in self.now:
            return self.now[rel].units
        kept = self.store.files.get(rel, {}).get("units") or []
        assert isinstance(kept, list)
        return [Unit.from_json(u) for u in kept]

    def _mentions(self, rel: str, block: str) -> frozenset[str]:
        return self._of_block(rel, block, "mentions")

    def _reads(self, rel: str, block: str) -> frozenset[str]:
        return self._of_block(rel, block, "reads")

    def _writes(self, rel: str, block: str) -> frozenset[str]:
        return self._of_block(rel, block, "writes")

    def _of_block(self, rel: str, block: str, kind: str) -> frozenset[str]:
        """A function's names of one kind, as the file is now where it changed, else as recorded."""
        if rel in self.now:
            now: dict[str, frozenset[str]] = getattr(self.now[rel], kind)
            return now.get(block, frozenset())
        kept = self.store.files.get(rel, {}).get(kind) or {}
        assert isinstance(kept, dict)
        return frozenset(kept.get(block, ()))

    def _scoped(self) -> list[str]:
        return [c[len(MODULE_SCOPE) :] for c in self.store.wide if c.startswith(MODULE_SCOPE)]


@dataclass
class _Reach:
    """The names a change reaches: per module, the names bound there (a bare name is its module's); objects
    changed in place (read by a bare name anywhere: whose they are is not known); the modules that import
    every name with ``*``."""

    bound: dict[str, set[str]]
    objects: set[str]
    star: set[str]
    names: set[str] = field(default_factory=set)  # all of them: seen anywhere by attribute, keyword, import

    def __post_init__(self) -> None:
        self.names = self.objects.union(*self.bound.values())

    def hit(self, rel: str, reads: frozenset[str], mentions: frozenset[str]) -> bool:
        """Whether code of module ``rel`` that reads and mentions these names sees one the change reaches."""
        if mentions & self.names or reads & self.objects:
            return True
        return bool(reads & (self.names if rel in self.star else self.bound.get(rel, set())))

    def holds(self, rel: str, binds: frozenset[str], changes: frozenset[str]) -> bool:
        return binds <= self.bound.get(rel, set()) and changes <= self.objects

    def add(self, rel: str, binds: set[str] | frozenset[str], changes: set[str] | frozenset[str]) -> None:
        self.bound.setdefault(rel, set()).update(binds)
        self.objects |= changes
        self.names |= binds | changes

    def size(self) -> int:
        return len(self.objects) + sum(len(names) for names in self.bound.values())


class _Mentioning:
    """Whether a recorded block sees a name the change reaches (cached: every test asks about the same blocks)."""

    def __init__(self, chooser: _Chooser, reach: _Reach) -> None:
        self.chooser, self.reach, self.seen = chooser, reach, dict[tuple[str, str], bool]()

    def __call__(self, rel: str, block: str) -> bool:
        key = (rel, block)
        if key not in self.seen:
            if block == MODULE:  # module-level code that ran during a test: what its statements read and mention
                units = self.chooser._units(rel)
                reads = frozenset().union(*(u.reads for u in units))
                mentions = frozenset().union(*(u.mentions for u in units))
            else:
                reads, mentions = self.chooser._reads(rel, block), self.chooser._mentions(rel, block)
            self.seen[key] = self.reach.hit(rel, reads, mentions)
        return self.seen[key]

    def any(self, ran: dict[str, list[str]]) -> bool:
        """Whether any of the blocks a test (or a fixture) ran, per file, sees one of the names."""
        return any(self(rel, block) for rel, blocks in ran.items() for block in blocks)


def _changed_units(before: list[Unit], after: list[Unit]) -> tuple[list[Unit], list[Unit]]:
    """The import-time statements only the new version has, and those only the old one had (compared as
    multisets of fingerprints)."""
    old, new = Counter(u.fingerprint for u in before), Counter(u.fingerprint for u in after)
    added = [u for u in after if new[u.fingerprint] > old[u.fingerprint]]
    return added, [u for u in before if old[u.fingerprint] > new[u.fingerprint]]


def _opaque(added: list[Unit], removed: list[Unit], ran_at_import: set[str]) -> str:
    """Why the changed statements' effect has no name ("": it has one). A module ``__getattr__`` (or
    ``__dir__``) that is gone is the exception when it did not run at import: only code that called it saw it,
    and that code ran its body, which the record holds."""
    for unit in added:
        if unit.opaque:
            return unit.opaque
    for unit in removed:
        if unit.opaque and not (unit.opaque.startswith(HOOK) and not unit.binds & ran_at_import):
            return unit.opaque
    return ""


def _shown(names: set[str]) -> str:
    ordered = sorted(names)
    return ", ".join(ordered[:5]) + (f" and {len(ordered) - 5} more" if len(ordered) > 5 else "")


def _changed_since_record(root: str, store: Store) -> set[str]:
    """The recorded files whose content is not what the record was made on (read again only when a stat does not
    prove it unchanged)."""
    changed = set()
    for rel, entry in store.files.items():
        path = os.path.join(root, rel)
        try:
            if entry.get("key") is not None and list(stat_keys.key(os.stat(path))) == entry["key"]:
                continue
            sha = hashlib.sha1(read_exact(path)).hexdigest()
        except OSError:
            sha = ""
        if sha != entry.get("sha"):
            changed.add(rel)
    return changed
