"""Spare interpreters: a pytest run that finds one ready starts without Python's start-up and pytest's imports.

After a pytest run (``python -m pytest``, or a ``pytest`` script whose first line names its Python), a spare is
started for the next run like it (same interpreter, folder and environment): ``boot.py`` in the project's own
interpreter, pytest (and what the recording plugin will import, when the run records) imported, waiting. The next
such run takes it: it is sent the run's arguments and becomes the run there, that run's process, killed and reaped
with it as any run's (volley/process.py); a spare serves one run and is never reused. A spare checks before it runs
that what it imported is what a cold start would import (no file changed, none of the workspace's own code, nothing
shadowed now), and else execs the cold command. Spares are kept per event loop, at most ``LIMIT``; those left idle
are killed with the server.

Measured on toolz (2 cores, quiet): a run of one test file 0.17 s cold, 0.07 s from a spare.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio

from volley.process import MARK, Completed, OnOutput, Started, marked_env, open_marked, release, run_process

BOOT = str(Path(__file__).with_name("boot.py"))
LIMIT = 4  # idle spares at once (each an interpreter with pytest imported: about 30 MB)

Key = tuple[str, str, str, str, frozenset[tuple[str, str]]]  # python, -m/script, module/path, cwd, environment


@dataclass
class _Idle:
    started: Started
    loop: asyncio.AbstractEventLoop


class Spares:
    """The idle spares, one per kind of run."""

    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit
        self._idle: OrderedDict[Key, _Idle] = OrderedDict()

    async def take(
        self, key: Key, argv: Sequence[str], cwd: str, env: Mapping[str, str], late: Sequence[str]
    ) -> Started | None:
        """The spare for this run (``key``: ``key_of`` it), told to become it; None when there is none (run it
        cold). ``late``: names of the environment that differ from run to run (set when the spare becomes it)."""
        idle = self._idle.pop(key, None)
        if idle is None:
            return None
        process = idle.started.process
        if idle.loop is not asyncio.get_running_loop() or process.returncode is not None or process.stdin is None:
            await self._give_up(idle)
            return None
        merged = {**os.environ, **env}
        args = argv[3:] if key[1] == "-m" else argv[1:]  # (the module, or the script, is in the key)
        go = {"cwd": cwd, "args": list(args), "env": {name: merged.get(name) for name in late}}
        try:
            await process.stdin.send(json.dumps(go).encode() + b"\n")
            await process.stdin.aclose()
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):  # it died while waiting
            await self._give_up(idle)
            return None
        return idle.started

    async def start(
        self, key: Key, env: Mapping[str, str], late: Sequence[str], root: str, preload: Sequence[str]
    ) -> None:
        """Start a spare for the next run of this ``key`` (``root``: the workspace, whose code it never imports)."""
        if key in self._idle:
            return
        while len(self._idle) >= self.limit:
            _, oldest = self._idle.popitem(last=False)
            await self._give_up(oldest)
        full = marked_env({name: value for name, value in env.items() if name not in late})
        for name in late:
            full.pop(name, None)
        python, kind, target, cwd = key[:4]
        try:
            with anyio.CancelScope(shield=True):  # (started and not kept would wait for the server's end)
                process = await open_marked(
                    [python, BOOT, kind, target, root, *preload], cwd=cwd, env=full, stdin=subprocess.PIPE
                )
        except Exception:  # the run itself has just started this interpreter: nothing to say here
            return
        spare = _Idle(Started(process, full[MARK]), asyncio.get_running_loop())
        if key in self._idle:  # another run made one meanwhile
            await self._give_up(spare)
        else:
            self._idle[key] = spare

    async def aclose(self) -> None:
        """Kill every idle spare and reap it (the server's end kills them without this: kill_all_runs)."""
        while self._idle:
            _, idle = self._idle.popitem()
            await self._give_up(idle)

    async def _give_up(self, idle: _Idle) -> None:
        release(idle.started.process)
        if idle.loop is asyncio.get_running_loop():
            await idle.started.process.aclose()


async def run_warm(
    argv: Sequence[str],
    *,
    cwd: str,
    env: Mapping[str, str],
    late: Sequence[str],
    root: str,
    preload: Sequence[str] = (),
    timeout: float,
    on_output: OnOutput | None = None,
    next_run: bool = True,
) -> Completed:
    """run_process from the spare that waits for this run, when one does; then (``next_run``) a spare for the
    next run like it."""
    key = key_of(argv, cwd, env, late)
    started = await SPARES.take(key, argv, cwd, env, late) if key is not None else None
    done = await run_process(argv, cwd=cwd, env=env, timeout=timeout, on_output=on_output, started=started)
    if next_run and key is not None:
        await SPARES.start(key, env, late, root, preload)
    return done


def key_of(argv: Sequence[str], cwd: str, env: Mapping[str, str], late: Sequence[str]) -> Key | None:
    """What a spare must share with a run to become it; None for a run no spare serves (``python -m MODULE`` or
    a script whose first line names its Python, as pip writes pytest's)."""
    if os.name != "posix" or not argv:
        return None
    if len(argv) >= 3 and argv[1] == "-m":
        python, kind, target = argv[0], "-m", argv[2]
    else:
        interpreter = _interpreter(argv[0])
        if interpreter is None:
            return None
        python, kind, target = interpreter, "script", argv[0]
    merged = {**os.environ, **env}
    kept = frozenset((name, value) for name, value in merged.items() if name not in late and name != MARK)
    return (python, kind, target, cwd, kept)


def _interpreter(script: str) -> str | None:
    """The Python a script's ``#!`` line names (no arguments), when it names one."""
    try:
        with open(script, "rb") as f:
            first = f.readline(512)
    except OSError:
        return None
    words = first[2:].split() if first.startswith(b"#!") else []
    if len(words) != 1 or not os.path.basename(words[0]).startswith(b"python"):
        return None
    return os.fsdecode(words[0]) if os.path.isabs(words[0]) else None


SPARES = Spares()
