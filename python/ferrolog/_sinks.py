"""Runner threads for sinks written in Python, each isolated from the others.

The native writer thread never touches Python: it offers each batch to a channel, and one
runner thread per pipeline takes it (waiting with the GIL released) and hands it to every
Python sink's own worker thread through that sink's own bounded queue, without waiting. So the
GIL is taken once per batch, never once per event, and a slow or hung Python sink never slows
the native sinks, the other Python sinks or the callers: its queue fills, and what does not
fit is counted as its overflow and goes to the pipeline's fallback sink.

A batch is settled (counted as written) once every Python sink wrote it. A sink that raises,
returns a failed awaitable, or does not return within its timeout fails the batch, which then
goes to the fallback sink (standard error by default; see ``Settings.fallback``) instead of
being lost. Failures are reported through a rate-limited diagnostics channel on standard
error, with the sink's name, never through the pipeline itself. After repeated failures the
sink's circuit breaker opens and the sink gets no batches (they go to the fallback) until a
probe after the recovery timeout succeeds.

Sink methods may be plain or coroutine functions. Coroutines run on the worker thread's own
event loop, or, for a sink whose class sets ``use_app_loop = True`` (a client bound to the
application's loop), on the event loop that was running when the pipeline was created.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from ferrolog._circuit import CircuitBreaker, CircuitOpenError, CircuitState
from ferrolog._diagnostics import Diagnostics
from ferrolog._native import Batch, Router, SinkChannel
from ferrolog.typing import PythonSink

__all__ = ["Runner", "start_runner"]

#: How long a runner waits for a batch before looking at its workers again.
_POLL_SECONDS = 0.05
#: Bytes of batches one Python sink may have waiting, unless the sink sets ``queue_bytes``;
#: a batch that does not fit is its overflow (a batch always fits an empty queue).
QUEUE_BYTES = 4 << 20
#: How long a sink call may take, unless the sink sets ``timeout`` (seconds).
DEFAULT_TIMEOUT = 10.0
#: Failed batches in a row that disable a sink, and how long it stays disabled before a probe.
FAILURE_THRESHOLD = 3
RECOVERY_TIMEOUT = 30.0
#: Seconds between two reports of the same kind about the same sink.
REPORT_INTERVAL = 60.0


def sink_name(sink: object) -> str:
    """A sink's name for reports: its ``name`` attribute when that is a str, else its class."""
    name = getattr(sink, "name", None)
    return name if isinstance(name, str) and name else type(sink).__name__


def _sink_queue_bytes(sink: object) -> int:
    value = getattr(sink, "queue_bytes", None)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return QUEUE_BYTES


def _sink_timeout(sink: object) -> float:
    value = getattr(sink, "timeout", None)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 86400:
        return float(value)
    return DEFAULT_TIMEOUT


class _Caller:
    """Calls sink methods, running coroutines to completion on a private loop, or on the
    application's loop for sinks that ask for it, at most ``timeout`` seconds."""

    def __init__(self, app_loop: asyncio.AbstractEventLoop | None) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._app_loop = app_loop

    def __call__(self, fn: Callable[..., Any] | None, timeout: float, *args: Any) -> Any:
        if fn is None:
            return None
        result = fn(*args)
        if not inspect.isawaitable(result):
            return result
        if self._app_loop is not None:
            if self._app_loop.is_closed():
                _close_awaitable(result)
                raise RuntimeError("the application's event loop is closed")
            future = asyncio.run_coroutine_threadsafe(_as_coroutine(result), self._app_loop)
            try:
                return future.result(timeout)
            except BaseException:
                future.cancel()
                raise
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(asyncio.wait_for(_as_coroutine(result), timeout))

    def close(self) -> None:
        if self._loop is not None:
            self._loop.close()


def _close_awaitable(awaitable: Awaitable[Any]) -> None:
    close = getattr(awaitable, "close", None)
    if callable(close):
        close()


