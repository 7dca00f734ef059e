"""Runner threads for sinks written in Python.

The native writer thread never touches Python: it offers each batch to a channel, and one
runner thread per pipeline takes it (waiting with the GIL released), calls each Python sink's
`write_batch(memoryview)` once for the whole batch, and settles it: written only if every sink
took it. So the GIL
is taken once per batch, never once per event. Sink methods may be plain functions or
coroutine functions; coroutines run on a private event loop owned by the runner thread.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from ferrolog._native import SinkChannel
from ferrolog.typing import PythonSink

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


def _report(sink: object, what: str, exc: BaseException) -> None:
    # The pipeline counts the failure; this says which sink and why.
    print(f"ferrolog: sink {type(sink).__name__}.{what} failed: {exc!r}", file=sys.stderr)


def _call_each(call: _Caller, sinks: list[PythonSink], method: str) -> None:
    for sink in sinks:
        try:
            call(getattr(sink, method, None))
        except Exception as exc:
            _report(sink, method, exc)


def _run(channel: SinkChannel, sinks: list[PythonSink]) -> None:
    call = _Caller()
    started: list[PythonSink] = []
    for sink in sinks:
        try:
            call(getattr(sink, "start", None))
            started.append(sink)
        except Exception as exc:
            _report(sink, "start", exc)
    dirty = False
    try:
        while True:
            # The channel holds the pipeline weakly: a forgotten pipeline is still collected,
            # which closes it and ends this loop.
            batch = channel.take_batch(_POLL_SECONDS)
            if batch is False:
                break
            if batch is None:
                wanted = channel.pending_flush()
                if wanted is not None or dirty:
                    dirty = False
                    _call_each(call, started, "flush")
                if wanted is not None:
                    channel.flushed(wanted)
                continue
            ok = len(started) == len(sinks)
            view = memoryview(batch.data)
            for sink in started:
                try:
                    call(sink.write_batch, view)
                except Exception as exc:
                    ok = False
                    _report(sink, "write_batch", exc)
            batch.settle(ok)
            del batch, view
            dirty = True
    finally:
        _call_each(call, started, "flush")
        _call_each(call, started, "stop")
        call.close()
        channel.runner_exited()


def start_runner(channel: SinkChannel, sinks: list[PythonSink]) -> threading.Thread:
    """Start the thread that hands each batch from `channel` to the Python `sinks`."""
    names = "+".join(type(sink).__name__ for sink in sinks)
    thread = threading.Thread(
        target=_run,
        args=(channel, list(sinks)),
        name=f"ferrolog-sinks-{names}",
        daemon=True,
    )
    thread.start()
    return thread
