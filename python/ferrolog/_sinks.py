"""Runner threads for sinks written in Python.

The native writer thread never touches Python: it offers each batch to a channel, and one
runner thread per Python sink takes it (waiting with the GIL released), calls the sink's
`write_batch(memoryview)` once for the whole batch, and answers whether it worked. So the GIL
is taken once per batch, never once per event. Sink methods may be plain functions or
coroutine functions; coroutines run on a private event loop owned by the runner thread.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from ferrolog._native import Pipeline

#: How long a runner waits for a batch before checking whether its sink needs a flush.
_POLL_SECONDS = 0.05


class _Caller:
    """Calls sink methods, running coroutines to completion on a private loop."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None

    def __call__(self, fn: Callable[..., Any] | None, *args: Any) -> Any:
        if fn is None:
            return None
        result = fn(*args)
        if inspect.isawaitable(result):
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
            return self._loop.run_until_complete(_as_coroutine(result))
        return result

    def close(self) -> None:
        if self._loop is not None:
            self._loop.close()


async def _as_coroutine(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


class _Sink(Protocol):
    def write_batch(self, batch: memoryview, /) -> object: ...


def _report(sink: object, what: str, exc: BaseException) -> None:
    # The pipeline counts the failure; this says which sink and why, once per failure.
    print(f"ferrolog: sink {type(sink).__name__}.{what} failed: {exc!r}", file=sys.stderr)


def _run(pipeline: Pipeline, index: int, sink: _Sink) -> None:
    call = _Caller()
    started = True
    try:
        call(getattr(sink, "start", None))
    except Exception as exc:
        started = False
        _report(sink, "start", exc)
    dirty = False
    try:
        while True:
            item = pipeline._take_batch(index, _POLL_SECONDS)
            if item is False:
                break
            if item is None:
                if dirty:
                    dirty = False
                    try:
                        call(getattr(sink, "flush", None))
                    except Exception as exc:
                        _report(sink, "flush", exc)
                continue
            batch_id, data = item
            ok = started
            if started:
                try:
                    call(sink.write_batch, memoryview(data))
                except Exception as exc:
                    ok = False
                    _report(sink, "write_batch", exc)
            pipeline._answer(index, batch_id, ok)
            dirty = True
    finally:
        for method in ("flush", "stop"):
            try:
                call(getattr(sink, method, None))
            except Exception as exc:
                _report(sink, method, exc)
        call.close()


def start_runner(pipeline: Pipeline, index: int, sink: _Sink) -> threading.Thread:
    """Start the runner thread of the Python sink at `index` of `pipeline`."""
    thread = threading.Thread(
        target=_run,
        args=(pipeline, index, sink),
        name=f"ferrolog-sink-{index}-{type(sink).__name__}",
        daemon=True,
    )
    thread.start()
    return thread
