"""`retry`: run an async operation again after a failure, with exponential backoff and full
jitter, as a function (``await retry(fn, *args)``) or a decorator (``@retry(attempts=5)``).

The wait before attempt ``n + 1`` is uniform in ``[0, min(max_delay, base_delay *
multiplier ** (n - 1))]`` ("full jitter"): many clients failing together spread out instead
of retrying in lock-step. Which errors retry is opt-in: by default those that `categorize`
calls retryable (timeouts, connection failures, busy resources), never a bug like
``TypeError``. ``sleep`` and ``random`` are parameters so tests run on a fake clock.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import random as _random
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeAlias, TypeVar, overload

from ferrolog._categorize import categorize
from ferrolog._hierarchy import FerrologError

__all__ = ["RetryExhaustedError", "RetryOn", "backoff_delays", "retry"]

_T = TypeVar("_T")
_P = ParamSpec("_P")

#: Which errors are retried: exception types, or a predicate on the error.
RetryOn: TypeAlias = (
    "type[BaseException] | tuple[type[BaseException], ...] | Callable[[BaseException], bool] | None"
)
#: Called before each wait with (attempt number that failed, its error, the delay in seconds).
OnRetry: TypeAlias = Callable[[int, BaseException, float], None]


class RetryExhaustedError(FerrologError):
    """Every attempt failed; ``.errors`` holds each attempt's error, oldest first.

    Its category is that of the last error (see `categorize`), and it is not retryable
    itself: the retrying already happened.
    """

    def __init__(self, operation: str, errors: tuple[BaseException, ...]) -> None:
        last = errors[-1]
        super().__init__(
            f"{operation} failed {len(errors)} time(s); last error: "
            f"{type(last).__name__}: {last}; raise `attempts` or fix the cause",
            operation=operation,
            attempts=len(errors),
        )
        self.errors = errors
        self.category = categorize(last).category
        self.retryable = False


def _check(attempts: int, base_delay: float, max_delay: float, multiplier: float) -> None:
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        raise ValueError(f"retry: attempts must be an int >= 1, not {attempts!r}")
    for name, value in (("base_delay", base_delay), ("max_delay", max_delay)):
        if not isinstance(value, (int, float)) or not value >= 0 or value == float("inf"):
            raise ValueError(f"retry: {name} must be a finite number >= 0 seconds, not {value!r}")
    if not isinstance(multiplier, (int, float)) or not 1 <= multiplier < float("inf"):
        raise ValueError(f"retry: multiplier must be a finite number >= 1, not {multiplier!r}")


def _predicate(retry_on: RetryOn) -> Callable[[BaseException], bool]:
    if retry_on is None:
        return lambda error: categorize(error).retryable
    if isinstance(retry_on, type) and issubclass(retry_on, BaseException):
        kinds: tuple[type[BaseException], ...] = (retry_on,)
    elif isinstance(retry_on, tuple) and all(
        isinstance(kind, type) and issubclass(kind, BaseException) for kind in retry_on
    ):
        kinds = retry_on
    elif callable(retry_on):
        return retry_on  # type: ignore[return-value]
    else:
        raise TypeError(
            "retry: retry_on must be an exception type, a tuple of them, a predicate "
            f"or None, not {retry_on!r}"
        )
    return lambda error: isinstance(error, kinds)


def backoff_delays(
    attempts: int, base_delay: float, max_delay: float, multiplier: float
) -> list[float]:
    """The upper bound of the wait after each failed attempt but the last (no jitter)."""
    bounds: list[float] = []
    ceiling = min(base_delay, max_delay)
    for _ in range(attempts - 1):
        bounds.append(ceiling)
        # Grow step by step and clamp: never computes multiplier ** n, which overflows.
        ceiling = min(max_delay, ceiling * multiplier)
    return bounds


def _name(fn: Callable[..., object]) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)


async def _run(
    fn: Callable[..., Awaitable[_T] | _T],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    attempts: int,
    base_delay: float,
    max_delay: float,
    multiplier: float,
    should_retry: Callable[[BaseException], bool],
    on_retry: OnRetry | None,
    sleep: Callable[[float], Awaitable[object]],
    random: Callable[[], float],
) -> _T:
    errors: list[BaseException] = []
    bounds = backoff_delays(attempts, base_delay, max_delay, multiplier)
    for attempt in range(1, attempts + 1):
        try:
            result = fn(*args, **kwargs)
            if inspect.isawaitable(result):
                return await result
            return result
        except Exception as error:  # CancelledError and KeyboardInterrupt are never retried
            if not should_retry(error):
                raise
            errors.append(error)
            if attempt == attempts:
                raise RetryExhaustedError(_name(fn), tuple(errors)) from error
            delay = bounds[attempt - 1] * random()
            if on_retry is not None:
                on_retry(attempt, error, delay)
        # Outside the except block: the failed attempt's traceback is not kept alive.
        await sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


class _Decorator:
    """What ``retry(...)`` without a function returns: it wraps a coroutine function."""

    def __init__(self, options: dict[str, Any]) -> None:
        self._options = options

    def __call__(self, fn: Callable[_P, Awaitable[_T]]) -> Callable[_P, Coroutine[Any, Any, _T]]:
        if not callable(fn):
            raise TypeError(f"@retry(...) decorates a callable, not {type(fn).__name__}")
        options = self._options

        @functools.wraps(fn)
        async def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _T:
            return await _run(fn, args, kwargs, **options)

        return wrapper


@overload
def retry(
    fn: None = None,
    /,
    *,
    attempts: int = 3,
    base_delay: float = 0.1,
    max_delay: float = 10.0,
    multiplier: float = 2.0,
    retry_on: RetryOn = None,
    on_retry: OnRetry | None = None,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    random: Callable[[], float] = _random.random,
) -> _Decorator: ...


@overload
def retry(
    fn: Callable[..., Awaitable[_T]],
    /,
    *args: Any,
    attempts: int = 3,
    base_delay: float = 0.1,
    max_delay: float = 10.0,
    multiplier: float = 2.0,
    retry_on: RetryOn = None,
    on_retry: OnRetry | None = None,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    random: Callable[[], float] = _random.random,
) -> Coroutine[Any, Any, _T]: ...


def retry(
    fn: Callable[..., Awaitable[_T]] | None = None,
    /,
    *args: Any,
    attempts: int = 3,
    base_delay: float = 0.1,
    max_delay: float = 10.0,
    multiplier: float = 2.0,
    retry_on: RetryOn = None,
    on_retry: OnRetry | None = None,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    random: Callable[[], float] = _random.random,
) -> Coroutine[Any, Any, _T] | _Decorator:
    """Call ``fn(*args)`` until it succeeds, at most ``attempts`` times; or, without ``fn``,
    return a decorator that does this for every call of the decorated coroutine function.

    ``await retry(fetch, url, attempts=5)`` or ``@retry(attempts=5)``. After a retryable
    failure it waits a random time in ``[0, min(max_delay, base_delay * multiplier **
    (n - 1))]`` seconds (full jitter), ``n`` being the failed attempt's number. ``retry_on``
    chooses which errors retry: exception types, a predicate, or ``None`` for those
    `categorize` calls retryable. Other errors are raised at once, unchanged. When the last
    attempt fails, `RetryExhaustedError` is raised with every attempt's error in ``.errors``.
    ``on_retry(attempt, error, delay)`` is called before each wait (instrumentation);
    ``sleep`` and ``random`` replace ``asyncio.sleep`` and ``random.random`` (tests).
    Cancellation is never retried. ``fn`` may also be a plain function (called on the loop).
    """
    _check(attempts, base_delay, max_delay, multiplier)
    options: dict[str, Any] = {
        "attempts": attempts,
        "base_delay": float(base_delay),
        "max_delay": float(max_delay),
        "multiplier": float(multiplier),
        "should_retry": _predicate(retry_on),
        "on_retry": on_retry,
        "sleep": sleep,
        "random": random,
    }
    if fn is None:
        if args:
            raise TypeError("retry(): positional arguments need the function first")
        return _Decorator(options)
    if not callable(fn):
        raise TypeError(f"retry(): the first argument must be callable, not {type(fn).__name__}")
    return _run(fn, args, {}, **options)
