"""retry(): exponential backoff with full jitter, as a function and a decorator (fake clock)."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Iterator

import pytest

from ferrolog.errors import ErrorCategory, NetworkError, RetryExhaustedError, retry


class FakeClock:
    """Time that only moves when the code under test sleeps; every wait is recorded."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        self.now += delay


def _fixed(*values: float) -> Iterator[float]:
    yield from values


class Flaky:
    """Fails with the given errors, then returns "ok"; counts calls."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self, value: str = "ok") -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return value


async def test_retries_until_success_with_growing_full_jitter_delays() -> None:
    """Each wait is random() times min(max_delay, base * multiplier**n): full jitter."""
    clock = FakeClock()
    randoms = _fixed(1.0, 0.5, 0.25, 1.0)
    flaky = Flaky(*(ConnectionResetError("reset") for _ in range(4)))
    result = await retry(
        flaky,
        "done",
        attempts=5,
        base_delay=1.0,
        max_delay=3.0,
        multiplier=2.0,
        sleep=clock.sleep,
        random=lambda: next(randoms),
    )
    assert result == "done"
    assert flaky.calls == 5
    # bounds 1, 2, 4 -> 3 (capped), 8 -> 3
    assert clock.sleeps == [1.0, 1.0, 0.75, 3.0]


async def test_exhaustion_raises_with_every_attempts_error() -> None:
    """After the last failed attempt RetryExhaustedError carries all errors, oldest first."""
    clock = FakeClock()
    errors = [ConnectionRefusedError(errno.ECONNREFUSED, f"refused {i}") for i in range(3)]
    flaky = Flaky(*errors)
    with pytest.raises(RetryExhaustedError) as caught:
        await retry(flaky, attempts=3, sleep=clock.sleep, random=lambda: 0.5)
    exhausted = caught.value
    assert exhausted.errors == tuple(errors)
    assert exhausted.__cause__ is errors[-1]
    assert exhausted.category is ErrorCategory.NETWORK
    assert exhausted.retryable is False
    assert "failed 3 time(s)" in str(exhausted)
    assert "refused 2" in str(exhausted)
    assert exhausted.context["attempts"] == 3
    assert len(clock.sleeps) == 2  # no wait after the last attempt


async def test_errors_that_are_not_retryable_are_raised_at_once() -> None:
    """By default only errors categorize() calls retryable are retried; a bug is raised as is."""
    clock = FakeClock()
    bug = TypeError("a bug")
    flaky = Flaky(bug)
    with pytest.raises(TypeError) as caught:
        await retry(flaky, sleep=clock.sleep)
    assert caught.value is bug
    assert flaky.calls == 1
    assert clock.sleeps == []


async def test_retry_on_chooses_the_errors_by_type_or_predicate() -> None:
    """retry_on takes a type, a tuple of types, or a predicate on the error."""
    clock = FakeClock()
    by_type = Flaky(KeyError("k"), KeyError("k"))
    assert await retry(by_type, retry_on=KeyError, sleep=clock.sleep) == "ok"
    by_tuple = Flaky(ValueError("v"), KeyError("k"))
    assert await retry(by_tuple, retry_on=(KeyError, ValueError), sleep=clock.sleep) == "ok"
    by_predicate = Flaky(ValueError("transient"), ValueError("fatal"))
    with pytest.raises(ValueError, match="fatal"):
        await retry(
            by_predicate, retry_on=lambda e: "transient" in str(e), attempts=5, sleep=clock.sleep
        )
    assert by_predicate.calls == 2


async def test_usable_as_a_decorator() -> None:
    """@retry(...) retries every call of the decorated coroutine function, keeping its name."""
    clock = FakeClock()
    calls: list[int] = []

    @retry(attempts=3, retry_on=NetworkError, sleep=clock.sleep, random=lambda: 1.0)
    async def fetch(item: int, *, suffix: str = "") -> str:
        """Fetch one item."""
        calls.append(item)
        if len(calls) < 3:
            raise NetworkError("flaky")
        return f"item {item}{suffix}"

    assert await fetch(7, suffix="!") == "item 7!"
    assert calls == [7, 7, 7]
    assert fetch.__name__ == "fetch"
    assert fetch.__doc__ == "Fetch one item."
    assert clock.sleeps == [0.1, 0.2]


async def test_on_retry_hook_sees_each_failure_and_delay() -> None:
    """on_retry(attempt, error, delay) is called before each wait, for instrumentation."""
    clock = FakeClock()
    seen: list[tuple[int, str, float]] = []
    flaky = Flaky(TimeoutError("t1"), TimeoutError("t2"))
    await retry(
        flaky,
        on_retry=lambda n, e, d: seen.append((n, str(e), d)),
        sleep=clock.sleep,
        random=lambda: 1.0,
    )
    assert seen == [(1, "t1", 0.1), (2, "t2", 0.2)]


async def test_cancellation_is_never_retried() -> None:
    """Cancelling the retrying task stops it; CancelledError is not an attempt failure."""
    started = asyncio.Event()
    calls = 0

    async def hangs() -> None:
        nonlocal calls
        calls += 1
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(retry(hangs, retry_on=BaseException, attempts=5))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert calls == 1


async def test_plain_functions_are_retried_too() -> None:
    """A plain function (returning a value, not an awaitable) can be retried."""
    clock = FakeClock()
    failures = [ConnectionResetError("r")]

    def sync() -> int:
        if failures:
            raise failures.pop()
        return 42

    assert await retry(sync, sleep=clock.sleep) == 42


async def test_huge_attempt_counts_do_not_overflow_the_backoff() -> None:
    """Many attempts with a large multiplier stay capped at max_delay (no OverflowError)."""
    clock = FakeClock()
    flaky = Flaky(*(TimeoutError() for _ in range(2000)))
    await retry(
        flaky, attempts=2001, multiplier=1e6, max_delay=5.0, sleep=clock.sleep, random=lambda: 1.0
    )
    assert max(clock.sleeps) == 5.0
    assert clock.now == pytest.approx(0.1 + 5.0 * 1999)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"attempts": 0}, "attempts must be an int >= 1"),
        ({"attempts": True}, "attempts must be an int >= 1"),
        ({"base_delay": -1}, "base_delay must be a finite number >= 0"),
        ({"max_delay": float("nan")}, "max_delay must be a finite number >= 0"),
        ({"multiplier": 0.5}, "multiplier must be a finite number >= 1"),
    ],
)
def test_bad_options_are_refused_naming_the_argument(
    options: dict[str, float], message: str
) -> None:
    """Invalid backoff options raise ValueError naming the argument and its value."""
    with pytest.raises(ValueError, match=message):
        retry(**options)  # type: ignore[call-overload]


def test_bad_retry_on_is_refused() -> None:
    """retry_on must be exception types, a predicate or None."""
    with pytest.raises(TypeError, match="retry_on must be"):
        retry(retry_on=(KeyError, "x"))  # type: ignore[arg-type]
