"""`SyncContainer`: a container for code without an event loop (scripts, Django, WSGI).

The async container runs on a private event loop in a helper thread; each blocking call
submits a coroutine there and waits for it. This module knows the container only through
the `AsyncContainer` protocol, so it imports nothing that imports it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from types import TracebackType
from typing import Any, Protocol, TypeVar, final

from ferrolog._container_errors import ContainerClosedError
from ferrolog._lifecycle import DEFAULT_CLOSE_TIMEOUT
from ferrolog.config import Settings
from ferrolog.typing import Factory, Finalizer, Scope

__all__ = ["AsyncContainer", "SyncContainer"]

_T = TypeVar("_T")


class AsyncContainer(Protocol):
    """What a `SyncContainer` drives: the async container's public surface."""

    @property
    def settings(self) -> Settings: ...
    @property
    def closed(self) -> bool: ...
    def register(
        self,
        key: type[_T],
        factory: Factory[_T],
        *,
        scope: Scope = ...,
        close: Finalizer[_T] | None = ...,
    ) -> None: ...
    async def get(self, key: type[_T]) -> _T: ...
    async def aclose(self, timeout: float | None = ...) -> None: ...
    def set_level(self, name: str | None, level: int | str | None) -> None: ...
    def reset_levels(self) -> None: ...


@final
class SyncContainer:
    """A container for code without an event loop, run on a private loop in a helper thread.

    Build it with ``Container.create_sync(settings)``. ``get_sync(T)`` resolves a component,
    ``close()`` closes the container and stops the thread; ``with Container.create_sync() as
    container:`` does the latter on exit. A ``get_sync`` that races ``close()`` raises
    `ContainerClosedError`; it never hangs on the stopped loop.
    """

    def __init__(self, start: Callable[[], Awaitable[AsyncContainer]]) -> None:
        """Start the helper thread and, on it, the container that ``start()`` creates."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(
            target=_run_loop, args=(loop,), name="ferrolog-container", daemon=True
        )
        thread.start()
        self._loop = loop
        self._thread = thread
        # The process the helper thread runs in: a forked child has no such thread (see
        # `_after_fork`). `_fork_lock` is taken only in a child, never in this process.
        self._pid = os.getpid()
        self._fork_lock = threading.Lock()
        self._close_lock = threading.Lock()
        # Guards submissions against the loop's stop: once `_stopping` is set under it, no
        # coroutine reaches the loop, and every one submitted before is settled by the stop.
        self._submit_lock = threading.Lock()
        self._stopping = False
        # Stops the helper thread if the object is dropped without close().
        self._finalizer = weakref.finalize(self, _stop_loop, loop, thread)
        try:
            self._container = self._run(_awaited(start))
        except BaseException:
            self._stop()
            raise

    @property
    def container(self) -> AsyncContainer:
        """The underlying async container (its ``get`` works from any event loop too)."""
        return self._container

    @property
    def closed(self) -> bool:
        """True once ``close()`` has started."""
        return self._container.closed

    def register(
        self,
        key: type[_T],
        factory: Factory[_T],
        *,
        scope: Scope = "singleton",
        close: Finalizer[_T] | None = None,
    ) -> None:
        """Register (or override) a component; see `Container.register`."""
        self._container.register(key, factory, scope=scope, close=close)

    def get_sync(self, key: type[_T]) -> _T:
        """Return the component registered for ``key``, blocking until it is created.

        Raises `ContainerClosedError` once the container is closed, also when ``close()``
        runs while this call waits.
        """
        return self._run(self._container.get(key))

    def set_level(self, name: str | None, level: int | str | None) -> None:
        """Set (or with ``None`` forget) the level of the loggers named ``name`` or below it,
        at once on every existing logger (see `Container.set_level`)."""
        self._container.set_level(name, level)

    def reset_levels(self) -> None:
        """Forget every level set with `set_level`."""
        self._container.reset_levels()

    def close(self, timeout: float | None = DEFAULT_CLOSE_TIMEOUT) -> None:
        """Close the container (see `Container.aclose`) and stop the helper thread."""
        self._check_fork()
        with self._close_lock:
            if not self._finalizer.alive:
                return
            try:
                self._run(self._container.aclose(timeout))
            finally:
                self._stop()

    def __enter__(self) -> SyncContainer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _stop(self) -> None:
        with self._submit_lock:
            self._stopping = True
        self._finalizer()

    def _check_fork(self) -> None:
        if self._pid != os.getpid():
            with self._fork_lock:
                if self._pid != os.getpid():
                    self._after_fork()

    def _after_fork(self) -> None:
        """In a forked child (e.g. a pre-fork server's worker, the container made before the
        fork): the helper thread did not survive the fork, so the inherited loop can never
        run again and every call would wait for it forever. Start a new loop and thread for
        this process; the inherited loop is left alone (it still looks running: it cannot be
        closed here). Locks a parent thread may have held at the fork are replaced."""
        self._close_lock = threading.Lock()
        self._submit_lock = threading.Lock()
        self._pid = os.getpid()
        if not self._finalizer.alive:  # closed before the fork
            return
        self._finalizer.detach()
        loop = asyncio.new_event_loop()
        thread = threading.Thread(
            target=_run_loop, args=(loop,), name="ferrolog-container", daemon=True
        )
        thread.start()
        self._loop = loop
        self._thread = thread
        self._finalizer = weakref.finalize(self, _stop_loop, loop, thread)

    def _run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        self._check_fork()
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("a SyncContainer cannot be used from its own event loop thread")
        with self._submit_lock:
            if self._stopping or not self._finalizer.alive:
                coro.close()
                raise ContainerClosedError("this ferrolog SyncContainer is closed")
            future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            # The loop stopped under this call: `_stop_loop` cancelled it.
            raise ContainerClosedError(
                "this ferrolog SyncContainer was closed while the call waited"
            ) from None


async def _awaited(start: Callable[[], Awaitable[AsyncContainer]]) -> AsyncContainer:
    return await start()


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    loop.run_forever()


async def _cancel_pending() -> None:
    """Cancel every other task on this loop and wait for them, so no caller waits forever."""
    current = asyncio.current_task()
    pending = [task for task in asyncio.all_tasks() if task is not current]
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


def _stop_loop(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
    if loop.is_closed():
        return
    if threading.current_thread() is thread:  # dropped on its own loop: stop, cannot join
        loop.call_soon(loop.stop)
        return
    if thread.is_alive():
        try:
            asyncio.run_coroutine_threadsafe(_cancel_pending(), loop).result()
            asyncio.run_coroutine_threadsafe(loop.shutdown_default_executor(), loop).result()
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
    loop.close()
