"""A panic inside the encoder (a bug of ours) never escapes a log call.

`_native._PanicOnEncode` is a test-only probe whose encoding sets a Python error and panics.
"""

from __future__ import annotations

import sys

from conftest import FileLog
from ferrolog._native import Ready, YieldOnce, _PanicOnEncode


def test_a_panicking_encoder_drops_the_event_and_the_call_returns(file_log: FileLog) -> None:
    """The call returns None with no exception pending; the event is counted dropped."""
    log = file_log.logger
    assert log.info("lost", bad=_PanicOnEncode()) is None
    assert sys.exc_info() == (None, None, None)
    log.info("after", ok=1)
    lines = file_log.lines()
    assert [ev["message"] for ev in lines] == ["after"]
    stats = file_log.stats()
    assert stats["dropped"] == 1
    assert stats["errors"] == 1
    assert stats["emitted"] == 2 == stats["written"] + stats["dropped"]


async def test_a_panicking_encoder_in_an_async_call_returns_an_awaitable(
    file_log: FileLog,
) -> None:
    """`ainfo` survives the panic too: it returns a completed awaitable, not None (`Ready`,
    or `YieldOnce` when it is the thread's 256th awaited call to find room: the count runs
    across tests, so either may come)."""
    aw = file_log.logger.ainfo("lost", nested=[{"bad": _PanicOnEncode()}])
    assert isinstance(aw, (Ready, YieldOnce))
    await aw
    stats = file_log.stats()
    assert stats["dropped"] == 1
    assert stats["emitted"] == 1
