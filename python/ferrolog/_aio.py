"""Awaitables behind the Logger's async methods; used by the native extension."""

from __future__ import annotations

import asyncio

from ferrolog._native import FlushTicket, PendingRecord

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


async def flush(ticket: FlushTicket) -> bool:
    """Wait, without blocking the loop, for a flush started by `Logger.flush`.

    True once every event emitted before that call is written or counted dropped and the
    sinks were flushed; False if that did not happen within its timeout. Cancelling the wait
    does not stop the flush itself, which ends at its timeout at the latest.
    """
    delay = _FIRST_DELAY
    while (result := ticket.result()) is None:
        await asyncio.sleep(delay)
        delay = min(delay * 2, _MAX_DELAY)
    return result
