"""The async container: isolated ferrolog instances with an async lifecycle and DI.

A `Container` owns everything one logging setup needs (settings, the native pipeline with
its ring and writer thread, loggers, user components). Two containers share nothing, and the
module keeps no state of its own: the only module global is the `ContextVar` that tracks the
resolution path of the current task, for cycle detection.

Concurrency model: ``get`` may be called from any task on any event loop in any thread. A
short ``threading.Lock`` guards the container's tables and is never held across an
``await``. The first caller of a singleton becomes its creator and records a
``concurrent.futures.Future`` for it; every other caller, whatever its loop, waits on that
future through its own loop (asyncio locks are loop-bound, so they cannot do this).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import inspect
import os
import threading
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Generator, Mapping
from types import TracebackType
from typing import Any, NamedTuple, TypeAlias, TypeVar, cast, final

from ferrolog import _pipeline
from ferrolog._native import Logger, Pipeline
from ferrolog.config import Settings
from ferrolog.typing import Factory, Finalizer, Scope, SettingsSource

__all__ = [
    "Container",
    "ContainerCloseError",
    "ContainerClosedError",
    "ContainerError",
    "DependencyCycleError",
    "PendingContainer",
    "RegistrationError",
    "ResolutionError",
    "SyncContainer",
]

_T = TypeVar("_T")

#: How long ``aclose()`` waits by default for components (the pipeline drain included).
DEFAULT_CLOSE_TIMEOUT = 5.0


class ContainerError(Exception):
    """Base class of the container's errors."""


class ResolutionError(ContainerError, LookupError):
    """A component could not be resolved: nothing is registered, or its creation failed."""


class DependencyCycleError(ResolutionError):
    """Factories depend on each other in a cycle; ``.cycle`` lists it, first key repeated."""

    def __init__(self, cycle: tuple[object, ...]) -> None:
        self.cycle = cycle
        path = " -> ".join(_name(key) for key in cycle)
        super().__init__(
            f"dependency cycle: {path}; break it by making one factory not need the other"
        )


class RegistrationError(ContainerError, ValueError):
    """A registration was refused (bad scope, or the singleton was already resolved)."""


class ContainerClosedError(ContainerError, RuntimeError):
    """The container was closed; create a new one."""


class ContainerCloseError(ContainerError):
    """One or more components failed to close; ``.errors`` holds each failure in close order.

    ``.components`` names the component of each error, at the same index.
    """

    def __init__(self, failures: list[tuple[object, BaseException]]) -> None:
        self.components = tuple(_name(key) for key, _ in failures)
        self.errors = tuple(error for _, error in failures)
        lines = [f"{len(failures)} component(s) failed to close:"]
        lines += [
            f"  {name}: {type(error).__name__}: {error}"
            for name, error in zip(self.components, self.errors, strict=True)
        ]
        super().__init__("\n".join(lines))


class _Resolution(NamedTuple):
    owner: object  # the container's identity token, never the container (no strong ref)
    path: tuple[object, ...]


# The resolution path of the current task within one container (cycle detection). Tasks
# copy it when they start, so concurrent requests never see each other's path.
_RESOLUTION: contextvars.ContextVar[_Resolution | None] = contextvars.ContextVar(
    "ferrolog_container_resolution", default=None
)


_Closer: TypeAlias = Callable[[Any, "float | None"], Awaitable[None]]


class _Registration(NamedTuple):
    factory: Factory[Any]
    scope: Scope
    close: _Closer


class _CreatorCancelled(Exception):
    """The task creating a singleton was cancelled; waiters retry (one becomes the creator)."""


class _Slot:
    """The creation record of one singleton: who creates it and the future of its value."""

    __slots__ = ("future", "key", "owner")

    def __init__(self, key: object, owner: asyncio.Task[Any] | None) -> None:
        self.key = key
        self.owner = owner
        self.future: concurrent.futures.Future[Any] = concurrent.futures.Future()


