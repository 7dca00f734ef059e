"""Async methods: awaitable twins never drop and never block the loop under backpressure."""

from __future__ import annotations

import asyncio
import types
from collections.abc import Callable

from conftest import FileLog


class Ticker:
    """A task that counts its turns on the loop: if it keeps counting, the loop is not held."""

    def __init__(self) -> None:
        self.ticks = 0
        self._running = True
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls) -> Ticker:
        ticker = cls()
        ticker._task = asyncio.create_task(ticker._run())
        await asyncio.sleep(0)
        return ticker

    async def _run(self) -> None:
        while self._running:
            self.ticks += 1
            await asyncio.sleep(0)

    async def stop(self) -> None:
        self._running = False
        assert self._task is not None
        await self._task


async def test_ainfo_when_there_is_room(file_log: FileLog) -> None:
    """await ainfo() writes the event like info()."""
    await file_log.logger.ainfo("a", x=1)
    await file_log.logger.alog("warning", "b")
    assert await file_log.logger.flush()
    assert [(ev["message"], ev["level"]) for ev in file_log.lines()] == [
        ("a", "info"),
        ("b", "warning"),
    ]


async def test_flush_is_awaitable_and_reports_success(file_log: FileLog) -> None:
    """await flush() returns True once everything is on disk."""
    for i in range(100):
        file_log.logger.info("x", i=i)
    assert await file_log.logger.flush(timeout=5.0) is True
    assert len(file_log.path.read_text().splitlines()) == 100


async def test_backpressure_sync_drops_async_waits_loop_ticks(
    make_file_log: Callable[..., FileLog],
) -> None:
    """With a tiny ring: sync calls drop and count, awaited calls lose nothing, the loop ticks."""
    log = make_file_log(capacity_bytes=4096, overflow="block")
    ticker = await Ticker.start()
    pad = "x" * 200
    # On the loop thread even the `block` policy must not block: sync calls drop and count.
    for i in range(5000):
        log.logger.info("sync", i=i, pad=pad)
    stats = log.stats()
    dropped_sync = stats["dropped"]
    assert dropped_sync > 0
    # Awaited calls wait for room instead. Whether one finds the ring full depends on how fast
    # the writer drains it (a fast writer keeps up with every call): a call that has to wait
    # returns a coroutine instead of the ready awaitable, and while any waited the loop must
    # have kept running. (test_slow_sink_backpressure_... makes the waits certain.)
    ticks_before = ticker.ticks
    waited = 0
    for i in range(5000):
        pending = log.logger.ainfo("async", i=i, pad=pad)
        waited += isinstance(pending, types.CoroutineType)
        await pending
    if waited:
        assert ticker.ticks > ticks_before  # the loop kept running while we waited
    await ticker.stop()
    lines = log.lines()
    async_is = [ev["i"] for ev in lines if ev["message"] == "async"]
    assert async_is == list(range(5000))
    final = log.stats()
    assert final["dropped"] == dropped_sync
    assert final["emitted"] == final["written"] + final["dropped"] == 10_000


class SlowSink:
    """A sink that takes 5 ms per batch, so a small ring fills up behind it."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []

    def write_batch(self, batch: memoryview) -> None:
        import time

        time.sleep(0.005)
        self.lines.extend(bytes(batch).splitlines())


async def test_slow_sink_backpressure_exact_counts_and_a_live_loop() -> None:
    """Behind a slow sink: sync calls drop and count exactly, ainfo loses nothing, loop ticks."""
    import json

    from ferrolog import Pipeline

    sink = SlowSink()
    p = Pipeline(sinks=[sink], capacity_bytes=4096, overflow="block", batch_bytes=4096)
    log = p.logger("slow")
    ticker = await Ticker.start()
    for i in range(2000):
        log.info("sync", i=i)
    dropped_sync = p.stats()["dropped"]
    assert dropped_sync > 0
    before = ticker.ticks
    for i in range(1000):
        await log.ainfo("async", i=i)
    assert ticker.ticks > before
    assert await log.flush(timeout=30.0)
    await ticker.stop()
    p.close(10.0)
    events = [json.loads(line) for line in sink.lines]
    assert [e["i"] for e in events if e["message"] == "async"] == list(range(1000))
    sync_written = sum(1 for e in events if e["message"] == "sync")
    stats = p.stats()
    assert sync_written + dropped_sync == 2000
    assert stats["dropped"] == dropped_sync
    assert stats["emitted"] == stats["written"] + stats["dropped"] == 3000
