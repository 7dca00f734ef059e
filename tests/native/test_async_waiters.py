"""An `a*` call that waits for ring space settles its event whatever happens to the awaitable.

Each test stalls a Python sink so the ring fills, then loses a waiting `ainfo` in one way and
checks the books: the lost event is counted dropped, and `emitted == written + dropped`.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import pytest
from gates import GateSink, fill_ring

from ferrolog import Pipeline
from ferrolog._native import Ready


@pytest.fixture
def stalled() -> Iterator[tuple[Pipeline, GateSink]]:
    gate = GateSink()
    p = Pipeline(sinks=[gate], capacity_bytes=4096)
    yield p, gate
    gate.release()
    p.close(10.0)


def _settle(p: Pipeline, gate: GateSink, calls: int) -> dict[str, int]:
    gate.release()
    assert p.flush(10.0)
    stats = p.stats()
    assert stats["emitted"] == calls
    assert stats["emitted"] == stats["written"] + stats["dropped"]
    return stats


async def test_a_cancelled_waiting_ainfo_counts_its_event_dropped(
    stalled: tuple[Pipeline, GateSink],
) -> None:
    """Cancelling an `ainfo` that waits for space counts the event as dropped at once."""
    p, gate = stalled
    log = p.logger("w")
    calls = fill_ring(p, log)
    dropped = p.stats()["dropped"]
    waiting = log.ainfo("cancelled")
    calls += 1
    assert not isinstance(waiting, Ready)
    task = asyncio.ensure_future(waiting)
    await asyncio.sleep(0)  # let the task start waiting
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert p.stats()["dropped"] == dropped + 1
    stats = _settle(p, gate, calls)
    assert stats["dropped"] == dropped + 1
    assert not any(b'"cancelled"' in line for line in gate.lines)


def test_an_unawaited_ainfo_counts_its_event_dropped_when_collected(
    stalled: tuple[Pipeline, GateSink],
) -> None:
    """An `ainfo` awaitable never awaited counts its event dropped when garbage-collected."""
    p, gate = stalled
    log = p.logger("w")
    calls = fill_ring(p, log)
    dropped = p.stats()["dropped"]
    waiting = log.ainfo("never awaited")
    calls += 1
    assert not isinstance(waiting, Ready)
    with pytest.warns(RuntimeWarning, match="never awaited"):
        del waiting  # the last reference: the coroutine is collected here
    gc.collect()
    assert p.stats()["dropped"] == dropped + 1
    stats = _settle(p, gate, calls)
    assert stats["dropped"] == dropped + 1


async def test_a_waiting_ainfo_is_written_once_space_frees(
    stalled: tuple[Pipeline, GateSink],
) -> None:
    """An awaited `ainfo` behind a stalled sink is written, not dropped, once the sink moves."""
    p, gate = stalled
    log = p.logger("w")
    calls = fill_ring(p, log)
    dropped = p.stats()["dropped"]
    task = asyncio.ensure_future(log.ainfo("patient"))
    calls += 1
    await asyncio.sleep(0)
    gate.release()
    await asyncio.wait_for(task, 30)
    stats = _settle(p, gate, calls)
    assert stats["dropped"] == dropped
    assert sum(b'"patient"' in line for line in gate.lines) == 1
