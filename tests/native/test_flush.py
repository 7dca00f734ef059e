"""Flush means written: everything emitted before the call is settled, and sinks flushed."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest
from gates import GateSink, fill_ring

from ferrolog import Pipeline


class Recorder:
    """A Python sink noting, at each flush(), how many lines it had been given."""

    def __init__(self) -> None:
        self.lines = 0
        self.flushed_at: list[int] = []
        self.lock = threading.Lock()

    def write_batch(self, batch: memoryview) -> None:
        with self.lock:
            self.lines += bytes(batch).count(b"\n")

    def flush(self) -> None:
        with self.lock:
            self.flushed_at.append(self.lines)


async def test_drops_after_the_call_do_not_satisfy_an_async_flush() -> None:
    """Events dropped after `flush()` was called cannot stand in for the ones before it."""
    gate = GateSink()
    p = Pipeline(sinks=[gate], capacity_bytes=4096)
    log = p.logger("f")
    try:
        fill_ring(p, log)
        before = p.stats()["emitted"]
        pending = log.flush(timeout=0.3)
        for _ in range(before + 10):
            log.info("dropped after the call")  # the ring is full: each is dropped
        assert p.stats()["dropped"] >= before
        assert await pending is False  # the sink is stalled: nothing before the call is written
        gate.release()
        assert await log.flush(timeout=30)
        stats = p.stats()
        assert stats["emitted"] == stats["written"] + stats["dropped"]
        assert len(gate.lines) == stats["written"]
    finally:
        gate.release()
        p.close(10.0)


def test_sync_flush_waits_for_the_ring_position_not_counts() -> None:
    """`Pipeline.flush` is not satisfied by later drops either."""
    gate = GateSink()
    p = Pipeline(sinks=[gate], capacity_bytes=4096)
    log = p.logger("f")
    result: list[bool] = []
    try:
        fill_ring(p, log)
        t = threading.Thread(target=lambda: result.append(p.flush(0.3)))
        t.start()
        for _ in range(p.stats()["emitted"] + 10):
            log.info("dropped after the call")
        t.join(30)
        assert result == [False]
    finally:
        gate.release()
        p.close(10.0)


def test_pipeline_flush_flushes_python_sinks_after_writing() -> None:
    """When `Pipeline.flush` returns, each Python sink's flush() ran after every line."""
    sink = Recorder()
    p = Pipeline(sinks=[sink, {"type": "null"}])
    log = p.logger("f")
    for i in range(500):
        log.info("e", i=i)
    assert p.flush(30)
    assert sink.flushed_at
    assert sink.flushed_at[-1] == 500
    p.close(10.0)


async def test_async_flush_flushes_python_sinks_after_writing() -> None:
    """When `await log.flush()` returns True, each Python sink's flush() covered every line."""
    sink = Recorder()
    p = Pipeline(sinks=[sink])
    log = p.logger("f")
    for i in range(500):
        log.info("e", i=i)
    assert await log.flush(timeout=30)
    assert sink.flushed_at
    assert sink.flushed_at[-1] == 500
    p.close(10.0)


async def test_flush_honours_its_timeout_under_a_stalled_sink() -> None:
    """Sync and async flush return False at their timeout when the sink never moves."""
    gate = GateSink()
    p = Pipeline(sinks=[gate])
    log = p.logger("f")
    try:
        log.info("stuck")
        assert gate.entered.wait(30)
        assert p.flush(0.05) is False
        assert await asyncio.wait_for(log.flush(timeout=0.05), 30) is False
    finally:
        gate.release()
        p.close(10.0)


def _os_threads_named(name: str) -> int:
    tasks = Path("/proc/self/task")
    return sum((t / "comm").read_text().strip() == name for t in tasks.iterdir())


@pytest.mark.needs_proc
async def test_many_async_flushes_share_one_waiting_thread() -> None:
    """However many async flushes wait on a stalled sink, one native thread waits for them,
    and each completes once the sink moves."""
    gate = GateSink()
    p = Pipeline(sinks=[gate])
    log = p.logger("f")
    try:
        log.info("stuck")
        assert gate.entered.wait(30)
        before = _os_threads_named("ferrolog-flush")  # other tests' may still be ending
        flushes = [asyncio.ensure_future(log.flush(timeout=60)) for _ in range(20)]
        # The thread names itself once it runs, which on a busy machine may be after the
        # flushes were started: wait for it (not for a fixed time), then count.
        deadline = time.monotonic() + 30
        # A thread's name in /proc has no event to await: poll it.
        while _os_threads_named("ferrolog-flush") < 1 and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        assert 1 <= _os_threads_named("ferrolog-flush") <= before + 1
        gate.release()
        assert await asyncio.wait_for(asyncio.gather(*flushes), 60) == [True] * 20
    finally:
        gate.release()
        p.close(10.0)