@final
class Container:
    """An isolated ferrolog instance: settings, pipeline, loggers and your components.

    Create it with ``await Container.create(settings)`` or ``async with
    Container.create(settings) as container``; resolve components with
    ``await container.get(T)``; close it with ``await container.aclose()``.
    """

    def __init__(self, settings: Settings) -> None:
        """Build a container for ``settings``; prefer `Container.create`, which also loads.

        Raises `UnsupportedSettingError` when the settings ask for what this build cannot do.
        Components are created lazily, on first ``get``, so overrides can be registered first.
        """
        _pipeline.check_supported(settings)
        self._settings = settings
        self._lock = threading.Lock()
        self._token = object()
        self._registrations: dict[object, _Registration] = {}
        self._slots: dict[object, _Slot] = {}
        self._waiting: dict[asyncio.Task[Any], tuple[_Slot, tuple[object, ...]]] = {}
        self._created: list[tuple[object, Any, _Closer]] = []
        self._closing: concurrent.futures.Future[None] | None = None
        self._registrations[Settings] = _Registration(_settings_factory, "singleton", _no_close)
        self._registrations[Pipeline] = _Registration(
            _pipeline_factory, "singleton", _close_pipeline
        )
        # The logger holds no resources of its own: closing the pipeline drains it.
        self._registrations[Logger] = _Registration(_logger_factory, "singleton", _no_close)

    @staticmethod
    def create(settings: SettingsSource = None) -> PendingContainer:
        """Return a container that starts when awaited or entered with ``async with``.

        ``settings`` is a `Settings`, a mapping of the same shape, a path to a TOML/JSON
        file (read without blocking the loop), or ``None`` for the environment over the
        defaults (JSON lines to stdout at INFO).
        """
        return PendingContainer(settings)

    @staticmethod
    def create_sync(settings: SettingsSource = None) -> SyncContainer:
        """Start a container for a program without an event loop (scripts, Django, WSGI).

        The container runs on a private event loop in a helper thread; use the result as a
        context manager, or call ``close()`` yourself.
        """
        return SyncContainer(settings)

    @property
    def settings(self) -> Settings:
        """The validated settings this container was built from."""
        return self._settings

    @property
    def closed(self) -> bool:
        """True once ``aclose()`` has started."""
        return self._closing is not None

    def register(
        self,
        key: type[_T],
        factory: Factory[_T],
        *,
        scope: Scope = "singleton",
        close: Finalizer[_T] | None = None,
    ) -> None:
        """Register (or override) how to build ``key``.

        ``factory`` is an async callable receiving this container; it awaits
        ``container.get(Dep)`` for its dependencies. ``scope="singleton"`` builds one instance
        per container, closed by ``aclose()``; ``scope="transient"`` builds a new one per
        ``get``, owned (and closed) by the caller. ``close`` closes a singleton; by default its
        ``aclose()`` or ``close()`` method is called when it has one (awaited if awaitable).

        A singleton can be overridden until its first ``get``; after that, ``register``
        raises `RegistrationError`, because parts of the program already hold the old
        instance. Transient registrations can be replaced at any time.
        """
        if scope not in ("singleton", "transient"):
            raise RegistrationError(f"scope must be 'singleton' or 'transient', not {scope!r}")
        if not callable(factory):
            raise TypeError(f"the factory for {_name(key)} must be an async callable")
        closer = _default_close if close is None else _user_close(close)
        with self._lock:
            self._ensure_open()
            if key in self._slots:
                raise RegistrationError(
                    f"{_name(key)} was already resolved in this container, so it can no longer "
                    f"be overridden; register overrides before the first get({_name(key)})"
                )
            self._registrations[key] = _Registration(factory, scope, closer)

    async def get(self, key: type[_T]) -> _T:
        """Return the component registered for ``key``, creating it (once, for a singleton).

        Safe from any task, loop or thread. Raises `ResolutionError` when nothing is
        registered, `DependencyCycleError` for a cycle, `ContainerClosedError` once closed,
        and whatever the factory raised when creation fails.
        """
        current = _RESOLUTION.get()
        path = current.path if current is not None and current.owner is self._token else ()
        if key in path:
            raise DependencyCycleError((*path[path.index(key) :], key))
        task = asyncio.current_task()
        while True:
            with self._lock:
                self._ensure_open()
                registration = self._registrations.get(key)
                if registration is None:
                    raise self._missing(key)
                if registration.scope == "transient":
                    slot = None
                    creator = True
                else:
                    slot = self._slots.get(key)
                    creator = slot is None
                    if slot is None:
                        slot = self._slots[key] = _Slot(key, task)
                    elif slot.future.done():
                        return cast(_T, slot.future.result())
                    else:
                        cycle = self._wait_cycle(slot, task, path)
                        if cycle is not None:
                            raise DependencyCycleError(cycle)
                        if task is not None:
                            self._waiting[task] = (slot, path)
            if creator:
                return cast(_T, await self._create(key, registration, path, slot))
            assert slot is not None
            try:
                return cast(_T, await _wait(slot.future))
            except _CreatorCancelled:
                continue  # the creator was cancelled: try again, maybe as the creator
            except ContainerClosedError:
                raise
            except Exception as exc:
                raise ResolutionError(f"creating {_name(key)} failed: {exc!r}") from exc
            finally:
                if task is not None:
                    with self._lock:
                        self._waiting.pop(task, None)

    async def aclose(self, timeout: float | None = DEFAULT_CLOSE_TIMEOUT) -> None:
        """Close every singleton in reverse creation order, within ``timeout`` seconds overall.

        The pipeline is drained (everything logged before is written or counted dropped)
        before its writer thread stops. Idempotent: later and concurrent calls wait for the
        first to finish and return. When closes fail, the others still run and one
        `ContainerCloseError` listing each failure is raised (to the first caller).
        """
        with self._lock:
            closing = self._closing
            if closing is None:
                done: concurrent.futures.Future[None] = concurrent.futures.Future()
                self._closing = done
                created = self._created[::-1]
                self._created.clear()
                self._slots.clear()
                self._registrations.clear()
        if closing is not None:
            await _wait(closing)
            return
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        failures: list[tuple[object, BaseException]] = []
        try:
            for key, instance, closer in created:
                remaining = None if deadline is None else max(0.0, deadline - loop.time())
                try:
                    await closer(instance, remaining)
                except Exception as exc:
                    failures.append((key, exc))
        finally:
            done.set_result(None)
        if failures:
            raise ContainerCloseError(failures)

    async def __aenter__(self) -> Container:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await _close_shielded(self)

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<ferrolog.Container {state} level={self._settings.level}>"

    # -- internals ---------------------------------------------------------------------

    async def _create(
        self,
        key: object,
        registration: _Registration,
        path: tuple[object, ...],
        slot: _Slot | None,
    ) -> object:
        token = _RESOLUTION.set(_Resolution(self._token, (*path, key)))
        try:
            awaitable = registration.factory(self)
            if not inspect.isawaitable(awaitable):
                raise TypeError(
                    f"the factory for {_name(key)} returned {type(awaitable).__name__}, not an "
                    "awaitable; factories are async callables receiving the container"
                )
            instance = await awaitable
            if isinstance(key, type) and not isinstance(instance, key):
                raise TypeError(
                    f"the factory for {_name(key)} returned a {type(instance).__name__}, "
                    f"not a {_name(key)}"
                )
        except BaseException as exc:
            if slot is not None:
                with self._lock:
                    if self._slots.get(key) is slot:
                        del self._slots[key]
                cancelled = isinstance(exc, asyncio.CancelledError)
                slot.future.set_exception(_CreatorCancelled() if cancelled else exc)
            raise
        finally:
            _RESOLUTION.reset(token)
        if slot is None:
            return instance
        with self._lock:
            closed = self._closing is not None
            if not closed:
                self._created.append((key, instance, registration.close))
        if closed:
            # aclose() ran while this factory was awaiting: nobody else will close it.
            error = ContainerClosedError(f"the container was closed while creating {_name(key)}")
            slot.future.set_exception(error)
            try:
                await registration.close(instance, DEFAULT_CLOSE_TIMEOUT)
            except Exception as close_error:
                raise error from close_error
            raise error
        slot.future.set_result(instance)
        return instance

    def _wait_cycle(
        self, slot: _Slot, task: asyncio.Task[Any] | None, path: tuple[object, ...]
    ) -> tuple[object, ...] | None:
        """Return the cycle if waiting on ``slot`` would wait, transitively, on this task."""
        chain: list[object] = [slot.key]
        seen: set[int] = set()
        current = slot
        while current.owner is not None and id(current) not in seen:
            seen.add(id(current))
            if current.owner is task:
                start = path.index(current.key) if current.key in path else len(path)
                return (*path[start:], *chain)
            waiting = self._waiting.get(current.owner)
            if waiting is None:
                return None
            current, owner_path = waiting
            if chain[-1] in owner_path:
                chain += owner_path[owner_path.index(chain[-1]) + 1 :]
            chain.append(current.key)
        return None

    def _ensure_open(self) -> None:
        if self._closing is not None:
            raise ContainerClosedError(
                "this ferrolog Container is closed; create a new one with Container.create()"
            )

    def _missing(self, key: object) -> ResolutionError:
        registered = ", ".join(sorted(_name(k) for k in self._registrations)) or "nothing"
        return ResolutionError(
            f"no component is registered for {_name(key)} (registered: {registered}); "
            f"register one with container.register({_name(key)}, factory)"
        )


