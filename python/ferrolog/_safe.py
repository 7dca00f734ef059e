"""`safe_execute`: run a callable or coroutine, never raise its failure, return a result.

The failure is caught, categorised (`categorize`) and handed back in a `SafeResult` together
with a fallback value, so a caller can degrade gracefully without a ``try`` around each call.
Cancellation, ``KeyboardInterrupt`` and ``SystemExit`` are never swallowed.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ferrolog._categorize import categorize
from ferrolog._hierarchy import ErrorCategory, OperationTimeoutError, Severity

__all__ = ["SafeResult", "safe_execute"]

_T = TypeVar("_T")


@dataclass(frozen=True)
class SafeResult(Generic[_T]):
    """The outcome of `safe_execute`.

    ``ok`` is true when the call returned; ``value`` is what it returned, or the fallback when
    it failed; ``error`` is the exception it raised (an `OperationTimeoutError` on timeout);
    ``category``, ``retryable`` and ``severity`` are `categorize`'s view of that error.
    """

    ok: bool
    value: _T
    error: BaseException | None = None
    category: ErrorCategory | None = None
    retryable: bool = False
    severity: Severity | None = None

    def unwrap(self) -> _T:
        """The value; re-raises the error when the call failed."""
        if self.error is not None:
            raise self.error
        return self.value


def _name(fn: Callable[..., object]) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)


async def safe_execute(
    fn: Callable[..., Awaitable[_T] | _T],
    *args: Any,
    fallback: _T | None = None,
    timeout: float | None = None,
) -> SafeResult[_T | None]:
    """Run ``fn(*args)`` within ``timeout`` seconds and return a `SafeResult` instead of raising.

    A coroutine function (or any callable returning an awaitable) is awaited on this loop; a
    plain function runs in a worker thread (``asyncio.to_thread``, which carries the request
    context), so it cannot block the event loop and the timeout applies to it too; a timed
    out thread cannot be stopped and finishes in the background. On failure ``value`` is
    ``fallback``.
    """
    if timeout is not None and not (isinstance(timeout, (int, float)) and timeout >= 0):
        raise ValueError(f"safe_execute: timeout must be None or >= 0 seconds, not {timeout!r}")
    try:
        if inspect.iscoroutinefunction(fn):
            awaitable: Awaitable[Any] = fn(*args)
        else:
            awaitable = asyncio.to_thread(_call_sync, fn, args)
        if timeout is None:
            value = await _awaited(awaitable)
        else:
            value = await _within(awaitable, timeout, fn)
    except Exception as exc:
        return _failure(exc, fallback)
    return SafeResult(ok=True, value=value)


async def _within(awaitable: Awaitable[Any], timeout: float, fn: Callable[..., object]) -> Any:
    # Not asyncio.wait_for: its TimeoutError could not be told from one the call raised.
    task = asyncio.ensure_future(_awaited(awaitable))
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        # Not awaited: a call that ignores cancellation must not hang the caller too.
        task.cancel()
        task.add_done_callback(_consume)
        raise OperationTimeoutError(
            f"{_name(fn)} did not finish within {timeout:g} s; raise the timeout or make "
            "the operation faster",
            operation=_name(fn),
            timeout=timeout,
        )
    return task.result()


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    result = await awaitable
    # A plain function run in a thread may have returned an awaitable (e.g. a partial of a
    # coroutine function): await that too, on this loop.
    while inspect.isawaitable(result):
        result = await result
    return result


def _consume(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: asyncio does not report it as never retrieved


def _call_sync(fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    return fn(*args)


def _failure(error: BaseException, fallback: _T | None) -> SafeResult[_T | None]:
    verdict = categorize(error)
    return SafeResult(
        ok=False,
        value=fallback,
        error=error,
        category=verdict.category,
        retryable=verdict.retryable,
        severity=verdict.severity,
    )
