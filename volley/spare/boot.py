"""A spare interpreter: started ahead of a run as ``python boot.py -m MODULE ROOT [PRELOAD…]`` (or ``script
PATH`` for a script of this interpreter's), it imports pytest with its default plugins, and PRELOAD, then waits
for one line on its standard input, a JSON object ``{"cwd", "args", "env"}``, and becomes ``python -m MODULE
ARGS…`` (``python PATH ARGS…``) run from ``cwd``.

It runs in the project's own interpreter (any Python 3), imports nothing of Volley's, and serves one run. What
it imported ahead must be what the run would have imported: when a file it loaded changed since, lies inside
ROOT (the workspace's own code is never loaded ahead), or would now be shadowed (the run's folder comes first
on ``sys.path``), it execs the plain command instead, which is the run a cold start makes. What it imported
ahead is frozen (``gc.freeze``, as a pre-forking server does before it forks): the run's collections do not
walk it again (pytest collects at its end: 35 ms of a 0.1 s toolz run), and ``gc.get_objects`` does not list
it. An empty line or the end of its input: it exits without running anything.
"""

import contextlib
import gc
import importlib
import json
import os
import sys
import time

MARGIN_NS = 1_000_000_000  # file times lag the clock (a coarse tick; 2 s on FAT): changed this close is changed


def _preload(preloads):
    for name in ["pytest", *preloads]:
        with contextlib.suppress(Exception):  # the run meets the same failure at the same import, and says so
            importlib.import_module(name)
    try:  # what pytest's configuration imports first thing
        from _pytest.config import default_plugins, essential_plugins

        for name in (*essential_plugins, *default_plugins):
            importlib.import_module("_pytest." + name)
    except Exception:
        pass


def _stamps():
    """Each loaded module's file and its stat: what it was loaded from."""
    stamps = {}
    main = sys.modules.get("__main__")
    for name, mod in list(sys.modules.items()):
        path = getattr(mod, "__file__", None)
        if path and mod is not main:  # (this script, also as multiprocessing's __mp_main__)
            try:
                st = os.stat(path)
            except OSError:
                continue
            stamps[name] = (path, st.st_ctime_ns, st.st_size, st.st_ino)
    return stamps


def _folders():
    """The import path and each of its folders' stat: a module made since in one of them could shadow one
    loaded ahead (making or removing a file changes its folder's status-change time)."""
    stamps = []
    for folder in sys.path:
        try:
            st = os.stat(folder or ".")
        except OSError:
            stamps.append(None)
            continue
        stamps.append((st.st_ctime_ns, st.st_mtime_ns, st.st_ino))
    return list(sys.path), stamps


def _trusted(root, stamps, began):
    """Whether what was loaded ahead may serve a run at all (decided once it is loaded): no file changed since
    the spare began to import (a file changed while it was read could have been read either way; a status
    change's time cannot be set back), and none is the workspace's own code (an editable install)."""
    inside = os.path.join(os.path.realpath(root), "")
    installed = {os.path.join(os.path.realpath(p), "") for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    folders = {}  # a folder's real path, once per folder
    for path, ctime, _, _ in stamps.values():
        if ctime >= began - MARGIN_NS:
            return False
        folder, base = os.path.split(path)
        if folder not in folders:
            folders[folder] = os.path.join(os.path.realpath(folder), "")
        real = folders[folder] + base
        if real.startswith(inside) and not any(real.startswith(p) for p in installed):
            return False
    return True


def _fresh(stamps, executable, began, folders):
    """Whether the modules loaded ahead are still the ones the run would load: each file as it was loaded, and
    still the one an import finds first (looked up again only where a folder of the import path changed:
    ``folders``, as ``_folders()`` found them once the imports were done)."""
    settled = all(st is None or st[0] < began - MARGIN_NS for st in folders[1])
    shadowed = not settled or _folders() != folders
    for name, (path, ctime, size, ino) in stamps.items():
        try:
            st = os.stat(path)
        except OSError:
            return False
        if (st.st_ctime_ns, st.st_size, st.st_ino) != (ctime, size, ino):
            return False
        if shadowed and "." not in name and not _found_at(name, path):
            return False
    return executable == os.stat(sys.executable).st_ino


def _found_at(name, path):
    """Whether importing the top-level module ``name`` now would find ``path`` again."""
    for finder in sys.meta_path:
        find = getattr(finder, "find_spec", None)
        if find is None:
            continue
        try:
            spec = find(name, None)
        except Exception:
            return False
        if spec is not None:
            return spec.origin == path or not spec.has_location
    return False


def main():
    kind, target, root, preloads = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    first = os.getcwd() if kind == "-m" else os.path.dirname(os.path.realpath(target))
    if not getattr(sys.flags, "safe_path", False):
        sys.path[0] = first  # (this script's folder out) what the run puts first: imports resolve as its own
    executable = os.stat(sys.executable).st_ino
    began = time.time_ns()
    _preload(preloads)
    stamps = _stamps()
    folders = _folders()
    trusted = _trusted(root, stamps, began)
    if trusted and hasattr(gc, "freeze"):  # what was imported ahead lives as long as the run: out of its collections
        gc.collect()
        gc.freeze()
    line = sys.stdin.buffer.readline()
    if not line.strip():
        return 0
    go = json.loads(line)
    null = os.open(os.devnull, os.O_RDONLY)  # a run's standard input is /dev/null
    os.dup2(null, 0)
    os.close(null)
    os.chdir(go["cwd"])
    for key, value in go["env"].items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    if kind == "-m" and not getattr(sys.flags, "safe_path", False):
        sys.path[0] = os.getcwd()  # (the folder may have moved)
    importlib.invalidate_caches()
    argv = [sys.executable, *(["-m"] if kind == "-m" else []), target, *go["args"]]
    if not (trusted and _fresh(stamps, executable, began, folders)):
        os.execv(sys.executable, argv)
    import runpy

    if kind == "-m":
        sys.argv = ["-m", *go["args"]]  # as `-m` has it until the module is found
        runpy._run_module_as_main(target, alter_argv=True)  # what `python -m` itself calls
    else:
        sys.argv = [target, *go["args"]]
        runpy.run_path(target, run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
