"""Awaited calls that find room complete at once, but a coroutine logging a long burst of them
must not hold the event loop for the whole burst: every 256th awaited call on a loop thread
gives the loop one turn (a `YieldOnce`), its event already in the ring."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from ferrolog import Pipeline
from ferrolog._native import Ready, YieldOnce

YIELD_EVERY = 256


def _pipeline(tmp_path: Path) -> tuple[Pipeline, Path]:
    path = tmp_path / "burst.log"
    return Pipeline(sinks=[{"type": "file", "path": str(path)}], capacity_bytes=16 << 20), path


async def test_a_burst_of_awaited_calls_lets_other_tasks_run(tmp_path: Path) -> None:
    p, path = _pipeline(tmp_path)
    log = p.logger("burst")
    turns = 0
    stop = False

    async def other_task() -> None:
        nonlocal turns
        while not stop:
            turns += 1
            await asyncio.sleep(0)

    task = asyncio.ensure_future(other_task())
    await asyncio.sleep(0)  # let it start
    before = turns
    kinds: list[type] = []
    for i in range(4 * YIELD_EVERY):
        aw = log.ainfo("burst", i=i)
        kinds.append(type(aw))
        await aw
    during = turns - before
    stop = True
    await task
    # A thread's count runs on from earlier calls: 4 x 256 calls meet 4 yields, or 3 at the
    # edges (and the other task gets one turn per yield).
    yields = kinds.count(YieldOnce)
    assert yields in (3, 4), kinds
    assert set(kinds) == {Ready, YieldOnce}
    assert during >= yields
    assert p.flush(10.0)
    lines = path.read_text().splitlines()
    assert [json.loads(line)["i"] for line in lines] == list(range(4 * YIELD_EVERY))
    p.close(10.0)


def test_off_the_loop_awaited_calls_never_yield(tmp_path: Path) -> None:
    """Outside a running loop nothing drives a yield: every call is the ready awaitable."""
    p, path = _pipeline(tmp_path)
    log = p.logger("sync")
    kinds = {type(log.ainfo("off loop", i=i)) for i in range(3 * YIELD_EVERY)}
    assert kinds == {Ready}
    assert p.flush(10.0)
    assert len(path.read_text().splitlines()) == 3 * YIELD_EVERY
    p.close(10.0)


def test_yield_once_yields_exactly_once() -> None:
    """Driven by hand (as a task drives it): one bare yield, then done with None."""

    async def make() -> YieldOnce:
        p = Pipeline(sinks=[{"type": "null"}])
        log = p.logger("y")
        found = None
        for _ in range(2 * YIELD_EVERY):
            aw = log.ainfo("y")
            if isinstance(aw, YieldOnce):
                found = aw
                break
            await aw
        p.close(10.0)
        assert found is not None
        return found

    y = asyncio.run(make())
    it = y.__await__()
    assert next(it) is None
    with pytest.raises(StopIteration) as done:
        next(it)
    assert done.value.value is None
