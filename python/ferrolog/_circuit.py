"""`CircuitBreaker`: stop calling a dependency that keeps failing, and probe it to recover.

Closed: calls pass; ``failure_threshold`` failures in a row (or, with ``failure_rate``, that
share of the calls in the last ``window`` seconds) open the circuit. Open: calls fail at once
with `CircuitOpenError`, so a dead endpoint costs nothing, until ``recovery_timeout`` has
passed. Half-open: up to ``half_open_max_calls`` probe calls run at a time; a failing probe
opens the circuit again, ``half_open_max_calls`` successful probes close it.

One breaker may be shared by tasks on several event loops and threads: a ``threading.Lock``
guards its state, never held across an ``await`` nor while callbacks run.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar, cast

from ferrolog._diagnostics import Diagnostics
from ferrolog._hierarchy import BackpressureError

__all__ = ["BreakerStats", "CircuitBreaker", "CircuitOpenError", "CircuitState"]

_T = TypeVar("_T")


class CircuitState(str, enum.Enum):
    """The state of a `CircuitBreaker`."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitOpenError(BackpressureError):
    """The circuit is open (or its half-open probes are all in flight): the call was not made.

    ``.retry_after`` is how many seconds remain until the breaker lets a probe through.
    """

    def __init__(self, name: str, state: CircuitState, retry_after: float) -> None:
        super().__init__(
            f"circuit {name!r} is {state.value}: the call was not made; retry in "
            f"{retry_after:.3g} s, or fix what made it fail (see the errors before it)",
            breaker=name,
            state=state.value,
        )
        self.breaker = name
        self.state = state
        self.retry_after = retry_after


@dataclass(frozen=True)
class BreakerStats:
    """Counters of one breaker since it was created."""

    calls: int
    successes: int
    failures: int
    rejected: int
    opened: int
    state_changes: int


@dataclass
class _Permit:
    generation: int
    probe: bool


#: ``on_state_change(breaker, old, new)``, called after each transition, outside the lock.
StateCallback = Callable[["CircuitBreaker", CircuitState, CircuitState], None]


