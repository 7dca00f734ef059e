"""CircuitBreaker: closed -> open -> half-open -> closed, on an injected clock; Diagnostics."""

from __future__ import annotations

import asyncio
import io
import threading

import pytest

from ferrolog import Container
from ferrolog.errors import (
    CircuitBreaker,
    CircuitOpenError,
    CircuitState,
    Diagnostics,
    ErrorCategory,
)

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def _fail() -> None:
    raise ConnectionResetError("down")


async def _ok() -> str:
    return "ok"


async def _trip(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        with pytest.raises(ConnectionResetError):
            await breaker.call(_fail)


def _breaker(**options: object) -> tuple[CircuitBreaker, Clock, list[tuple[str, str]]]:
    clock = Clock()
    changes: list[tuple[str, str]] = []
    breaker = CircuitBreaker(
        clock=clock,
        on_state_change=lambda b, old, new: changes.append((old.value, new.value)),
        **options,  # type: ignore[arg-type]
    )
    return breaker, clock, changes


async def test_opens_after_threshold_consecutive_failures() -> None:
    """N failures in a row open the circuit; then calls fail fast without running."""
    breaker, _, changes = _breaker(failure_threshold=3, recovery_timeout=10.0)
    await _trip(breaker, 2)
    assert breaker.state is CLOSED
    await _trip(breaker, 1)
    assert breaker.state is OPEN
    ran = []
    with pytest.raises(CircuitOpenError) as caught:
        await breaker.call(lambda: ran.append(1))
    assert ran == []
    assert caught.value.retry_after == 10.0
    assert caught.value.category is ErrorCategory.BACKPRESSURE
    assert "circuit 'breaker' is open" in str(caught.value)
    assert changes == [("closed", "open")]
    stats = breaker.stats()
    assert (stats.calls, stats.failures, stats.rejected, stats.opened) == (3, 3, 1, 1)


async def test_a_success_resets_the_consecutive_count() -> None:
    """Failures separated by a success do not add up."""
    breaker, _, _ = _breaker(failure_threshold=2)
    await _trip(breaker, 1)
    assert await breaker.call(_ok) == "ok"
    await _trip(breaker, 1)
    assert breaker.state is CLOSED


async def test_half_open_after_recovery_timeout_then_closed_on_success() -> None:
    """After recovery_timeout one probe runs; its success closes the circuit."""
    breaker, clock, changes = _breaker(failure_threshold=1, recovery_timeout=30.0)
    await _trip(breaker, 1)
    clock.now += 29.9
    assert breaker.state is OPEN
    with pytest.raises(CircuitOpenError) as caught:
        await breaker.call(_ok)
    assert caught.value.retry_after == pytest.approx(0.1)
    clock.now += 0.1
    assert breaker.state is HALF_OPEN
    assert await breaker.call(_ok) == "ok"
    assert breaker.state is CLOSED
    assert changes == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]
    assert breaker.stats().state_changes == 3


async def test_a_failing_probe_opens_the_circuit_again() -> None:
    """A probe that fails re-opens the circuit and restarts the recovery timeout."""
    breaker, clock, changes = _breaker(failure_threshold=1, recovery_timeout=5.0)
    await _trip(breaker, 1)
    clock.now += 5.0
    await _trip(breaker, 1)
    assert breaker.state is OPEN
    clock.now += 4.0
    assert breaker.state is OPEN
    clock.now += 1.0
    assert breaker.state is HALF_OPEN
    assert changes == [
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "open"),
        ("open", "half_open"),
    ]
    assert breaker.stats().opened == 2


async def test_half_open_admits_only_the_allowed_number_of_probes() -> None:
    """With half_open_max_calls=2, a third concurrent call is refused; two successes close."""
    breaker, clock, _ = _breaker(failure_threshold=1, recovery_timeout=1.0, half_open_max_calls=2)
    await _trip(breaker, 1)
    clock.now += 1.0
    release = asyncio.Event()
    both_in = asyncio.Event()
    entered = 0

    async def probe() -> str:
        nonlocal entered
        entered += 1
        if entered == 2:
            both_in.set()
        await release.wait()
        return "probed"

    probes = [asyncio.create_task(breaker.call(probe)) for _ in range(2)]
    await both_in.wait()
    with pytest.raises(CircuitOpenError, match="half_open"):
        await breaker.call(_ok)
    release.set()
    assert await asyncio.gather(*probes) == ["probed", "probed"]
    assert breaker.state is CLOSED


async def test_a_cancelled_probe_frees_its_slot() -> None:
    """Cancelling a half-open probe counts as nothing and lets the next probe run."""
    breaker, clock, _ = _breaker(failure_threshold=1, recovery_timeout=1.0)
    await _trip(breaker, 1)
    clock.now += 1.0
    started = asyncio.Event()

    async def hangs() -> None:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(breaker.call(hangs))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert breaker.state is HALF_OPEN
    assert await breaker.call(_ok) == "ok"
    assert breaker.state is CLOSED


