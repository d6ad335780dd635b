"""Every way work leaves the event loop: per-kind capacity, worker threads, time limits.

Each tool call runs under ``Scheduler.run`` with a kind of work. Each kind has its own capacity
so a long test run never holds a slot a quick read needs; blocking file work goes to Volley's own
worker threads through ``blocking()``, never onto the event loop. Reads have threads of their own:
four whole-tree greps each hold a thread while rg runs, and a read queued behind them waited for
one to end (1-2 s at 200k files, measured).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import logging
import queue
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal, ParamSpec, TypeVar

import anyio
import anyio.to_thread

from volley.config import Concurrency
from volley.errors import VolleyError

log = logging.getLogger(__name__)

Work = Literal["read", "search", "lint", "test"]
T = TypeVar("T")
P = ParamSpec("P")

_threads: contextvars.ContextVar[Workers | None] = contextvars.ContextVar("volley_threads", default=None)


class CallTimeout(VolleyError):
    pass


class Workers:
    """Daemon threads that run blocking jobs and hand each result back to the event loop.

    A small read is mostly hand-off: here it is a future, a queue put, and one ``call_soon_threadsafe``
    back, where anyio's ``to_thread`` adds a capacity limiter, cancel scopes and more (measured over
    stdio: 0.2 ms less server CPU per read). Threads start as work needs them, up to ``size``, and the
    most recently idle one takes the next job: each thread that has run a large job keeps that memory
    for the next, so keeping work on few threads keeps memory low. A job whose caller was cancelled
    before it started is dropped; one that started runs to its end with nobody waiting.

    A job that arrives while a thread has just begun another (within ``FRESH_S``) waits for that thread
    rather than waking a second one: small jobs arrive in bursts (a model's 20 reads) and end in tens of
    microseconds, and threads taking turns at the GIL on every system call cost more than the jobs (20
    reads at once: 0.21 ms of CPU each on 4 threads, 0.11 ms on one). If the job still waits after
    ``FRESH_S``, the jobs ahead were not small: it goes to another thread then.
    """

    FRESH_S = 0.001

    def __init__(self, size: int) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._idle: list[_Inbox] = []  # inboxes of idle threads, the latest last
        self._running: dict[_Inbox, float] = {}  # busy threads' inboxes: when their job began (monotonic)
        self._backlog: collections.deque[_Job] = collections.deque()  # jobs waiting for a thread
        self._started = 0
        self._closed = False
        self._recheck: asyncio.TimerHandle | None = None
        self._handbacks: dict[asyncio.AbstractEventLoop, _Handback] = {}

    async def run(self, fn: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        handback = self._handbacks.get(loop) or self._handbacks.setdefault(loop, _Handback(loop))
        job: _Job = (contextvars.copy_context(), fn, future, handback)
        with self._lock:
            if self._running and time.monotonic() - max(self._running.values()) < self.FRESH_S:
                self._backlog.append(job)  # a thread began a job just now: this one likely follows it there
                if self._recheck is None:
                    self._recheck = loop.call_later(self.FRESH_S, self._dispatch_waiting)
            else:
                self._dispatch(job)
        return await future

    def _dispatch(self, job: _Job) -> None:
        """Hand ``job`` to an idle thread, or a new one, or queue it (called with the lock held)."""
        if self._idle:
            inbox = self._idle.pop()
            self._running[inbox] = time.monotonic()
            inbox.put(job)
        elif self._started < self.size:
            self._started += 1
            inbox = queue.SimpleQueue()
            self._running[inbox] = time.monotonic()
            name = f"volley-worker-{self._started}"
            threading.Thread(target=self._serve, args=(inbox, job), name=name, daemon=True).start()
        else:
            self._backlog.append(job)

    def _dispatch_waiting(self) -> None:
        """The jobs still queued after FRESH_S: the ones ahead were not small, so more threads take them."""
        with self._lock:
            self._recheck = None
            while self._backlog and not self._closed and (self._idle or self._started < self.size):
                self._dispatch(self._backlog.popleft())

    def close(self) -> None:
        """Stop every thread once the job in hand (and any waiting) is done."""
        with self._lock:
            self._closed = True
            for inbox in self._idle:
                inbox.put(None)
            self._idle.clear()

    def _serve(self, inbox: _Inbox, job: _Job | None) -> None:
        while job is not None:
            hand_back = _execute(job)
            with self._lock:  # idle again before the caller hears back, so its next job finds this thread
                following = self._backlog.popleft() if self._backlog else None
                if following is not None:
                    self._running[inbox] = time.monotonic()
                else:
                    del self._running[inbox]
                waits = following is None and not self._closed
                if waits:
                    self._idle.append(inbox)
            hand_back()
            job = following if following is not None else inbox.get() if waits else None


_Job = tuple[contextvars.Context, Callable[[], Any], "asyncio.Future[Any]", "_Handback"]
_Inbox = queue.SimpleQueue["_Job | None"]


def _execute(job: _Job) -> Callable[[], None]:
    """Run the job; return what hands its outcome back to the caller's event loop."""
    context, fn, future, handback = job
    if future.cancelled():  # its caller left before it started (a benign race: at worst it still runs)
        return lambda: None
    try:
        outcome: tuple[bool, Any] = (True, context.run(_watched, future, fn))
    except BaseException as exc:  # handed to the caller, whatever it is
        outcome = (False, exc)

    return lambda: handback.put(future, outcome)


_abandoned: contextvars.ContextVar[Callable[[], bool]] = contextvars.ContextVar("volley_abandoned")


def abandoned() -> bool:
    """Whether nobody waits any more for the job this thread runs (its caller was cancelled: the client
    cancelled, the call's time limit struck, the session ended); False outside a worker's job."""
    check = _abandoned.get(None)
    return check is not None and check()


def _watched(future: asyncio.Future[Any], fn: Callable[[], T]) -> T:
    _abandoned.set(future.done)  # read from this thread: a flag, never a callback
    return fn()


class _Handback:
    """Outcomes on their way back to one event loop: those that arrive before it runs share one wake-up
    (a burst of 20 small reads costs the loop one self-pipe write and read, not 20)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._outcomes: list[tuple[asyncio.Future[Any], tuple[bool, Any]]] = []

    def put(self, future: asyncio.Future[Any], outcome: tuple[bool, Any]) -> None:
        with self._lock:
            self._outcomes.append((future, outcome))
            if len(self._outcomes) > 1:
                return  # a wake-up is already on its way
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting any more
            self._loop.call_soon_threadsafe(self._settle_all)

    def _settle_all(self) -> None:
        with self._lock:
            outcomes, self._outcomes = self._outcomes, []
        for future, outcome in outcomes:
            _settle(future, outcome)


def _settle(future: asyncio.Future[Any], outcome: tuple[bool, Any]) -> None:
    if future.cancelled():
        return
    ok, value = outcome
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


class _Shared:
    """The outcome of one queued call, awaited by identical calls that arrived while it waited."""

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.ok = False
        self.result: object = None
        self.error: VolleyError | None = None


class Scheduler:
    """Bounds concurrent tool calls per kind of work, shares identical queued calls, and times them.

    Sharing: an identical call (same ``share_key``) that arrives while another is still queued waits
    for that one's outcome instead of running again. A call that has started is never joined, so a
    result can never predate the request it answers (a file changed meanwhile is read afresh).
    """

    def __init__(self, limits: Concurrency) -> None:
        self.limits = limits
        self.slots: dict[Work, anyio.CapacityLimiter] = {
            "read": anyio.CapacityLimiter(limits.reads),
            "search": anyio.CapacityLimiter(limits.searches),
            "lint": anyio.CapacityLimiter(limits.linters),
            "test": anyio.CapacityLimiter(limits.tests),
        }
        self.threads = Workers(limits.threads)  # searches, linters, tests
        self.read_threads = Workers(limits.threads)  # reads and listings: never behind a long search
        self._queued: dict[str, _Shared] = {}
        self.shared = 0  # calls answered by another identical call (for logs and tests)

    def close(self) -> None:
        """Stop the worker threads once the jobs in hand are done."""
        self.threads.close()
        self.read_threads.close()

    async def run(
        self,
        kind: Work,
        name: str,
        work: Callable[[], Awaitable[T]],
        timeout: float | None,
        share_key: str | None = None,
    ) -> T:
        """Run ``work`` once a slot of ``kind`` is free, within ``timeout`` seconds of starting."""
        if share_key is not None and (leader := self._queued.get(share_key)) is not None:
            await leader.done.wait()
            if leader.ok:
                self.shared += 1
                return leader.result  # type: ignore[return-value]
            if leader.error is not None:
                self.shared += 1
                raise leader.error
            # the leader was cancelled: run it ourselves
        shared = _Shared()
        if share_key is not None:
            self._queued[share_key] = shared
        try:
            result = await self._run(kind, name, work, timeout, share_key, shared)
            shared.ok, shared.result = True, result
            return result
        except VolleyError as exc:
            shared.error = exc
            raise
        finally:
            if share_key is not None and self._queued.get(share_key) is shared:
                del self._queued[share_key]
            shared.done.set()

    async def _run(
        self,
        kind: Work,
        name: str,
        work: Callable[[], Awaitable[T]],
        timeout: float | None,
        share_key: str | None,
        shared: _Shared,
    ) -> T:
        queued = time.perf_counter()
        async with self.slots[kind]:
            if share_key is not None and self._queued.get(share_key) is shared:
                del self._queued[share_key]  # started: no one may join any more
            started = time.perf_counter()
            token = _threads.set(self.read_threads if kind == "read" else self.threads)
            try:
                with anyio.fail_after(timeout):
                    return await work()
            except TimeoutError:
                raise CallTimeout(
                    f"{name} did not finish within {timeout:g} s and was stopped; narrow the request "
                    "(a smaller path, a stricter glob) or raise the limit in the workspace config"
                ) from None
            finally:
                _threads.reset(token)
                waited, ran = started - queued, time.perf_counter() - started
                log.debug("%s: queued %.1f ms, ran %.1f ms", name, waited * 1e3, ran * 1e3)


async def blocking(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run blocking ``fn`` in a worker thread; a cancelled caller stops waiting for it at once.

    Within a tool call, the scheduler's ``Workers`` run it; elsewhere (start-up, the CLI), anyio's threads.
    """
    workers = _threads.get()
    if workers is None:
        return await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs), abandon_on_cancel=True)
    return await workers.run(lambda: fn(*args, **kwargs))


async def concurrently(jobs: Sequence[Callable[[], Awaitable[Any]]]) -> list[Any]:
    """Run jobs at once and return their results in order; the first error is raised as itself."""
    if len(jobs) == 1:
        return [await jobs[0]()]
    results: list[Any] = [None] * len(jobs)

    async def run(i: int) -> None:
        results[i] = await jobs[i]()

    try:
        async with anyio.create_task_group() as tg:
            for i in range(len(jobs)):
                tg.start_soon(run, i)
    except BaseExceptionGroup as group:
        errors = [exc for exc in group.exceptions if isinstance(exc, VolleyError)]
        if errors:
            raise errors[0] from None
        raise
    return results
