"""Awaitables behind the Logger's async methods; used by the native extension."""

from __future__ import annotations

import asyncio
import time

from ferrolog._native import PendingRecord, Pipeline

# Poll intervals while waiting for the writer: short at first (the writer lingers ~1 ms),
# backing off so a long stall costs almost nothing.
_FIRST_DELAY = 0.0002
_MAX_DELAY = 0.005


async def push_when_ready(pending: PendingRecord) -> None:
    """Wait, without blocking the loop, until the ring has room for `pending`, then push it.

    Never drops while the pipeline is open; once it is closed the record is counted dropped.
    Cancelled, the record is counted dropped at once (collected unawaited, when collected).
    """
    delay = _FIRST_DELAY
    try:
        while not pending.try_push():
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_DELAY)
    except BaseException:
        pending.drop_record()
        raise


async def flush(pipeline: Pipeline, timeout: float | None = None) -> bool:
    """Wait until every event emitted before the call is written or counted dropped.

    Returns False if that did not happen within `timeout` seconds (default: no limit).
    """
    mark = pipeline._emitted()
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = _FIRST_DELAY
    while not pipeline._settled(mark):
        if pipeline.closed and not pipeline._settled(mark):
            return pipeline._settled(mark)
        if deadline is not None and time.monotonic() >= deadline:
            return False
        await asyncio.sleep(delay)
        delay = min(delay * 2, _MAX_DELAY)
    return True