async def test_async_with_records_the_outcome_of_the_block() -> None:
    """`async with breaker:` counts an exception in the block as a failure."""
    breaker, _, _ = _breaker(failure_threshold=2)
    for _ in range(2):
        with pytest.raises(OSError):
            async with breaker:
                raise OSError("write failed")
    assert breaker.state is OPEN
    with pytest.raises(CircuitOpenError):
        async with breaker:
            pytest.fail("the block must not run while open")


async def test_only_failure_on_types_count() -> None:
    """Exceptions outside failure_on pass through without counting as failures."""
    breaker, _, _ = _breaker(failure_threshold=1, failure_on=OSError)
    for _ in range(3):
        with pytest.raises(KeyError):
            async with breaker:
                raise KeyError("caller's bug")
    assert breaker.state is CLOSED
    assert breaker.stats().failures == 0


async def test_failure_rate_over_a_window_opens_the_circuit() -> None:
    """With failure_rate, that share of failures among >= min_calls in the window opens it."""
    breaker, _, _ = _breaker(failure_threshold=100, failure_rate=0.5, window=10.0, min_calls=4)
    await breaker.call(_ok)
    await _trip(breaker, 1)
    await breaker.call(_ok)
    assert breaker.state is CLOSED  # 1 of 3: below min_calls anyway
    await _trip(breaker, 1)
    assert breaker.state is OPEN  # 2 of 4 = 50 %


async def test_old_outcomes_leave_the_window() -> None:
    """Failures older than the window no longer count toward the rate."""
    breaker, clock, _ = _breaker(failure_threshold=100, failure_rate=0.5, window=10.0, min_calls=4)
    await _trip(breaker, 2)
    clock.now += 11.0
    for _ in range(3):
        await breaker.call(_ok)
    await _trip(breaker, 1)
    assert breaker.state is CLOSED  # 1 of the 4 in the window


async def test_sync_functions_and_threads_share_one_breaker() -> None:
    """call() runs plain functions too; breakers used from several loops in threads agree."""
    breaker = CircuitBreaker(failure_threshold=4)
    assert await breaker.call(lambda x: x * 2, 21) == 42

    def worker() -> None:
        async def run() -> None:
            with pytest.raises(ConnectionResetError):
                await breaker.call(_fail)

        asyncio.run(run())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert breaker.state is OPEN
    assert breaker.stats().failures == 4


async def test_a_raising_callback_does_not_break_the_call() -> None:
    """A state-change callback that raises is reported to diagnostics, not to the caller."""
    stream = io.StringIO()

    def broken(*_: object) -> None:
        raise RuntimeError("observer bug")

    breaker = CircuitBreaker(
        failure_threshold=1, on_state_change=broken, diagnostics=Diagnostics(stream), name="db"
    )
    await _trip(breaker, 1)
    assert breaker.state is OPEN
    assert "on_state_change raised RuntimeError('observer bug')" in stream.getvalue()


async def test_state_changes_go_to_diagnostics_rate_limited() -> None:
    """Transitions are reported on the diagnostics stream, once per key per interval."""
    clock = Clock()
    stream = io.StringIO()
    diagnostics = Diagnostics(stream, interval=60.0, clock=clock)
    breaker = CircuitBreaker(
        failure_threshold=1, recovery_timeout=1.0, name="http", diagnostics=diagnostics, clock=clock
    )
    for _ in range(3):  # open -> half-open -> open, three times
        await _trip(breaker, 1)
        clock.now += 1.0
        assert breaker.state is HALF_OPEN
    lines = stream.getvalue().splitlines()
    assert lines == [
        "ferrolog: circuit 'http' changed from closed to open; calls are refused for 1 s",
        "ferrolog: circuit 'http' changed from open to half_open",
    ]
    assert diagnostics.suppressed == 4
    clock.now += 60.0
    await _trip(breaker, 1)
    assert stream.getvalue().splitlines()[-1] == (
        "ferrolog: circuit 'http' changed from half_open to open; calls are refused for 1 s "
        "(2 similar report(s) suppressed)"
    )


def test_diagnostics_never_raise_on_a_broken_stream() -> None:
    """A stream that fails to write is counted, not raised."""

    class Broken(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError("gone")

    diagnostics = Diagnostics(Broken())
    assert diagnostics.report("k", "hello") is True
    assert diagnostics.failed == 1


async def test_each_container_has_its_own_diagnostics() -> None:
    """Diagnostics belong to a container, not to the process."""
    nulls = {"sinks": [{"type": "null"}]}
    async with Container.create(nulls) as first, Container.create(nulls) as second:
        assert isinstance(first.diagnostics, Diagnostics)
        assert first.diagnostics is not second.diagnostics


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"failure_threshold": 0}, "failure_threshold must be an int >= 1"),
        ({"half_open_max_calls": 1.5}, "half_open_max_calls must be an int >= 1"),
        ({"recovery_timeout": -1}, "recovery_timeout must be a finite number"),
        ({"failure_rate": 1.5}, r"failure_rate must be in \(0, 1\]"),
    ],
)
def test_bad_options_are_refused(options: dict[str, object], message: str) -> None:
    """Invalid breaker options raise ValueError naming the breaker and the option."""
    with pytest.raises(ValueError, match=f"CircuitBreaker 'breaker': {message}"):
        CircuitBreaker(**options)  # type: ignore[arg-type]
