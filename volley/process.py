"""The process runner behind run_linter and run_tests.

Every run gets its own process group, its output captured concurrently up to a byte cap, a time
limit that kills the whole group, and cancellation (the client cancels, disconnects, or the server
stops) that kills the whole group too. Processes the run left behind are killed and reported.

A descendant that leaves the group (``setsid``, a daemon) still carries the run's mark in its
environment, ``VOLLEY_RUN=<id>`` (Jenkins finds a build's strays the same way), and is killed with it.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import logging
import os
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

import anyio
from anyio.abc import ByteReceiveStream

from volley.errors import ToolchainError

log = logging.getLogger(__name__)

GRACE_S = 2.0  # between SIGTERM and SIGKILL
DRAIN_S = 1.0  # after the run exits, how long a grandchild holding its output open may delay us
CHUNK = 65536

OnOutput = Callable[[bytes], Awaitable[None]]
MARK = "VOLLEY_RUN"  # in every run's environment: finds descendants that left its process group
_RUN_IDS = itertools.count(1)
_ACTIVE_GROUPS: set[int] = set()  # a last resort at exit, should the server stop without unwinding


def active_groups() -> set[int]:
    """Process groups of runs still being cleaned up or running."""
    return set(_ACTIVE_GROUPS)


@atexit.register
def _kill_active_groups() -> None:
    for pgid in list(_ACTIVE_GROUPS):
        _signal_group(pgid, signal.SIGKILL)


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


async def run_process(
    argv: Sequence[str],
    *,
    cwd: str,
    env: Mapping[str, str] | None = None,
    timeout: float,
    max_output_bytes: int = 8 * 1024 * 1024,
    on_output: OnOutput | None = None,
) -> Completed:
    """Run ``argv`` (never through a shell) in its own process group and collect what it did."""
    started = time.perf_counter()
    mark = f"{os.getpid()}-{next(_RUN_IDS)}"
    try:
        process = await anyio.open_process(
            list(argv),
            cwd=cwd,
            env={**os.environ, **(env or {}), MARK: mark},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except FileNotFoundError:
        raise ToolchainError(f"cannot run {argv[0]!r}: no such program") from None
    except PermissionError:
        raise ToolchainError(f"cannot run {argv[0]!r}: permission denied") from None
    capture = _Capture(max_output_bytes)
    timed_out = False
    _ACTIVE_GROUPS.add(process.pid)
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
            _ACTIVE_GROUPS.discard(process.pid)
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
        duration_s=time.perf_counter() - started,
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
        _signal_all(pgid, left, signal.SIGKILL)
    return len(members)


def _signal_all(pgid: int, pids: list[int], sig: signal.Signals) -> None:
    _signal_group(pgid, sig)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _run_members(pgid: int, mark: str) -> list[int]:
    """Live (not zombie) processes in the process group ``pgid`` or marked with ``mark``, read from /proc."""
    members = []
    try:
        pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:  # no /proc: fall back to asking the kernel whether the group exists
        try:
            os.killpg(pgid, 0)
            return [pgid]
        except (ProcessLookupError, PermissionError):
            return []
    marked = f"{MARK}={mark}\0".encode()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            if fields[0] == b"Z":
                continue
            if int(fields[2]) == pgid:
                members.append(pid)
                continue
            with open(f"/proc/{pid}/environ", "rb") as f:
                if marked in f.read():
                    members.append(pid)
        except (OSError, IndexError, ValueError):
            continue
    return members
