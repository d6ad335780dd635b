"""What a module's import-time code binds, and the names code reads and mentions: how the recorded way follows
a change of code outside functions to the tests it can reach.

Code outside function bodies runs once, at import, before any test; what it leaves behind is names bound in
the module and objects changed in place. A test can see such a change only through code that reads one of
those names, so a changed statement selects the tests that ran code reading a name it binds, and the names
bound by other import-time code that reads them (aliases, subclasses, decorated functions), to a fixed
point. A statement whose effect has no name (a call for its side effect, a change to another module's
object, a module ``__getattr__``) is "opaque": the caller falls back to the import graph.

A bare name is its own module's: code reads ``os`` of its module, so a changed ``import os`` reaches the
code of that module that reads ``os``, and the modules that import the name from it (``from m import x``
mentions ``x``, matched wherever it is, as attributes, keywords and identifier strings are). A class's
statements bind the class: its members are reached through it.
"""

from __future__ import annotations

import ast
import copy
import hashlib
from collections.abc import Collection
from dataclasses import dataclass

Function = ast.FunctionDef | ast.AsyncFunctionDef
SPECIAL = {"__getattr__", "__dir__", "__path__", "__class__", "__builtins__", "__spec__", "__loader__"}
STAR = "a star import"  # binds every name its module binds
HOOK = "it defines the module's "  # __getattr__, __dir__: called for names the module does not bind
DYNAMIC = {"globals", "locals", "vars", "setattr", "delattr", "exec", "eval", "__import__", "import_module"}


@dataclass(frozen=True)
class Unit:
    """One import-time statement (a class's header and each statement of its body are units of their own)."""

    fingerprint: str
    binds: frozenset[str]  # names it binds in its module (a class's statement: the class)
    mentions: frozenset[str]  # names it may see anywhere (``mentions_of``)
    opaque: str = ""  # why its effect cannot be named ("": it can)
    reads: frozenset[str] = frozenset()  # bare names: its module's
    changes: frozenset[str] = frozenset()  # objects it changes in place (``REG[k] = v``): maybe another module's

    def as_json(self) -> list[object]:
        names = [sorted(self.binds), sorted(self.mentions)]
        return [self.fingerprint, *names, self.opaque, sorted(self.reads), sorted(self.changes)]

    @classmethod
    def from_json(cls, raw: list) -> Unit:
        return cls(raw[0], frozenset(raw[1]), frozenset(raw[2]), raw[3], frozenset(raw[4]), frozenset(raw[5]))


