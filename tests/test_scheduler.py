"""The scheduler's guarantees, proven with events rather than timing."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Awaitable

import anyio
import anyio.to_thread
import pytest

from volley.concurrency import CallTimeout, Scheduler, Workers, blocking
from volley.config import Concurrency

pytestmark = pytest.mark.anyio


async def test_calls_of_one_kind_run_together_up_to_its_capacity() -> None:
    scheduler = Scheduler(Concurrency(reads=5))
    arrived, everyone_in = 0, anyio.Event()

    async def meet_at_barrier() -> str:
        nonlocal arrived
        arrived += 1
        if arrived == 5:
            everyone_in.set()
        await everyone_in.wait()  # only returns once all five are running at the same time
        return "ok"

    results: list[str] = []

    async def call() -> None:
        results.append(await scheduler.run("read", "read_file", meet_at_barrier, timeout=None))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(call)
    assert results == ["ok"] * 5


async def test_capacity_bounds_how_many_run_at_once() -> None:
    scheduler = Scheduler(Concurrency(searches=2))
    running, peak, release = 0, 0, anyio.Event()

    async def work() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await release.wait()
        running -= 1

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for _ in range(4):
                tg.start_soon(scheduler.run, "search", "grep", work, None)
            while running < 2:
                await anyio.sleep(0)
            await anyio.wait_all_tasks_blocked()
            assert running == 2  # the other two are queued
            release.set()
    assert peak == 2


async def test_a_test_run_holding_its_slot_does_not_delay_a_read() -> None:
    scheduler = Scheduler(Concurrency(tests=1))
    test_started, finish_test = anyio.Event(), anyio.Event()
    test_done = False

    async def long_test_run() -> None:
        nonlocal test_done
        test_started.set()
        await finish_test.wait()
        test_done = True

    async def quick_read() -> str:
        return "content"

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(scheduler.run, "test", "run_tests", long_test_run, None)
            await test_started.wait()
            assert await scheduler.run("read", "read_file", quick_read, None) == "content"
            assert not test_done  # the read finished while the test run was still in progress
            finish_test.set()


async def test_identical_queued_calls_share_one_execution() -> None:
    scheduler = Scheduler(Concurrency(reads=1))
    release_blocker, executions = anyio.Event(), 0

    async def blocker() -> None:
        await release_blocker.wait()

    async def read() -> str:
        nonlocal executions
        executions += 1
        return "same answer"

    answers: list[str] = []

    async def call() -> None:
        answers.append(await scheduler.run("read", "read_file", read, None, share_key="k"))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(scheduler.run, "read", "read_file", blocker, None)
            await anyio.wait_all_tasks_blocked()
            for _ in range(3):
                tg.start_soon(call)
            await anyio.wait_all_tasks_blocked()  # all three queued behind the blocker
            release_blocker.set()
    assert answers == ["same answer"] * 3
    assert executions == 1 and scheduler.shared == 2


async def test_a_call_over_its_time_limit_is_stopped_with_a_clear_error() -> None:
    scheduler = Scheduler(Concurrency())

    async def hang() -> None:
        await anyio.Event().wait()

    with pytest.raises(CallTimeout, match=r"grep did not finish within 0\.05 s"):
        await scheduler.run("search", "grep", hang, timeout=0.05)


async def test_worker_threads_run_blocking_jobs_at_once_up_to_their_number() -> None:
    """Three jobs that each wait on a shared thread barrier finish only if three threads run them at once;
    no more threads start than asked for; errors and the caller's context variables cross over."""
    workers = Workers(3)
    barrier = threading.Barrier(3, timeout=10)
    request = contextvars.ContextVar("request", default="none")
    request.set("call-7")
    results: list[str] = []

    def meet() -> str:
        barrier.wait()  # raises BrokenBarrierError after 10 s unless three threads are here together
        return request.get()

    async def run(job) -> None:  # type: ignore[no-untyped-def]
        results.append(await workers.run(job))

    try:
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                for _ in range(3):
                    tg.start_soon(run, meet)
            assert results == ["call-7"] * 3

            def fail() -> None:
                raise ValueError("from a worker")

            with pytest.raises(ValueError, match="from a worker"):
                await workers.run(fail)
            assert await workers.run(lambda: "done") == "done"
            assert len([t for t in threading.enumerate() if t.name.startswith("volley-worker")]) <= 3
    finally:
        workers.close()


