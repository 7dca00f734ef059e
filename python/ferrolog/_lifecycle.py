"""Close and wait plumbing shared by the containers: closers, cross-loop waits, threads.

Nothing here knows what a container is: these are the pieces ``aclose()`` and ``get()`` are
built from, each safe under cancellation and across event loops.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import inspect
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeAlias, TypeVar, cast

from ferrolog._native import Pipeline
from ferrolog.typing import Finalizer

__all__ = [
    "DEFAULT_CLOSE_TIMEOUT",
    "NATIVE_MAX_TIMEOUT",
    "Closer",
    "close_all",
    "close_pipeline",
    "close_shielded",
    "default_close",
    "in_thread",
    "no_close",
    "user_close",
    "wait_future",
]

_T = TypeVar("_T")

#: How long ``aclose()`` waits by default for components (the pipeline drain included).
DEFAULT_CLOSE_TIMEOUT = 5.0
#: The longest single wait the native pipeline accepts (it clamps longer ones to this).
NATIVE_MAX_TIMEOUT = 86_400.0

#: Closes one component within a timeout in seconds (``None``: no limit).
Closer: TypeAlias = Callable[[Any, "float | None"], Awaitable[None]]


class _Closable(Protocol):
    async def aclose(self) -> None: ...


async def no_close(instance: object, timeout: float | None) -> None:
    """The closer of components that hold no resources of their own."""
    return


async def close_pipeline(pipeline: Pipeline, timeout: float | None) -> None:
    """Drain and stop ``pipeline`` off the event loop, within ``timeout`` (``None``: no limit).

    The native ``close`` abandons the backlog at its deadline and reads ``None`` as its 5 s
    default, so "no limit" first flushes until everything already emitted is settled (a
    flush that times out abandons nothing and is simply repeated), then closes with the
    longest deadline the native side accepts for what was logged meanwhile.
    """
    if timeout is None:
        while not pipeline.closed and not await in_thread(pipeline.flush, NATIVE_MAX_TIMEOUT):
            pass
        drained = await in_thread(pipeline.close, NATIVE_MAX_TIMEOUT)
    else:
        drained = await in_thread(pipeline.close, max(0.0, timeout))
    if not drained:
        limit = "the native maximum" if timeout is None else f"{timeout} s"
        raise TimeoutError(f"the pipeline did not drain within {limit}")


async def in_thread(function: Callable[[float], _T], timeout: float) -> _T:
    """Run a blocking call in a short-lived thread, joined when done.

    Unlike ``asyncio.to_thread`` this leaves no executor thread behind, so a closed
    container holds no thread at all.
    """
    loop = asyncio.get_running_loop()
    result: asyncio.Future[_T] = loop.create_future()

    def deliver(value: _T | None, error: BaseException | None) -> None:
        if result.done():
            return
        if error is not None:
            result.set_exception(error)
        else:
            result.set_result(cast(_T, value))

    def run() -> None:
        try:
            value, error = function(timeout), None
        except BaseException as exc:
            value, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop has closed meanwhile
            loop.call_soon_threadsafe(deliver, value, error)

    # The caller's context (request fields, error scopes) goes along, so that an error raised
    # on the thread carries it as it would on the loop.
    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(run,), name="ferrolog-close", daemon=True)
    thread.start()
    value = await result
    thread.join()  # it only has to return from run(): this takes microseconds
    return value


async def default_close(instance: object, timeout: float | None) -> None:
    """Close a component by its ``aclose()`` or ``close()`` method, when it has one."""
    if isinstance(instance, Pipeline):
        await close_pipeline(instance, timeout)
        return
    method = getattr(instance, "aclose", None)
    if not callable(method):
        method = getattr(instance, "close", None)
    if callable(method):
        result = method()
        if inspect.isawaitable(result):
            await asyncio.wait_for(_as_coroutine(result), timeout)


def user_close(close: Finalizer[Any]) -> Closer:
    """Wrap a user's finalizer (sync or async) as a `Closer`."""

    async def closer(instance: object, timeout: float | None) -> None:
        result = close(instance)
        if inspect.isawaitable(result):
            await asyncio.wait_for(_as_coroutine(result), timeout)

    return closer


async def _as_coroutine(awaitable: Awaitable[object]) -> object:
    return await awaitable


async def close_all(
    components: list[tuple[object, Any, Closer]], timeout: float | None
) -> list[tuple[object, BaseException]]:
    """Close ``components`` in order within ``timeout`` seconds overall; return the failures.

    ``components`` is consumed from the front as each close finishes. A close that is
    cancelled (its loop shutting down) is recorded as a failure like any other, and the
    remaining components are still closed: nothing is left open because one close stopped.
    """
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    failures: list[tuple[object, BaseException]] = []
    while components:
        key, instance, closer = components.pop(0)
        remaining = None if deadline is None else max(0.0, deadline - loop.time())
        try:
            await closer(instance, remaining)
        except (Exception, asyncio.CancelledError) as exc:
            failures.append((key, exc))
    return failures


async def wait_future(future: concurrent.futures.Future[_T]) -> _T:
    """Await a concurrent future from this loop; cancelling the wait leaves the future alone."""
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[_T] = loop.create_future()

    def relay(done: concurrent.futures.Future[_T]) -> None:
        def copy() -> None:
            if waiter.done():
                return
            if done.cancelled():
                waiter.cancel()
                return
            error = done.exception()
            if error is not None:
                waiter.set_exception(error)
            else:
                waiter.set_result(done.result())

        # RuntimeError: the waiting loop has closed; nobody is left to tell.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(copy)

    future.add_done_callback(relay)
    return await waiter


async def close_shielded(target: _Closable) -> None:
    """Run ``target.aclose()`` to completion even if the surrounding task is cancelled meanwhile."""
    closing = asyncio.ensure_future(target.aclose())
    cancelled = False
    while True:
        try:
            await asyncio.shield(closing)
            break
        except asyncio.CancelledError:
            if closing.done():
                break
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError from closing.exception()
