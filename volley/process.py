"""The process runner behind run_linter and run_tests.

Every run gets its own process group, its output captured concurrently up to a byte cap, a time
limit that kills the whole group, and cancellation (the client cancels, disconnects, or the server
stops) that kills the whole group too. Processes the run left behind are killed and reported.

A descendant that leaves the group (``setsid``, a daemon) still carries the run's mark in its
environment, ``VOLLEY_RUN=<id>`` (Jenkins finds a build's strays the same way), and is killed with it.
A run's process may be started ahead of it (a spare interpreter, volley/spare: ``open_marked``, then
``run_process(started=…)``); until a run takes it, it is idle, and killed with the server as a run is.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

import anyio
from anyio.abc import ByteReceiveStream, Process

from volley.errors import ToolchainError
from volley.platform import KILL, reaper_argv, run_members, signal_group

log = logging.getLogger(__name__)

GRACE_S = 2.0  # between SIGTERM and SIGKILL
DRAIN_S = 1.0  # after the run exits, how long a grandchild holding its output open may delay us
CHUNK = 65536

OnOutput = Callable[[bytes], Awaitable[None]]
MARK = "VOLLEY_RUN"  # in every run's environment: finds descendants that left its process group
_RUN_IDS = itertools.count(1)
_ACTIVE: dict[int, str] = {}  # process group -> the run's mark: what is killed at exit, should nothing else
_IDLE: dict[int, str] = {}  # the same for spare interpreters waiting for a run (volley/spare): no run yet
POLL_S = 0.05  # how often a blocking run checks whether its caller is still waiting


def active_groups() -> set[int]:
    """Process groups of runs still being cleaned up or running."""
    return set(_ACTIVE)


@atexit.register
def kill_all_runs() -> None:
    """SIGKILL every run still alive, its process group and every process carrying its mark (a daemon that
    left the group and ignores SIGTERM included): the server is going, and nothing it started stays."""
    for pgid, mark in [*_ACTIVE.items(), *_IDLE.items()]:
        _signal_all(pgid, _run_members(pgid, mark) if mark else [], KILL)
        _ACTIVE.pop(pgid, None)
        _IDLE.pop(pgid, None)


# The reaper: a small process of its own session that waits for the server to be gone (its stdin, a pipe
# only the server holds, reaches its end however the server ended, kill -9 included) and then kills every
# process carrying one of the server's run marks: what a run left behind never outlives the server.
_reaper: subprocess.Popen[bytes] | None = None
_reaper_lock = threading.Lock()


def _ensure_reaper() -> None:
    """Start the reaper once per server."""
    global _reaper
    with _reaper_lock:
        if _reaper is None:
            _reaper = _start_reaper()


def start_reaper_soon() -> None:
    """Start the reaper on a thread of its own, now: a server's first run then neither waits for it nor shares
    the machine with an interpreter starting beside it (a new server's first grep after a turn at 1M files:
    61-73 ms, 47-55 since)."""
    threading.Thread(target=_ensure_reaper, name="volley-reaper-start", daemon=True).start()


def _start_reaper() -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*reaper_argv(), str(os.getpid()), MARK],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def marked_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a new run: the caller's additions and the run's own mark (see MARK)."""
    _ensure_reaper()
    return {**os.environ, **(env or {}), MARK: f"{os.getpid()}-{next(_RUN_IDS)}"}


def argv_parts(paths: list[str], chars: int) -> list[list[str]]:
    """``paths`` in runs of at most ``chars`` characters of names (at least one each): a command line stays
    inside every platform's limit whatever the number of files."""
    parts: list[list[str]] = []
    size = chars + 1
    for path in paths:
        if size + len(path) + 1 > chars:
            parts.append([])
            size = 0
        parts[-1].append(path)
        size += len(path) + 1
    return parts


def pdeathsig_prefix(program: str) -> list[str]:
    """On Linux, `setpriv --pdeathsig KILL`: the child dies with the server, even one killed with SIGKILL
    (a program that cannot be found is left to fail as itself, with Python's error)."""
    if _SETPRIV is None or shutil.which(program) is None:
        return []
    return [_SETPRIV, "--pdeathsig", "KILL", "--"]


_SETPRIV = shutil.which("setpriv", path="/usr/bin:/bin") if sys.platform == "linux" else None