@final
class PendingContainer:
    """A container being created: ``await`` it, or use it with ``async with``."""

    __slots__ = ("_container", "_settings")

    def __init__(self, settings: SettingsSource) -> None:
        self._settings = settings
        self._container: Container | None = None

    def __await__(self) -> Generator[Any, None, Container]:
        return self._start().__await__()

    async def __aenter__(self) -> Container:
        return await self._start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._container is not None:
            await _close_shielded(self._container)

    async def _start(self) -> Container:
        if self._container is None:
            self._container = Container(await _load_settings(self._settings))
        return self._container


@final
class SyncContainer:
    """A container for code without an event loop, run on a private loop in a helper thread.

    ``get_sync(T)`` resolves a component, ``close()`` closes the container and stops the
    thread; ``with Container.create_sync() as container:`` does the latter on exit.
    """

    def __init__(self, settings: SettingsSource = None) -> None:
        loop = asyncio.new_event_loop()
        thread = threading.Thread(
            target=_run_loop, args=(loop,), name="ferrolog-container", daemon=True
        )
        thread.start()
        self._loop = loop
        self._thread = thread
        self._lock = threading.Lock()
        # Stops the helper thread if the object is dropped without close().
        self._finalizer = weakref.finalize(self, _stop_loop, loop, thread)
        try:
            self._container = self._run(Container.create(settings)._start())
        except BaseException:
            self._finalizer()
            raise

    @property
    def container(self) -> Container:
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
        """Return the component registered for ``key``, blocking until it is created."""
        return self._run(self._container.get(key))

    def close(self, timeout: float | None = DEFAULT_CLOSE_TIMEOUT) -> None:
        """Close the container (see `Container.aclose`) and stop the helper thread."""
        with self._lock:
            if not self._finalizer.alive:
                return
            try:
                self._run(self._container.aclose(timeout))
            finally:
                self._finalizer()

    def __enter__(self) -> SyncContainer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("a SyncContainer cannot be used from its own event loop thread")
        if not self._finalizer.alive:
            coro.close()
            raise ContainerClosedError("this ferrolog SyncContainer is closed")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()