async def test_a_cancelled_caller_stops_waiting_for_its_blocking_job() -> None:
    """The caller is released at once; the job in hand runs to its end, a queued one never starts."""
    workers = Workers(1)
    started, release, queued_ran = threading.Event(), threading.Event(), threading.Event()

    def hold() -> None:
        started.set()
        release.wait(10)

    try:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(workers.run, hold)
                tg.start_soon(workers.run, queued_ran.set)
                await anyio.to_thread.run_sync(started.wait, 10)
                tg.cancel_scope.cancel()  # both callers leave while the only thread is still busy
            release.set()
            assert await workers.run(lambda: "after") == "after"  # the thread came back, skipping the job
        assert not queued_ran.is_set()
    finally:
        release.set()
        workers.close()


async def test_jobs_one_after_another_stay_on_one_thread() -> None:
    """Work goes to the most recently idle thread, so memory a thread keeps after a large job is reused,
    not multiplied by the pool's size."""
    workers = Workers(4)
    try:
        names = {await workers.run(lambda: threading.current_thread().name) for _ in range(20)}
    finally:
        workers.close()
    assert len(names) == 1


async def test_a_burst_of_jobs_waits_for_the_thread_that_just_began_one() -> None:
    """20 jobs at once (a model's 20 reads) run on the thread already busy, not on four threads taking
    turns at the GIL. FRESH_S is raised so that a slow machine cannot turn "just began" into "long ago"."""
    workers = Workers(4)
    workers.FRESH_S = 60
    try:
        with anyio.fail_after(30):
            names = await asyncio.gather(*(workers.run(lambda: threading.current_thread().name) for _ in range(20)))
    finally:
        workers.close()
    assert len(set(names)) == 1


async def test_a_job_behind_a_long_one_gets_another_thread() -> None:
    """The job that arrives just after a long one began waits FRESH_S at most, then runs on a second thread
    while the long one still holds the first."""
    workers = Workers(2)
    workers.FRESH_S = 0.01
    began, release = threading.Event(), threading.Event()

    def long_job() -> str:
        began.set()
        release.wait(30)
        return threading.current_thread().name

    try:
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                first: list[str] = []

                async def run_long() -> None:
                    first.append(await workers.run(long_job))

                tg.start_soon(run_long)
                await anyio.to_thread.run_sync(began.wait, 10)
                second = await workers.run(lambda: threading.current_thread().name)
                assert not release.is_set()  # answered while the long job still runs
                release.set()
            assert first and first[0] != second
    finally:
        release.set()
        workers.close()


async def test_a_read_never_waits_for_a_thread_behind_searches_that_hold_them_all() -> None:
    """Four greps each hold a worker thread while rg runs; a read issued meanwhile runs at once, on threads
    of its own (it waited for a grep to end: 1-2 s at 200k files). The searches end only once the read has."""
    scheduler = Scheduler(Concurrency(searches=4, threads=4))
    searching, read_done = threading.Semaphore(0), threading.Event()

    def hold_a_thread() -> str:
        searching.release()
        return "searched" if read_done.wait(30) else "the read never ran"

    async def search() -> str:
        return await blocking(hold_a_thread)

    async def read() -> str:
        for _ in range(4):
            await anyio.to_thread.run_sync(searching.acquire)  # every search holds its thread now
        answer = await scheduler.run("read", "read_file", lambda: blocking(lambda: "read"), timeout=None)
        read_done.set()
        return answer

    results: list[str] = []
    try:
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                for _ in range(4):
                    tg.start_soon(lambda: _append(results, scheduler.run("search", "grep", search, timeout=None)))
                tg.start_soon(lambda: _append(results, read()))
    finally:
        read_done.set()
        scheduler.close()
    assert sorted(results) == ["read"] + ["searched"] * 4


async def _append(results: list[str], answer: Awaitable[str]) -> None:
    results.append(await answer)