def units_of(tree: ast.Module, local: Collection[str] | None = None) -> list[Unit]:
    """The module's import-time statements (function bodies excluded; read before they are stripped); ``local``
    as for ``mentions_of``."""
    modules = {
        (alias.asname or alias.name).split(".")[0]
        for node in tree.body
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    found: list[Unit] = []
    for statement in tree.body:
        _units(statement, (), modules, local, found)
    return found


def mentions_of(node: ast.AST, local: Collection[str] | None = None) -> tuple[frozenset[str], frozenset[str]]:
    """(reads, mentions) of a piece of code: the bare names it reads or binds (its own module's), and the names
    it may see anywhere: attributes, keywords, string constants that are identifiers (``getattr(x, "name")``,
    ``__all__``), and what ``from m import x`` takes from a module of the workspace (``local``: the names of
    its modules and packages; None: any module may be one; a module that is not, ``typing``, binds nothing
    a change here alters)."""
    reads: set[str] = set()
    seen: set[str] = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            if isinstance(child.ctx, ast.Load):  # `x = 1` reads no x
                reads.add(child.id)
        elif isinstance(child, ast.AugAssign) and isinstance(child.target, ast.Name):
            reads.add(child.target.id)  # `x += 1` does
        elif isinstance(child, ast.Attribute):
            seen.add(child.attr)
        elif isinstance(child, ast.Import):
            reads.update((alias.asname or alias.name).split(".")[0] for alias in child.names)
        elif isinstance(child, ast.ImportFrom):
            module = (child.module or "").split(".")
            ours = child.level > 0 or local is None or module[0] in local
            if ours:
                seen.update(module)
            for alias in child.names:
                (seen if ours else reads).add(alias.name)
                reads.add(alias.asname or "")
        elif isinstance(child, ast.keyword) and child.arg:
            seen.add(child.arg)
        elif isinstance(child, ast.Constant) and isinstance(child.value, str) and child.value.isidentifier():
            seen.add(child.value)
    reads.discard("")
    seen.discard("")
    return frozenset(reads), frozenset(seen)


def writes_of(function: Function) -> frozenset[str]:
    """What a function changes outside itself when it runs: the objects it stores into (``REGISTRY[k] = f``,
    ``obj.attr = v``), calls a method of (``handlers.append(f)``), or declares ``global``; its parameters and
    its own variables excepted. A decorator run at import changes these for the tests."""
    params = {a.arg for a in ast.walk(function.args) if isinstance(a, ast.arg)}
    declared: set[str] = set()
    local: set[str] = set()
    roots: set[str] = set()
    for node in ast.walk(function):  # one pass: a large module's functions are many
        target: ast.expr | None = None
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Store):
                local.add(node.id)
        elif isinstance(node, ast.Attribute | ast.Subscript) and isinstance(node.ctx, ast.Store | ast.Del):
            target = node
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            target = node.func.value
        elif isinstance(node, ast.Global | ast.Nonlocal):
            declared.update(node.names)
        root = _root(target) if target is not None else None
        if root is not None and root not in params:
            roots.add(root)
    found = declared | {root for root in roots if root not in local or root in declared}
    return frozenset(found)


def _units(
    node: ast.stmt, owners: tuple[str, ...], modules: set[str], local: Collection[str] | None, found: list[Unit]
) -> None:
    if (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)) or isinstance(node, ast.Pass):
        return  # a docstring, `...`, pass: nothing bound, nothing run
    if isinstance(node, ast.ClassDef):
        header = [*node.decorator_list, *node.bases, *node.keywords]
        shape = node.name + "".join(ast.dump(part) for part in header)
        said = _mentions(header, local)
        changes = _called_roots(header, modules)
        found.append(_unit(shape, _members(node.name, owners), said, _opaque(header, node.name, owners), changes))
        for statement in node.body:
            _units(statement, (*owners, node.name), modules, local, found)
        return
    if isinstance(node, Function):
        evaluated = [*node.decorator_list, *node.args.defaults, *(d for d in node.args.kw_defaults if d)]
        annotations = [a.annotation for a in ast.walk(node.args) if isinstance(a, ast.arg) and a.annotation]
        annotations += [node.returns] if node.returns else []  # read at run time by some frameworks
        shape = f"{type(node).__name__} {node.name}" + "".join(ast.dump(part) for part in node.decorator_list)
        said = _mentions([*evaluated, *annotations], local)
        opaque = _opaque(evaluated, node.name, owners)
        found.append(_unit(shape, _members(node.name, owners), said, opaque, _called_roots(evaluated, modules)))
        return  # its signature and body are the function's block, with their own fingerprint
    stripped = _without_bodies(node)
    binds, changes = _bound(stripped, modules)
    binds = set(owners[:1]) if owners else binds  # a class's statement: the class
    opaque = _opaque_statement(stripped, modules)
    found.append(_unit(ast.dump(stripped), binds, mentions_of(stripped, local), opaque, changes))


def _members(name: str, owners: tuple[str, ...]) -> set[str]:
    """What a definition binds in its module: its name, or in a class's body the class (its members are seen
    only through the class or its instances, and both come from code that reads the class's name, a
    subclass's, or a registry that code filled: matching ``.write`` anywhere selected every stream's)."""
    return set(owners[:1]) if owners else {name}


def _unit(
    shape: str, binds: set[str], said: tuple[frozenset[str], frozenset[str]], opaque: str, changes: set[str]
) -> Unit:
    digest = hashlib.sha1(shape.encode(errors="surrogateescape")).hexdigest()[:16]
    reads, mentions = said
    return Unit(digest, frozenset(binds), mentions, opaque, reads, frozenset(changes))