async def _as_coroutine(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


class _Share:
    """One channel batch, shared by the Python sinks: settled when the last one is done with
    it, as written only if every sink wrote it (else the pipeline reroutes it)."""

    __slots__ = ("_batch", "_left", "_lock", "_ok", "records", "view")

    def __init__(self, batch: Batch, sinks: int) -> None:
        self._batch: Batch | None = batch
        self.view = memoryview(batch.data)
        self.records = batch.records
        self._left = sinks
        self._ok = True
        self._lock = threading.Lock()

    def done(self, ok: bool) -> None:
        with self._lock:
            self._ok &= ok
            self._left -= 1
            if self._left:
                return
            batch, self._batch = self._batch, None
        if batch is not None:
            batch.settle(self._ok)


class _Flush:
    __slots__ = ("event",)

    def __init__(self) -> None:
        self.event = threading.Event()


class _Stop:
    """Queued last: the worker flushes and stops its sink, then exits."""

    __slots__ = ()


class _Worker:
    """One Python sink, on its own thread, fed through its own bounded queue."""

    def __init__(
        self,
        sink: PythonSink,
        index: int,
        diagnostics: Diagnostics,
        app_loop: asyncio.AbstractEventLoop | None,
        route: Router | None = None,
    ) -> None:
        self.sink = sink
        self._route = route
        self.name = sink_name(sink)
        self.timeout = _sink_timeout(sink)
        self._diagnostics = diagnostics
        self._caller = _Caller(app_loop if getattr(sink, "use_app_loop", False) else None)
        self._backpressure = getattr(sink, "backpressure", False) is True
        self._limit = _sink_queue_bytes(sink)
        self._queued = 0  # bytes of the batches in the queue
        self._cv = threading.Condition()
        self._queue: deque[object] = deque()
        # (monotonic start, share or None) of the call in progress; `_given_up` once the
        # watchdog settled its share for it.
        self._busy: tuple[float, _Share | None] | None = None
        self._given_up = False
        self.start_failed = False
        self.breaker = CircuitBreaker(
            FAILURE_THRESHOLD,
            RECOVERY_TIMEOUT,
            1,
            name=f"sink {self.name}",
            diagnostics=diagnostics,
        )
        self.batches = self.failures = self.overflow = self.timeouts = self.missed = 0
        self.thread = threading.Thread(
            target=self._run, name=f"ferrolog-sink-{index}-{self.name}", daemon=True
        )

    # -- runner side -----------------------------------------------------------------------

    def offer(self, share: _Share) -> None:
        """Queue ``share`` for this sink without waiting; settle its part as failed when the
        sink cannot take it (not started, hung, disabled, or its queue is full).

        A sink whose class sets ``backpressure = True`` must see every event: when its queue
        is full the runner waits for it (so the ring fills, and the pipeline's overflow policy
        applies to the callers), unless it hangs past its timeout."""
        with self._cv:
            while self._backpressure and not self._fits(share):
                if self.start_failed or self._hung(time.monotonic()):
                    break
                if not self.thread.is_alive():
                    break
                self._cv.wait(_POLL_SECONDS)
            refused = self._refusal(share)
            if refused is None:
                self._queued += len(share.view)
                self._queue.append(share)
                self._cv.notify()
                return
            self.missed += share.records
            if refused == "overflow":
                self.overflow += 1
        share.done(False)

    def _refusal(self, share: _Share) -> str | None:
        if self.start_failed:
            return "not started"
        if self._hung(time.monotonic()):
            return "hung"
        if self.breaker.state is CircuitState.OPEN:
            return "disabled"
        if not self._fits(share):
            self._report(
                "overflow",
                f"its queue of {self._limit} bytes is full; what does not fit goes to the "
                "fallback sink (counted in its overflow)",
            )
            return "overflow"
        return None

    def _fits(self, share: _Share) -> bool:
        return self._queued == 0 or self._queued + len(share.view) <= self._limit

    def _hung(self, now: float) -> bool:
        return self._busy is not None and now - self._busy[0] > self.timeout

    def watch(self, now: float) -> None:
        """Give up on a call that outlived the sink's timeout: settle its batch, and the
        batches queued behind it (which would wait for it too), as failed now (the pipeline
        reroutes them), and count them."""
        with self._cv:
            if self._busy is None or self._given_up or not self._hung(now):
                return
            self._given_up = True
            self.timeouts += 1
            busy = self._busy[1]
            settle = [] if busy is None else [busy]
            settle += [item for item in self._queue if isinstance(item, _Share)]
            if len(settle) > (busy is not None):
                kept = [item for item in self._queue if not isinstance(item, _Share)]
                self._queue.clear()
                self._queue.extend(kept)
                self._queued = 0
                self._cv.notify_all()  # an offer waiting for room (backpressure) sees it now
            self.missed += sum(share.records for share in settle)
        self._report(
            "timeout",
            f"a call did not return within {self.timeout:g} s; its batches go to the "
            "fallback sink while it hangs",
        )
        for share in settle:
            share.done(False)

    def request_flush(self) -> threading.Event | None:
        """Queue a flush after the batches queued so far; None when this sink cannot flush."""
        with self._cv:
            if self.start_failed or self._hung(time.monotonic()) or not self.thread.is_alive():
                return None
            marker = _Flush()
            self._queue.append(marker)
            self._cv.notify()
            return marker.event

    def can_finish(self) -> bool:
        with self._cv:
            return self.thread.is_alive() and not self._hung(time.monotonic())

    def stop(self) -> None:
        with self._cv:
            self._queue.append(_Stop())
            self._cv.notify()

    def abandon(self) -> int:
        """After the worker did not stop in time: settle what is still queued as failed.
        Returns the number of events it could not deliver."""
        with self._cv:
            left = [item for item in self._queue if isinstance(item, _Share)]
            self._queue.clear()
            self._queued = 0
            busy = self._busy[1] if self._busy is not None and not self._given_up else None
            self._given_up = True
        if busy is not None:
            left.append(busy)
        lost = sum(share.records for share in left)
        with self._cv:
            self.missed += lost
        for share in left:
            share.done(False)
        return lost

    def health(self) -> dict[str, Any]:
        with self._cv:
            hung = self._hung(time.monotonic())
            return {
                "name": self.name,
                "kind": "python",
                "failing": hung
                or self.start_failed
                or self.breaker.state is not CircuitState.CLOSED,
                "state": "not started"
                if self.start_failed
                else "hung"
                if hung
                else self.breaker.state.value,
                "batches": self.batches,
                "errors": self.failures + self.timeouts,
                "timeouts": self.timeouts,
                "overflow": self.overflow,
                "missed": self.missed,
                "queued_bytes": self._queued,
            }

    def _report(self, what: str, message: str) -> None:
        self._diagnostics.report(f"sink:{self.name}:{what}", f"sink {self.name}: {message}")

    # -- worker thread ---------------------------------------------------------------------

    def _call(self, method: str, share: _Share | None, *args: Any) -> None:
        with self._cv:
            self._busy = (time.monotonic(), share)
            self._given_up = False
        try:
            self._caller(getattr(self.sink, method, None), self.timeout, *args)
        finally:
            with self._cv:
                self._busy = None

    def _run(self) -> None:
        try:
            self._call("start", None)
        except Exception as exc:
            self.start_failed = True
            self._report(
                "start",
                f"start() failed ({exc!r}); it gets no events (they go to the fallback sink)",
            )
        dirty = False
        try:
            while True:
                with self._cv:
                    if not self._queue:
                        # Idle: sleep until offered something; after writing, wake once more
                        # after a pause to flush the sink.
                        self._cv.wait(_POLL_SECONDS if dirty else None)
                    item = self._queue.popleft() if self._queue else None
                    if isinstance(item, _Share):
                        self._queued -= len(item.view)
                        if self._backpressure:
                            self._cv.notify_all()
                if item is None:
                    if dirty and not self.start_failed:
                        dirty = False
                        self._safe("flush")
                    continue
                if isinstance(item, _Stop):
                    break
                if isinstance(item, _Flush):
                    dirty = False
                    if not self.start_failed:
                        self._safe("flush")
                    item.event.set()
                    continue
                assert isinstance(item, _Share)
                self._write(item)
                dirty = True
        finally:
            if not self.start_failed:
                self._safe("flush")
                self._safe("stop")
            self._caller.close()

    def _write(self, share: _Share) -> None:
        if self.start_failed:
            with self._cv:
                self.missed += share.records
            share.done(False)
            return
        view = share.view
        if self._route is not None:
            # Only the lines this sink's route takes (`min_level`, `max_level`, `loggers`).
            selected = self._route.select(view.obj)  # type: ignore[arg-type]
            if not selected:
                share.done(True)
                return
            view = memoryview(selected)
        ok = False
        try:
            with self.breaker:
                self._call("write_batch", share, view)
                with self._cv:
                    if self._given_up:  # it returned, but after its timeout
                        raise TimeoutError(
                            "write_batch returned after it was given up (past its timeout of "
                            f"{self.timeout:g} s, or at the close deadline)"
                        )
            ok = True
            self.batches += 1
        except CircuitOpenError:
            pass
        except Exception as exc:
            self.failures += 1
            if not isinstance(exc, TimeoutError) or self.timeouts == 0:
                self._report(
                    "write_batch",
                    f"write_batch failed ({exc!r}); the batch goes to the fallback sink",
                )
        with self._cv:
            given_up = self._given_up
            if not ok and not given_up:
                self.missed += share.records
        if not given_up:
            share.done(ok)

    def _safe(self, method: str) -> None:
        try:
            self._call(method, None)
        except Exception as exc:
            self.failures += 1
            self._report(method, f"{method}() failed: {exc!r}")


class Runner:
    """The thread that takes each batch from the channel and offers it to every Python sink's
    worker; it also serves flush requests and watches for hung sinks."""

    def __init__(
        self,
        channel: SinkChannel,
        sinks: list[PythonSink],
        app_loop: asyncio.AbstractEventLoop | None,
        routes: list[Router | None] | None = None,
    ) -> None:
        self._channel = channel
        self.diagnostics = Diagnostics(interval=REPORT_INTERVAL)
        routes = routes if routes is not None else [None] * len(sinks)
        self.workers = [
            _Worker(sink, index, self.diagnostics, app_loop, route)
            for index, (sink, route) in enumerate(zip(sinks, routes, strict=True))
        ]
        names = "+".join(w.name for w in self.workers)
        # When the pipeline's close must be done (monotonic), set by `join`.
        self._close_by: float | None = None
        self._thread = threading.Thread(
            target=self._run, name=f"ferrolog-sinks-{names}", daemon=True
        )

    def start(self) -> None:
        for worker in self.workers:
            worker.thread.start()
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the runner (and so every worker) to finish, at most ``timeout`` seconds.

        With a ``timeout`` (the pipeline's close deadline), a worker still busy when it is
        nearly up is abandoned then, not only after its sink's own timeout: what it could not
        deliver is settled (and so counted) before the close returns."""
        if timeout is not None:
            self._close_by = time.monotonic() + max(timeout - 2 * _POLL_SECONDS, 0.0)
        self._thread.join(timeout)

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def sink_health(self) -> list[dict[str, Any]]:
        """Each Python sink's state and counters."""
        return [worker.health() for worker in self.workers]

    def _run(self) -> None:
        channel = self._channel
        try:
            while True:
                now = time.monotonic()
                for worker in self.workers:
                    worker.watch(now)
                batch = channel.take_batch(_POLL_SECONDS)
                if batch is False:
                    break
                if batch is None:
                    wanted = channel.pending_flush()
                    if wanted is not None:
                        self._flush()
                        channel.flushed(wanted)
                    continue
                share = _Share(batch, len(self.workers))
                del batch
                for worker in self.workers:
                    worker.offer(share)
                del share
        finally:
            self._stop()
            channel.runner_exited()

    def _flush(self) -> None:
        """Every sink that can flushes after the batches it has: wait for each, but not for a
        sink that hangs (the flush's own deadline bounds the wait in the end)."""
        pending = [(w, w.request_flush()) for w in self.workers]
        for worker, event in pending:
            while event is not None and not event.wait(_POLL_SECONDS):
                worker.watch(time.monotonic())
                if not worker.can_finish():
                    break

    def _stop(self) -> None:
        """Let every worker write what it has, flush and stop; a worker that does not finish
        within its timeout is abandoned, and what it could not write goes to the fallback."""
        for worker in self.workers:
            worker.stop()
        for worker in self.workers:
            deadline = time.monotonic() + worker.timeout
            while worker.thread.is_alive():
                close_by = self._close_by
                now = time.monotonic()
                if now >= deadline or (close_by is not None and now >= close_by):
                    break
                worker.thread.join(_POLL_SECONDS)
                worker.watch(time.monotonic())
                if not worker.can_finish():
                    break
            if worker.thread.is_alive():
                worker.abandon()
                self.diagnostics.report(
                    f"sink:{worker.name}:shutdown",
                    f"sink {worker.name} did not finish in time at close; {worker.missed} "
                    "event(s) in all were not delivered to it (they went to the fallback sink "
                    "while it was open, and count as dropped after that)",
                )


def start_runner(
    channel: SinkChannel, sinks: list[PythonSink], routes: list[Router | None] | None = None
) -> Runner:
    """Start the threads that hand each batch from `channel` to the Python `sinks`.

    Called by the native pipeline as it starts. The event loop running then, if any, is the
    one that sinks with ``use_app_loop = True`` run their coroutines on.
    """
    try:
        app_loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        app_loop = None
    runner = Runner(channel, list(sinks), app_loop, routes)
    runner.start()
    return runner
