"""Test runs that outlive the call that started them.

Hosts end a request after a fixed time (the TypeScript SDK: 60 s, and not every host lets progress
reset it), while real suites take minutes. A run is therefore a job of the server's: the call that
starts it waits for it up to ``[test] answer_within_s`` and then answers with what has finished so far
and the job's id, and ``test_results`` waits again, as often as needed, until the run ends. A client
that cancels the starting call (or a server that stops) kills the run; one that stops waiting does not.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

from volley.errors import InputError

OUTPUT_KEPT = 8 * 1024 * 1024  # live output kept for progress and partial counts (the run's own capture is capped too)
KEEP_FINISHED = 32


@dataclass
class Job:
    """One test run in the background: its live output, and its result once it ends."""

    id: str
    runner: str
    started: float = field(default_factory=time.monotonic)
    output: bytearray = field(default_factory=bytearray)
    finished: anyio.Event = field(default_factory=anyio.Event)
    result: Any = None
    error: BaseException | None = None
    task: asyncio.Task[None] | None = None
    toolchain: Any = None
    workspace: Any = None
    argv: list[str] = field(default_factory=list)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def take(self, chunk: bytes) -> None:
        if len(self.output) < OUTPUT_KEPT:
            self.output += chunk

    def cancel(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()

    async def wait(self, seconds: float) -> bool:
        """Wait for the run to end, at most ``seconds``; whether it has. Waiting never cancels the run."""
        with anyio.move_on_after(seconds):
            await self.finished.wait()
        return self.finished.is_set()


class Jobs:
    """The process's test runs: started, found by id, ended."""

    detach = True  # False: a call waits for its run to end (`volley call` exits with its answer)

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._ids = itertools.count(1)

    def start(self, runner: str, work: Callable[[Job], Awaitable[Any]]) -> Job:
        """Start ``work(job)`` on the event loop, outside any call's cancel scope."""
        job = Job(id=f"tests-{next(self._ids)}", runner=runner)

        async def run() -> None:
            try:
                job.result = await work(job)
            except BaseException as exc:  # handed to whoever waits; cancellation included
                job.error = exc
            finally:
                job.finished.set()

        job.task = asyncio.get_running_loop().create_task(run())
        self._jobs[job.id] = job
        self._forget_old()
        return job

    def cancel_all(self) -> None:
        """The server is stopping: every run still going is cancelled (its processes are killed)."""
        for job in self._jobs.values():
            job.cancel()

    def get(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            known = ", ".join(self._jobs) or "none"
            raise InputError(f"no test run {job_id!r} (runs this server knows: {known}); start one with run_tests")
        return job

    def _forget_old(self) -> None:
        finished = [key for key, job in self._jobs.items() if job.finished.is_set()]
        for key in finished[: max(0, len(finished) - KEEP_FINISHED)]:
            del self._jobs[key]


JOBS = Jobs()