def run_blocking(
    argv: list[str], abandoned: Callable[[], bool], cwd: str | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run a short command from a worker thread (rg): its own process group, killed at once when
    ``abandoned()`` says its caller left (a cancel, the call's time limit, the session's end) or the server
    exits. Raises TimeoutError when abandoned."""
    process = subprocess.Popen(
        [*pdeathsig_prefix(argv[0]), *argv],
        cwd=cwd,
        env=marked_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    _ACTIVE[process.pid] = ""
    try:
        while True:
            try:
                out, err = process.communicate(timeout=POLL_S)
                return subprocess.CompletedProcess(argv, process.returncode, out, err)
            except subprocess.TimeoutExpired:
                if abandoned():
                    raise TimeoutError(f"{os.path.basename(argv[0])} stopped: nobody waits for it") from None
    finally:
        if process.returncode is None:
            _signal_group(process.pid, KILL)
            process.communicate()
        _ACTIVE.pop(process.pid, None)


@dataclass
class Completed:
    """What a run did: exit code (None when it was killed), output, and what went wrong."""

    argv: list[str]
    exit_code: int | None
    output: bytes  # stdout and stderr interleaved as they arrived, up to the cap
    dropped_bytes: int  # output beyond the cap (the middle is dropped, head and tail kept)
    timed_out: bool
    leftovers: int  # processes of the run still alive after it exited, killed by us
    duration_s: float


class _Capture:
    """Keeps the first and last ``cap/2`` bytes of a stream; counts what it dropped."""

    def __init__(self, cap: int) -> None:
        self.half = max(cap // 2, 1)
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0

    def add(self, data: bytes) -> None:
        room = self.half - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            if len(self.tail) > self.half:
                excess = len(self.tail) - self.half
                del self.tail[:excess]
                self.dropped += excess

    def value(self) -> bytes:
        if not self.dropped:
            return bytes(self.head + self.tail)
        marker = f"\n… [{self.dropped} bytes of output dropped here] …\n".encode()
        return bytes(self.head) + marker + bytes(self.tail)


@dataclass
class Started:
    """A process started ahead of its run (a spare interpreter, volley/spare), handed to the run it becomes."""

    process: Process
    mark: str


async def open_marked(
    argv: Sequence[str], *, cwd: str, env: dict[str, str], stdin: int, stdout_only: bool = False
) -> Process:
    """Start ``argv`` in a session of its own, its output on one pipe, killed at the server's end should nothing
    else end it (``env``: from marked_env). Raises ToolchainError when it cannot be started."""
    try:
        process = await anyio.open_process(
            [*pdeathsig_prefix(argv[0]), *argv],
            cwd=cwd,
            env=env,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL if stdout_only else subprocess.STDOUT,
            start_new_session=True,
        )
    except FileNotFoundError:
        raise ToolchainError(f"cannot run {argv[0]!r}: no such program") from None
    except PermissionError:
        raise ToolchainError(f"cannot run {argv[0]!r}: permission denied") from None
    _IDLE[process.pid] = env[MARK]  # until a run takes it
    return process


def release(process: Process) -> None:
    """Kill a process that open_marked started and no run took (a spare given up), with its group."""
    _signal_group(process.pid, KILL)
    _IDLE.pop(process.pid, None)


async def run_process(
    argv: Sequence[str],
    *,
    cwd: str,
    env: Mapping[str, str] | None = None,
    timeout: float,
    max_output_bytes: int = 8 * 1024 * 1024,
    on_output: OnOutput | None = None,
    stdout_only: bool = False,
    started: Started | None = None,
) -> Completed:
    """Run ``argv`` (never through a shell) in its own process group and collect what it did (``stdout_only``:
    its standard output alone, for output that is parsed as data, such as a diff). ``started``: the process
    that becomes this run, started ahead with this ``argv``, ``cwd`` and ``env``."""
    began = time.perf_counter()
    if started is not None:
        process, mark = started.process, started.mark
    else:
        full_env = marked_env(env)
        mark = full_env[MARK]
        process = await open_marked(argv, cwd=cwd, env=full_env, stdin=subprocess.DEVNULL, stdout_only=stdout_only)
    _ACTIVE[process.pid] = mark
    _IDLE.pop(process.pid, None)
    capture = _Capture(max_output_bytes)
    timed_out = False
    try:
        with anyio.move_on_after(timeout) as scope:
            async with anyio.create_task_group() as tg:
                assert process.stdout is not None
                drained = anyio.Event()
                tg.start_soon(_pump, process.stdout, capture, on_output, drained)
                await process.wait()
                with anyio.move_on_after(DRAIN_S):
                    await drained.wait()
                tg.cancel_scope.cancel()
        timed_out = scope.cancelled_caught
    finally:
        with anyio.CancelScope(shield=True):
            leftovers = await _kill_run(process.pid, mark)
            await process.aclose()
            _ACTIVE.pop(process.pid, None)
    exit_code = None if timed_out else process.returncode
    if leftovers and not timed_out:
        log.info("%s left %d processes behind; they were killed", argv[0], leftovers)
    return Completed(
        argv=list(argv),
        exit_code=exit_code,
        output=capture.value(),
        dropped_bytes=capture.dropped,
        timed_out=timed_out,
        leftovers=leftovers,
        duration_s=time.perf_counter() - began,
    )


async def _pump(stream: ByteReceiveStream, capture: _Capture, on_output: OnOutput | None, done: anyio.Event) -> None:
    async for chunk in stream:
        capture.add(chunk)
        if on_output is not None:
            await on_output(chunk)
    done.set()


async def _kill_run(pgid: int, mark: str) -> int:
    """Kill what is left of the run: its process group and every process carrying its mark; how many there were."""
    members = _run_members(pgid, mark)
    if not members:
        return 0
    _signal_all(pgid, members, signal.SIGTERM)
    with anyio.move_on_after(GRACE_S):
        while _run_members(pgid, mark):
            await anyio.sleep(0.05)
    if left := _run_members(pgid, mark):
        _signal_all(pgid, left, KILL)
    return len([pid for pid in members if pid != pgid])  # the runner itself, stopped at its time limit, is not one


def _signal_all(pgid: int, pids: list[int], sig: signal.Signals) -> None:
    _signal_group(pgid, sig)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    signal_group(pgid, sig)


def _run_members(pgid: int, mark: str) -> list[int]:
    """Live (not zombie) processes in the process group ``pgid`` or marked with ``mark``."""
    return run_members(pgid, f"{MARK}={mark}")