# -- helpers (module-level functions, no state) ------------------------------------------


def _name(key: object) -> str:
    return getattr(key, "__qualname__", None) or repr(key)


async def _settings_factory(container: Container) -> Settings:
    return container.settings


async def _pipeline_factory(container: Container) -> Pipeline:
    return _pipeline.build_pipeline(await container.get(Settings))


async def _logger_factory(container: Container) -> Logger:
    pipeline = await container.get(Pipeline)
    settings = await container.get(Settings)
    return pipeline.logger("app", settings.level)


async def _no_close(instance: object, timeout: float | None) -> None:
    return None


async def _close_pipeline(pipeline: Pipeline, timeout: float | None) -> None:
    # close() blocks while the writer drains; keep it off the event loop.
    if not await _in_thread(pipeline.close, timeout):
        raise TimeoutError(f"the pipeline did not drain within {timeout} s")


async def _in_thread(function: Callable[[float | None], _T], timeout: float | None) -> _T:
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

    thread = threading.Thread(target=run, name="ferrolog-close", daemon=True)
    thread.start()
    value = await result
    thread.join()  # it only has to return from run(): this takes microseconds
    return value


async def _default_close(instance: object, timeout: float | None) -> None:
    if isinstance(instance, Pipeline):
        await _close_pipeline(instance, timeout)
        return
    method = getattr(instance, "aclose", None)
    if not callable(method):
        method = getattr(instance, "close", None)
    if callable(method):
        result = method()
        if inspect.isawaitable(result):
            await asyncio.wait_for(_as_coroutine(result), timeout)


def _user_close(close: Finalizer[Any]) -> _Closer:
    async def closer(instance: object, timeout: float | None) -> None:
        result = close(instance)
        if inspect.isawaitable(result):
            await asyncio.wait_for(_as_coroutine(result), timeout)

    return closer


async def _as_coroutine(awaitable: Awaitable[object]) -> object:
    return await awaitable


async def _load_settings(source: SettingsSource) -> Settings:
    if isinstance(source, Settings):
        return source
    if source is None or isinstance(source, (str, os.PathLike)):
        return await Settings.load(source)
    if isinstance(source, Mapping):
        return Settings.from_mapping(source)
    raise TypeError(
        "settings must be a Settings, a mapping, a path to a TOML/JSON file or None, "
        f"not {type(source).__name__}"
    )


async def _wait(future: concurrent.futures.Future[_T]) -> _T:
    """Await a concurrent future from this loop; cancelling the wait leaves the future alone."""
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[_T] = loop.create_future()

    def relay(done: concurrent.futures.Future[_T]) -> None:
        def copy() -> None:
            if waiter.done():
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


async def _close_shielded(container: Container) -> None:
    """Run ``aclose()`` to completion even if the surrounding task is cancelled meanwhile."""
    closing = asyncio.ensure_future(container.aclose())
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


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    loop.run_forever()


def _stop_loop(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
    if loop.is_closed():
        return
    if threading.current_thread() is thread:  # dropped on its own loop: stop, cannot join
        loop.call_soon(loop.stop)
        return
    if thread.is_alive():
        try:
            asyncio.run_coroutine_threadsafe(loop.shutdown_default_executor(), loop).result()
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
    loop.close()