class CircuitBreaker:
    """Fails fast while a dependency is down; see the module documentation for the states.

    Use ``async with breaker:`` around the call, or ``await breaker.call(fn, *args)``. Only
    exceptions of ``failure_on`` types count as failures (others pass through and count as
    neither); cancellation counts as nothing. ``on_state_change`` and ``diagnostics`` (a
    `Diagnostics`, e.g. the container's) observe transitions; ``clock`` is injectable.
    """

    def __init__(
        self,
        failure_threshold: int = 5,
        recovery_timeout: float = 30.0,
        half_open_max_calls: int = 1,
        *,
        failure_rate: float | None = None,
        window: float = 60.0,
        min_calls: int = 10,
        failure_on: type[BaseException] | tuple[type[BaseException], ...] = Exception,
        name: str = "breaker",
        on_state_change: StateCallback | None = None,
        diagnostics: Diagnostics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        for label, count in (
            ("failure_threshold", failure_threshold),
            ("half_open_max_calls", half_open_max_calls),
            ("min_calls", min_calls),
        ):
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise ValueError(
                    f"CircuitBreaker {name!r}: {label} must be an int >= 1, not {count!r}"
                )
        for label, seconds in (("recovery_timeout", recovery_timeout), ("window", window)):
            if not isinstance(seconds, (int, float)) or not 0 <= seconds < float("inf"):
                raise ValueError(
                    f"CircuitBreaker {name!r}: {label} must be a finite number of seconds >= 0, "
                    f"not {seconds!r}"
                )
        if failure_rate is not None and not 0 < failure_rate <= 1:
            raise ValueError(
                f"CircuitBreaker {name!r}: failure_rate must be in (0, 1] or None, "
                f"not {failure_rate!r}"
            )
        self.name = name
        self.failure_threshold = failure_threshold
        self.recovery_timeout = float(recovery_timeout)
        self.half_open_max_calls = half_open_max_calls
        self.failure_rate = failure_rate
        self.window = float(window)
        self.min_calls = min_calls
        self._failure_on = failure_on
        self._on_state_change = on_state_change
        self._diagnostics = diagnostics
        self._clock = clock
        self._lock = threading.Lock()
        self._state = CircuitState.CLOSED
        self._generation = 0  # bumped at each transition: late outcomes of old calls are ignored
        self._consecutive = 0
        self._outcomes: deque[tuple[float, bool]] = deque()  # (time, failed), in the window
        self._opened_at = 0.0
        self._probes = 0
        self._probe_successes = 0
        # The permits of `async with` blocks in flight, per task (a task may nest them).
        self._permits: dict[object, list[_Permit]] = {}
        self._calls = self._successes = self._failures = self._rejected = 0
        self._opened = self._changes = 0

    # -- observation -------------------------------------------------------------------

    @property
    def state(self) -> CircuitState:
        """The current state (an open circuit whose recovery timeout passed is half-open)."""
        with self._lock:
            changes = self._advance()
            state = self._state
        self._notify(changes)
        return state

    def stats(self) -> BreakerStats:
        """A snapshot of the counters."""
        with self._lock:
            return BreakerStats(
                calls=self._calls,
                successes=self._successes,
                failures=self._failures,
                rejected=self._rejected,
                opened=self._opened,
                state_changes=self._changes,
            )

    # -- use ---------------------------------------------------------------------------

    async def call(self, fn: Callable[..., Awaitable[_T]], *args: Any) -> _T:
        """Run ``fn(*args)`` and await its result, through the breaker.

        At run time a plain function is accepted too (its result is returned as is); it runs
        on the event loop, so keep it short.
        """
        async with self:
            result = fn(*args)
            if inspect.isawaitable(result):
                return await result
            return cast(_T, result)

    async def __aenter__(self) -> CircuitBreaker:
        return self._enter()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._exit(exc)

    def __enter__(self) -> CircuitBreaker:
        """``with breaker:`` in plain (thread) code: the same rules as ``async with``."""
        return self._enter()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._exit(exc)

    def _enter(self) -> CircuitBreaker:
        permit, error, changes = self._acquire()
        self._notify(changes)
        if error is not None:
            raise error
        assert permit is not None
        key = _task_key()
        with self._lock:
            self._permits.setdefault(key, []).append(permit)
        return self

    def _exit(self, exc: BaseException | None) -> None:
        key = _task_key()
        with self._lock:
            stack = self._permits.get(key)
            permit = stack.pop() if stack else None
            if stack is not None and not stack:
                del self._permits[key]
            if permit is None:  # pragma: no cover - __aexit__ without __aenter__
                return
            if exc is None:
                changes = self._record(permit, failed=False)
            elif isinstance(exc, asyncio.CancelledError) or not isinstance(exc, self._failure_on):
                changes = self._release(permit)
            else:
                changes = self._record(permit, failed=True)
        self._notify(changes)

    def __repr__(self) -> str:
        return f"<CircuitBreaker {self.name!r} {self._state.value}>"

    # -- state machine (called with the lock held) ---------------------------------------

    def _acquire(
        self,
    ) -> tuple[_Permit | None, CircuitOpenError | None, list[tuple[CircuitState, CircuitState]]]:
        with self._lock:
            changes = self._advance()
            if self._state is CircuitState.OPEN:
                self._rejected += 1
                remaining = self._opened_at + self.recovery_timeout - self._clock()
                return None, CircuitOpenError(self.name, self._state, max(0.0, remaining)), changes
            if self._state is CircuitState.HALF_OPEN:
                if self._probes >= self.half_open_max_calls:
                    self._rejected += 1
                    return None, CircuitOpenError(self.name, self._state, 0.0), changes
                self._probes += 1
                self._calls += 1
                return _Permit(self._generation, probe=True), None, changes
            self._calls += 1
            return _Permit(self._generation, probe=False), None, changes

    def _advance(self) -> list[tuple[CircuitState, CircuitState]]:
        if (
            self._state is CircuitState.OPEN
            and self._clock() - self._opened_at >= self.recovery_timeout
        ):
            return [self._transition(CircuitState.HALF_OPEN)]
        return []

    def _transition(self, new: CircuitState) -> tuple[CircuitState, CircuitState]:
        old, self._state = self._state, new
        self._generation += 1
        self._changes += 1
        self._probes = self._probe_successes = 0
        if new is CircuitState.OPEN:
            self._opened += 1
            self._opened_at = self._clock()
        if new is CircuitState.CLOSED:
            self._consecutive = 0
            self._outcomes.clear()
        return old, new

    def _release(self, permit: _Permit) -> list[tuple[CircuitState, CircuitState]]:
        if permit.probe and permit.generation == self._generation:
            self._probes -= 1
        return []

    def _record(self, permit: _Permit, *, failed: bool) -> list[tuple[CircuitState, CircuitState]]:
        if failed:
            self._failures += 1
        else:
            self._successes += 1
        if permit.generation != self._generation:
            return []  # the call started before a transition; its outcome is stale
        if permit.probe:
            self._probes -= 1
            if failed:
                return [self._transition(CircuitState.OPEN)]
            self._probe_successes += 1
            if self._probe_successes >= self.half_open_max_calls:
                return [self._transition(CircuitState.CLOSED)]
            return []
        self._consecutive = self._consecutive + 1 if failed else 0
        if self._consecutive >= self.failure_threshold:
            return [self._transition(CircuitState.OPEN)]
        if self.failure_rate is not None:
            now = self._clock()
            self._outcomes.append((now, failed))
            while self._outcomes and now - self._outcomes[0][0] > self.window:
                self._outcomes.popleft()
            total = len(self._outcomes)
            failures = sum(1 for _, bad in self._outcomes if bad)
            if total >= self.min_calls and failures / total >= self.failure_rate:
                return [self._transition(CircuitState.OPEN)]
        return []

    # -- callbacks (called without the lock) ----------------------------------------------

    def _notify(self, changes: list[tuple[CircuitState, CircuitState]]) -> None:
        for old, new in changes:
            if self._diagnostics is not None:
                self._diagnostics.report(
                    f"circuit:{self.name}:{new.value}",
                    f"circuit {self.name!r} changed from {old.value} to {new.value}"
                    + (
                        f"; calls are refused for {self.recovery_timeout:g} s"
                        if new is CircuitState.OPEN
                        else ""
                    ),
                )
            if self._on_state_change is not None:
                try:
                    self._on_state_change(self, old, new)
                except Exception as exc:
                    # An observer's bug must not break the call it observes.
                    if self._diagnostics is not None:
                        self._diagnostics.report(
                            f"circuit:{self.name}:callback",
                            f"circuit {self.name!r}: on_state_change raised {exc!r}",
                        )


def _task_key() -> object:
    try:
        task = asyncio.current_task()
    except RuntimeError:  # no running event loop in this thread
        task = None
    return task if task is not None else threading.get_ident()
