"""README claim: nothing is lost silently. Every log call's event is either written or
counted as dropped, including `a*` calls cancelled or abandoned while waiting for space."""

from __future__ import annotations

import asyncio
import gc
import threading

import pytest

from ferrolog import Pipeline

RING = 8192


class GatedSink:
    """A Python sink that holds every batch until `gate` is set; counts the lines it got."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.lines = 0

    def write_batch(self, batch: memoryview) -> None:
        assert self.gate.wait(60.0)
        self.lines += bytes(batch).count(b"\n")


# The abandoned awaitables are never awaited, on purpose.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning")
async def test_cancelled_and_abandoned_awaits_are_written_or_counted() -> None:
    """With the ring full behind a stalled sink, `ainfo` calls that are cancelled while
    waiting, or whose awaitable is dropped unawaited, still end up written or counted as
    dropped: calls made == written + dropped, and emitted == written + dropped."""
    sink = GatedSink()
    p = Pipeline(sinks=[sink], capacity_bytes=RING, batch_bytes=4096)
    log = p.logger("acct")
    try:
        calls = 0
        while p.stats()["high_water"] < RING - 512:  # fill the ring (drop policy: never waits)
            log.info("fill", i=calls, pad="p" * 64)
            calls += 1
        # Waiting calls: their events do not fit until the sink is released.
        waiting = [asyncio.ensure_future(log.ainfo("waits", i=i, pad="w" * 64)) for i in range(20)]
        calls += 20
        await asyncio.sleep(0)
        for task in waiting[:10]:
            task.cancel()
        abandoned = [log.ainfo("abandoned", i=i, pad="a" * 64) for i in range(10)]
        calls += 10
        del abandoned
        gc.collect()
        sink.gate.set()
        results = await asyncio.gather(*waiting, return_exceptions=True)
        assert sum(isinstance(r, asyncio.CancelledError) for r in results) <= 10
        assert await log.flush(30.0)
        stats = p.stats()
        assert stats["emitted"] == stats["written"] + stats["dropped"]
        assert stats["written"] == sink.lines
        assert stats["written"] + stats["dropped"] == calls, (stats, calls, sink.lines)
    finally:
        sink.gate.set()
        p.close(10.0)