def _mentions(parts: list, local: Collection[str] | None) -> tuple[frozenset[str], frozenset[str]]:
    found = [mentions_of(part, local) for part in parts]
    return frozenset().union(*(r for r, _ in found)), frozenset().union(*(m for _, m in found))


def _without_bodies(node: ast.stmt) -> ast.stmt:
    """A compound statement with the functions it defines reduced to their import-time part."""
    if not any(isinstance(child, Function) for child in ast.walk(node)):
        return node
    node = copy.deepcopy(node)
    for child in ast.walk(node):
        if isinstance(child, Function):
            child.body = [ast.Pass()]
            child.args = ast.arguments(
                posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[], defaults=child.args.defaults
            )
            child.returns = None
    return node


def _bound(node: ast.stmt, modules: set[str]) -> tuple[set[str], set[str]]:
    """The names a statement binds, and the objects it changes in place: what it stores into (``REG[k] = v``,
    ``obj.attr = v``) and what its calls may change."""
    binds: set[str] = set()
    changes: set[str] = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store | ast.Del):
            binds.add(child.id)
        elif isinstance(child, ast.alias):
            binds.add((child.asname or child.name).split(".")[0])
        elif isinstance(child, Function | ast.ClassDef):
            binds.add(child.name)
        elif isinstance(child, ast.Attribute | ast.Subscript) and isinstance(child.ctx, ast.Store | ast.Del):
            changes.add(_root(child) or "")
            binds.add(child.attr if isinstance(child, ast.Attribute) else "")
    if "__all__" in binds:  # `from m import *` binds what it lists
        binds |= {c.value for c in ast.walk(node) if isinstance(c, ast.Constant) and isinstance(c.value, str)}
    changes |= _called_roots([node], modules)
    binds.discard("")
    changes.discard("")
    return binds, changes


def _called_roots(parts: list, modules: set[str]) -> set[str]:
    """``registry`` of ``registry.add(x)``, ``app`` of ``@app.route("/")``: an object a call may change (a
    module's function, ``re.compile``, is taken to change nothing)."""
    roots = set()
    for part in parts:
        for child in ast.walk(part):
            if isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute):
                root = _root(child.func.value)
                if root and root not in modules:
                    roots.add(root)
    return roots


def _root(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Call):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _opaque(parts: list, name: str, owners: tuple[str, ...]) -> str:
    if not owners and name in SPECIAL:
        return f"{HOOK}{name}"
    return next((why for part in parts if (why := _dynamic(part))), "")


def _opaque_statement(node: ast.stmt, modules: set[str]) -> str:
    """Why a statement's effect cannot be named by what it binds ("": it can)."""
    for child in ast.walk(node):
        if isinstance(child, ast.Attribute | ast.Subscript) and isinstance(child.ctx, ast.Store | ast.Del):
            root = _root(child)
            if root is not None and root in modules:
                return f"it changes the module {root}"
        if isinstance(child, ast.Expr) and not isinstance(child.value, ast.Constant) and not _method(child, modules):
            return "it calls code for its effect"
        if isinstance(child, ast.With | ast.AsyncWith):
            return "it runs a context manager"
        if isinstance(child, ast.ImportFrom) and any(alias.name == "*" for alias in child.names):
            return STAR
        if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store) and child.id in SPECIAL:
            return f"it sets the module's {child.id}"
    return _dynamic(node)


def _method(statement: ast.Expr, modules: set[str]) -> bool:
    """``ALLOWED.update({...})``: a call of a method of one of the module's objects, which changes that object
    (``_called_roots``), as the same call in an assignment would; a module's function is no such method."""
    call = statement.value
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Attribute):
        return False
    root = _root(call.func.value)
    return root is not None and root not in modules


def _dynamic(node: ast.AST) -> str:
    for child in ast.walk(node):
        if isinstance(child, ast.Call):
            called = child.func.id if isinstance(child.func, ast.Name) else getattr(child.func, "attr", "")
            if called in DYNAMIC:
                return f"it calls {called}()"
    return ""
