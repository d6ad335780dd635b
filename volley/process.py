"""The process runner behind run_linter and run_tests.

Every run gets its own process group, its output captured concurrently up to a byte cap, a time
limit that kills the whole group, and cancellation (the client cancels, disconnects, or the server
stops) that kills the whole group too. Processes the run left behind are killed and reported.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

import anyio
from anyio.abc import ByteReceiveStream, Process

from volley.errors import ToolchainError

log = logging.getLogger(__name__)

GRACE_S = 2.0  # between SIGTERM and SIGKILL
DRAIN_S = 1.0  # after the run exits, how long a grandchild holding its output open may delay us
CHUNK = 65536

OnOutput = Callable[[bytes], Awaitable[None]]
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
    try:
        process = await anyio.open_process(
            list(argv),
            cwd=cwd,
            env={**os.environ, **(env or {})},
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
            leftovers = await _kill_group(process)
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


async def _kill_group(process: Process) -> int:
    """Kill what is left of the run's process group; returns how many processes were still there."""
    pgid = process.pid
    members = _group_members(pgid)
    if not members:
        return 0
    _signal_group(pgid, signal.SIGTERM)
    with anyio.move_on_after(GRACE_S):
        while _group_members(pgid):
            await anyio.sleep(0.05)
    if _group_members(pgid):
        _signal_group(pgid, signal.SIGKILL)
    return len(members)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes whose process group is ``pgid``, read from /proc."""
    members = []
    try:
        pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:  # no /proc: fall back to asking the kernel whether the group exists
        try:
            os.killpg(pgid, 0)
            return [pgid]
        except (ProcessLookupError, PermissionError):
            return []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != b"Z":
            members.append(pid)
    return members
