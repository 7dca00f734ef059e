"""safe_execute(): a result object (ok, value or fallback, categorised error), never a raise."""

from __future__ import annotations

import asyncio
import errno
import threading

import pytest

import ferrolog
from ferrolog.errors import (
    ErrorCategory,
    OperationTimeoutError,
    SafeResult,
    Severity,
    safe_execute,
)


async def test_a_coroutine_that_returns_is_ok() -> None:
    """A successful coroutine function gives ok=True and its value."""

    async def add(a: int, b: int) -> int:
        return a + b

    result = await safe_execute(add, 2, 3, fallback=-1)
    assert result == SafeResult(ok=True, value=5)
    assert result.unwrap() == 5


async def test_a_failure_returns_the_fallback_and_the_categorised_error() -> None:
    """A raising call gives ok=False, the fallback as value, the error and its category."""
    disk_full = OSError(errno.ENOSPC, "No space left on device")

    async def write() -> int:
        raise disk_full

    result = await safe_execute(write, fallback=0)
    assert (result.ok, result.value, result.error) == (False, 0, disk_full)
    assert result.category is ErrorCategory.SINK_IO
    assert result.retryable is False
    assert result.severity is Severity.CRITICAL
    with pytest.raises(OSError, match="No space left"):
        result.unwrap()


async def test_plain_functions_run_off_the_event_loop() -> None:
    """A plain function runs in a worker thread, with the request context, not on the loop."""
    loop_thread = threading.get_ident()

    def work(x: int) -> tuple[int, int, dict[str, object]]:
        return x * 2, threading.get_ident(), ferrolog.get_contextvars()

    with ferrolog.bound_contextvars(request_id="r-5"):
        result = await safe_execute(work, 21)
    assert result.ok
    assert result.value is not None
    value, thread, context = result.value
    assert value == 42
    assert thread != loop_thread
    assert context == {"request_id": "r-5"}


async def test_a_timeout_becomes_an_operation_timeout_error() -> None:
    """A call that outlives its timeout gives a TIMEOUT error naming the call and the limit."""
    cancelled = asyncio.Event()

    async def hangs() -> str:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    result = await safe_execute(hangs, fallback="cached", timeout=0.01)
    assert (result.ok, result.value) == (False, "cached")
    assert isinstance(result.error, OperationTimeoutError)
    assert isinstance(result.error, TimeoutError)
    assert result.category is ErrorCategory.TIMEOUT
    assert result.retryable is True
    assert "hangs did not finish within 0.01 s" in str(result.error)
    await asyncio.wait_for(cancelled.wait(), 10)  # the hung call was cancelled


async def test_a_timeout_error_raised_by_the_call_is_kept_as_is() -> None:
    """The call's own TimeoutError is reported unchanged, not as a timeout of safe_execute."""
    own = TimeoutError("upstream said timeout")

    async def fails() -> None:
        raise own

    result = await safe_execute(fails, timeout=60.0)
    assert result.error is own
    assert result.category is ErrorCategory.TIMEOUT


async def test_a_call_that_ignores_cancellation_does_not_hang_the_caller() -> None:
    """A coroutine that swallows cancellation still lets safe_execute return at its timeout."""
    stop = asyncio.Event()

    async def stubborn() -> None:
        while not stop.is_set():
            try:
                await stop.wait()
            except asyncio.CancelledError:
                continue

    result = await safe_execute(stubborn, timeout=0.01)
    assert isinstance(result.error, OperationTimeoutError)
    stop.set()


async def test_cancellation_of_the_caller_propagates() -> None:
    """Cancelling the task running safe_execute cancels it; it is never swallowed."""
    started = asyncio.Event()

    async def hangs() -> None:
        started.set()
        await asyncio.Event().wait()

    for timeout in (None, 60.0):
        started.clear()
        task = asyncio.create_task(safe_execute(hangs, timeout=timeout))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_bad_timeout_is_refused() -> None:
    """A negative timeout raises ValueError naming it."""
    with pytest.raises(ValueError, match="timeout must be None or >= 0"):
        await safe_execute(lambda: None, timeout=-1)
