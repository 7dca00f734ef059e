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

Lifecycle: ``create()`` loads the settings and checks, before any component exists, that
this build can honour them and that every sink can start, so a bad configuration fails
there and not at the first ``get``. ``aclose()`` closes components in a task of its own.

The pieces live in their own modules, each importing only modules below it:
`ferrolog._container_errors` (the errors), `ferrolog._lifecycle` (closers and cross-loop
waits) and `ferrolog._sync` (`SyncContainer`, for code without an event loop).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import inspect
import os
import threading
import uuid
from collections.abc import Callable, Generator, Mapping
from types import TracebackType
from typing import Any, NamedTuple, TextIO, TypeVar, cast, final

from ferrolog._capture import CAPTURE
from ferrolog._checks import check_startup
from ferrolog._container_errors import (
    ContainerClosedError,
    ContainerCloseError,
    ContainerError,
    DependencyCycleError,
    RegistrationError,
    ResolutionError,
)
from ferrolog._container_errors import component_name as _name
from ferrolog._diagnostics import Diagnostics, NullStream
from ferrolog._hierarchy import error_context
from ferrolog._lifecycle import (
    DEFAULT_CLOSE_TIMEOUT,
    Closer,
    close_all,
    close_pipeline,
    close_shielded,
    default_close,
    in_thread,
    no_close,
    user_close,
    wait_future,
)
from ferrolog._native import Logger, Pipeline
from ferrolog._pipeline import build_pipeline, check_supported
from ferrolog._runtime_levels import RuntimeLevels
from ferrolog._sync import SyncContainer
from ferrolog.audit import AuditTrail, error_record
from ferrolog.compliance import check as check_compliance
from ferrolog.config import NullSink, Settings
from ferrolog.observability import MetricsReporter, resolve_callback
from ferrolog.registry import PluginRegistry
from ferrolog.typing import Factory, Finalizer, Scope, SettingsSource

__all__ = [
    "DEFAULT_CLOSE_TIMEOUT",
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


class _Resolution(NamedTuple):
    owner: object  # the container's identity token, never the container (no strong ref)
    path: tuple[object, ...]


# The resolution path of the current task within one container (cycle detection). Tasks
# copy it when they start, so concurrent requests never see each other's path.
_RESOLUTION: contextvars.ContextVar[_Resolution | None] = contextvars.ContextVar(
    "ferrolog_container_resolution", default=None
)


class _Registration(NamedTuple):
    factory: Factory[Any]
    scope: Scope
    close: Closer


class _CreatorCancelled(ContainerError):
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
        """Build a container for ``settings``; prefer `Container.create`, which also loads
        the settings and checks that every configured sink can start.

        Raises `UnsupportedSettingError` when the settings ask for what this build cannot do.
        Components are created lazily, on first ``get``, so overrides can be registered first.
        """
        check_supported(settings)
        # Settings built without __init__ (model_validate, model_copy) are checked here too.
        check_compliance(settings)
        self._settings = settings
        # Created inside ferrolog.testing.capture_logs(): log there instead.
        self._capture = CAPTURE.get()
        self._id = uuid.uuid4().hex[:12]
        self._diagnostics = Diagnostics(
            cast("TextIO", NullStream()) if settings.diagnostics.stream == "none" else None,
            interval=settings.diagnostics.interval,
        )
        # Opened at first need (`Container.create` asks for it at once) when ``audit.path``
        # is set; closed by aclose() itself, last, after close failures are recorded in it.
        self._audit: AuditTrail | None = None
        self._lock = threading.Lock()
        self._token = object()
        self._registrations: dict[object, _Registration] = {}
        self._slots: dict[object, _Slot] = {}
        self._waiting: dict[asyncio.Task[Any], tuple[_Slot, tuple[object, ...]]] = {}
        self._created: list[tuple[object, Any, Closer]] = []
        # Set once by the first aclose(): its result is the list of close failures.
        self._closing: concurrent.futures.Future[list[tuple[object, BaseException]]] | None = None
        self._close_task: asyncio.Future[None] | None = None
        self._close_owner_waiting = False
        self._close_reported = False
        self._runtime_levels = RuntimeLevels(settings.levels)
        self._registrations[Settings] = _Registration(_settings_factory, "singleton", no_close)
        self._registrations[Pipeline] = _Registration(
            _pipeline_factory, "singleton", _close_pipeline_component
        )
        # The logger holds no resources of its own: closing the pipeline drains it.
        self._registrations[Logger] = _Registration(_logger_factory, "singleton", no_close)
        if settings.audit.path is not None:
            self._registrations[AuditTrail] = _Registration(_audit_factory, "singleton", no_close)
        if settings.observability.callback is not None:
            self._registrations[MetricsReporter] = _Registration(
                _metrics_factory, "singleton", _close_metrics
            )
        # This container's own plugin registry: started at create(), stopped at aclose()
        # (after the pipeline, whose sink runner owns the plugin sinks' start and stop).
        self._plugins = PluginRegistry.from_settings(settings, diagnostics=self._diagnostics)
        self._registrations[PluginRegistry] = _Registration(
            _registry_factory, "singleton", _close_registry
        )

    @staticmethod
    def create(settings: SettingsSource = None) -> PendingContainer:
        """Return a container that starts when awaited or entered with ``async with``.

        ``settings`` is a `Settings`, a mapping of the same shape, a path to a TOML/JSON
        file (read without blocking the loop), or ``None`` for the environment over the
        defaults (JSON lines to stdout at INFO). A mapping or file is merged over the
        ``FERROLOG_*`` environment (see `Settings`).

        Starting raises `SettingsError` for invalid settings or a sink that cannot start (a
        missing or unwritable log directory, a directory or symlink as the log file),
        `PluginSettingsError` (a `SettingsError` of category ``plugin``) for a plugin the
        settings use that cannot load (not allowed, not found, incompatible, invalid
        config), and `UnsupportedSettingError` for settings this build cannot honour yet.
        """
        return PendingContainer(settings)

    @staticmethod
    def create_sync(settings: SettingsSource = None) -> SyncContainer:
        """Start a container for a program without an event loop (scripts, Django, WSGI).

        The container runs on a private event loop in a helper thread; use the result as a
        context manager, or call ``close()`` yourself.
        """
        return SyncContainer(lambda: _start_container(settings))

    @property
    def settings(self) -> Settings:
        """The validated settings this container was built from."""
        return self._settings

    @property
    def id(self) -> str:
        """A random id naming this container in error context and audit records."""
        return self._id

    @property
    def diagnostics(self) -> Diagnostics:
        """This container's rate-limited channel for ferrolog's own trouble (stderr).

        Pass it to a `CircuitBreaker` (``diagnostics=``) to have its state changes reported.
        """
        return self._diagnostics

    @property
    def closed(self) -> bool:
        """True once ``aclose()`` has started."""
        return self._closing is not None

    def set_level(self, name: str | None, level: int | str | None) -> None:
        """Set the level of the loggers named ``name`` or below it (``""`` or ``None``: every
        logger), e.g. ``set_level("app.db", "debug")``; ``level=None`` forgets what was set
        for ``name`` (the configured ``logger_levels``, else the container's level, apply).

        Takes effect at once on every logger of this container, those already made included
        (but a logger whose level was pinned with ``with_level()``). Raises ``ValueError`` or
        ``TypeError`` for a malformed name or an unknown level.
        """
        self._runtime_levels.set(name, level)

    def reset_levels(self) -> None:
        """Forget every level set with `set_level`."""
        self._runtime_levels.reset()

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
        closer = default_close if close is None else user_close(close)
        with self._lock, error_context(container=self._id, component=_name(key)):
            self._ensure_open()
            if key in self._slots:
                raise RegistrationError(
                    f"{_name(key)} was already resolved in this container, so it can no longer "
                    f"be overridden; register overrides before the first get({_name(key)})"
                )
            self._registrations[key] = _Registration(factory, scope, closer)

    def on_close(self, callback: Callable[[], object], *, name: str | None = None) -> None:
        """Call ``callback()`` (sync, or async and awaited) when the container closes.

        It runs in reverse order with the components: before everything created until now
        (the pipeline included, so it may still log) and after what is created later. A
        failure is reported by ``aclose()`` like a component's. ``name`` names it in errors.
        Raises `ContainerClosedError` once the container is closed.
        """
        if not callable(callback):
            raise TypeError("on_close needs a callable")
        label = name or f"on_close({getattr(callback, '__qualname__', repr(callback))})"
        with self._lock:
            self._ensure_open()
            self._created.append((_CloseHook(label), callback, _run_close_hook))

    async def get(self, key: type[_T]) -> _T:
        """Return the component registered for ``key``, creating it (once, for a singleton).

        Safe from any task, loop or thread. Raises `ResolutionError` when nothing is
        registered, `DependencyCycleError` for a cycle, `ContainerClosedError` once closed,
        and whatever the factory raised when creation fails.
        """
        with error_context(container=self._id, component=_name(key)):
            return await self._get(key)

    async def _get(self, key: type[_T]) -> _T:
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
                return cast(_T, await wait_future(slot.future))
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

        ``timeout=None`` waits as long as closing takes. The pipeline is drained (everything
        logged before is written or counted dropped) before its writer thread stops.
        Idempotent: later and concurrent calls wait until every component is closed, then
        return. Closing runs as its own task: cancelling a caller stops that caller's wait,
        never the closing, so every component is still closed and a later ``aclose()``
        waits for that to finish. When closes fail, the others still run and one
        `ContainerCloseError` listing each failure is raised once, to the first caller (or,
        if it was cancelled, to the next caller that sees the closing end).
        """
        if timeout is not None and not timeout >= 0:
            raise ValueError(f"timeout must be None or >= 0 seconds, not {timeout!r}")
        with self._lock:
            closing = self._closing
            first = closing is None
            if closing is None:
                closing = self._closing = concurrent.futures.Future()
                self._close_owner_waiting = True
                components = self._created[::-1]
                self._created.clear()
                self._slots.clear()
                self._registrations.clear()
        if first:
            # A strong reference: the loop only keeps weak ones to its tasks.
            self._close_task = asyncio.ensure_future(self._close_all(components, timeout))
        try:
            failures = await wait_future(closing)
        except asyncio.CancelledError:
            if first:
                with self._lock:
                    self._close_owner_waiting = False
            raise
        with self._lock:
            report = bool(failures) and not self._close_reported
            if report and not first and self._close_owner_waiting:
                report = False  # the first caller is still waiting: it reports them
            if report:
                self._close_reported = True
        if report:
            with error_context(container=self._id):
                raise ContainerCloseError(failures)

    async def _close_all(
        self, components: list[tuple[object, Any, Closer]], timeout: float | None
    ) -> None:
        assert self._closing is not None
        scoped = [(key, value, _scoped(closer, self._id, key)) for key, value, closer in components]
        try:
            failures = await close_all(scoped, timeout)
        except BaseException as exc:  # pragma: no cover - close_all records every failure
            self._closing.set_exception(exc)
            raise
        try:
            # Outside the close timeout: the record of what failed is worth the fsync.
            await self._audit_close(failures)
        finally:
            self._closing.set_result(failures)

    async def _audit_close(self, failures: list[tuple[object, BaseException]]) -> None:
        """Record the close failures and the close in the audit trail, then close it."""
        if self._settings.audit.path is None:
            return
        for key, error in failures:
            await self._audit_record(
                {"event": "component.close_failed", "component": _name(key), **error_record(error)}
            )
        try:
            await self._audit_record({"event": "container.closed", "failures": len(failures)})
        finally:
            trail = self._audit
            if trail is not None:
                try:
                    await trail.aclose()
                except asyncio.CancelledError:
                    trail.close()  # still close it when this task is being cancelled
                    raise
                except Exception as exc:
                    self._diagnostics.report("audit", f"closing the audit trail failed: {exc!r}")

    async def _audit_record(self, event: dict[str, Any]) -> None:
        """Append ``event`` to the audit trail, if there is one; a failure goes to diagnostics.

        Never raises: it runs while another error is being handled, which must not be masked.
        """
        try:
            trail = await self._trail()
            if trail is not None:
                await trail.record({**event, "container": self._id})
        except Exception as exc:
            self._diagnostics.report(
                "audit", f"container {self._id}: recording {event['event']} failed: {exc}"
            )

    async def _trail(self) -> AuditTrail | None:
        """The audit trail, opened off the loop at first need; ``None`` without audit.path."""
        path = self._settings.audit.path
        if path is None:
            return None
        with self._lock:
            trail = self._audit
        if trail is not None:
            return trail
        fsync = self._settings.audit.fsync
        retention = self._settings.audit.retention_days
        with error_context(container=self._id, component="AuditTrail"):
            # in_thread's thread starts with an empty context: carry this one over.
            context = contextvars.copy_context()
            opened = await in_thread(
                lambda _t: context.run(AuditTrail, path, fsync=fsync, retention_days=retention),
                0.0,
            )
        with self._lock:
            first = self._audit is None
            if first:
                self._audit = opened
            trail = self._audit
        assert trail is not None
        if not first:  # another task opened it meanwhile
            await opened.aclose()
            return trail
        await trail.record(
            {"event": "container.started", "container": self._id, "pid": os.getpid()}
        )
        return trail

    async def __aenter__(self) -> Container:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await close_shielded(self)

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
                mismatch = TypeError(
                    f"the factory for {_name(key)} returned a {type(instance).__name__}, "
                    f"not a {_name(key)}; it was closed"
                )
                # Nobody will ever receive it, so nobody else could close it.
                try:
                    await registration.close(instance, DEFAULT_CLOSE_TIMEOUT)
                except Exception as close_error:
                    raise mismatch from close_error
                raise mismatch
        except BaseException as exc:
            cancelled = isinstance(exc, asyncio.CancelledError)
            if slot is not None:
                with self._lock:
                    if self._slots.get(key) is slot:
                        del self._slots[key]
                slot.future.set_exception(_CreatorCancelled() if cancelled else exc)
            if isinstance(exc, Exception) and key is not AuditTrail:
                await self._audit_record(
                    {
                        "event": "component.create_failed",
                        "component": _name(key),
                        **error_record(exc),
                    }
                )
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
        if key is AuditTrail:
            return ResolutionError(
                "this container has no audit trail: set audit.path in the settings "
                "(or FERROLOG_AUDIT__PATH) to turn it on"
            )
        registered = ", ".join(sorted(_name(k) for k in self._registrations)) or "nothing"
        return ResolutionError(
            f"no component is registered for {_name(key)} (registered: {registered}); "
            f"register one with container.register({_name(key)}, factory)"
        )


@final
class PendingContainer:
    """A container being created: ``await`` it, or use it with ``async with``.

    Every await (from any task, loop or thread) yields the same container: the first one
    starts it, the others wait for that start. If the starting task is cancelled, a waiter
    takes over; if starting fails, every await raises that error.
    """

    __slots__ = ("_container", "_lock", "_settings", "_starting")

    def __init__(self, settings: SettingsSource) -> None:
        self._settings = settings
        self._container: Container | None = None
        self._lock = threading.Lock()
        self._starting: concurrent.futures.Future[Container] | None = None

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
            await close_shielded(self._container)

    async def _start(self) -> Container:
        while True:
            with self._lock:
                starting = self._starting
                first = starting is None
                if starting is None:
                    starting = self._starting = concurrent.futures.Future()
            if not first:
                try:
                    return await wait_future(starting)
                except _CreatorCancelled:
                    continue  # the starter was cancelled: start it here instead
            try:
                container = await _start_container(self._settings)
            except BaseException as exc:
                if isinstance(exc, asyncio.CancelledError):
                    with self._lock:
                        self._starting = None
                    starting.set_exception(_CreatorCancelled())
                else:
                    starting.set_exception(exc)
                raise
            self._container = container
            starting.set_result(container)
            return container


# -- helpers (module-level functions, no state) ------------------------------------------


async def _settings_factory(container: Container) -> Settings:
    return container.settings


async def _pipeline_factory(container: Container) -> Pipeline:
    settings = await container.get(Settings)
    registry = await container.get(PluginRegistry)
    processors = None
    trace_context = settings.otel_trace_context
    if settings.filters or settings.enrichers or settings.redactors or trace_context:
        processors = await registry.caller_plugins(settings)
        if trace_context:
            from ferrolog.otel import TraceContext  # imports OpenTelemetry: only when asked

            processors.add_enricher(TraceContext(), first=True)
    if container._capture is not None:
        # Created inside ferrolog.testing.capture_logs(): the capture taps every event; the
        # configured sinks are left alone (no files, no network in a test).
        quiet = settings.model_copy(update={"sinks": (NullSink(),)})
        pipeline = build_pipeline(quiet, processors=processors)
    else:
        pipeline = build_pipeline(
            settings, plugins=registry.sink_plugins(settings), processors=processors
        )
    container._runtime_levels.attach(pipeline)
    return pipeline


async def _registry_factory(container: Container) -> PluginRegistry:
    registry = container._plugins
    await registry.start()
    return registry


async def _close_registry(registry: PluginRegistry, timeout: float | None) -> None:
    if timeout is None:
        await registry.stop()
    else:
        await registry.stop(timeout=timeout)


async def _metrics_factory(container: Container) -> MetricsReporter:
    observability = container.settings.observability
    assert observability.callback is not None  # registered only with a callback
    callback = resolve_callback(observability.callback)
    return MetricsReporter(
        await container.get(Pipeline),
        callback,
        interval=observability.interval,
        diagnostics=container.diagnostics,
    )


async def _close_metrics(reporter: MetricsReporter, timeout: float | None) -> None:
    await in_thread(lambda _timeout: reporter.close(), 0.0)


async def _audit_factory(container: Container) -> AuditTrail:
    trail = await container._trail()
    assert trail is not None  # registered only when audit.path is set
    return trail


class _CloseHook:
    """The key of an ``on_close`` callback among the closed components (named in errors)."""

    __slots__ = ("label",)

    def __init__(self, label: str) -> None:
        self.label = label

    def __repr__(self) -> str:
        return self.label


async def _run_close_hook(callback: Callable[[], object], timeout: float | None) -> None:
    result = callback()
    if inspect.isawaitable(result):
        await asyncio.wait_for(_awaited(result), timeout)


async def _awaited(awaitable: Any) -> object:
    return await awaitable


def _scoped(closer: Closer, container_id: str, key: object) -> Closer:
    """``closer`` with the container and component in the context of errors it raises."""

    async def close(instance: object, timeout: float | None) -> None:
        with error_context(container=container_id, component=_name(key)):
            await closer(instance, timeout)

    return close


async def _logger_factory(container: Container) -> Logger:
    pipeline = await container.get(Pipeline)
    settings = await container.get(Settings)
    del settings
    # The pipeline's levels by name decide (`""` is the container's level unless
    # `logger_levels` names it), now and after `Container.set_level()`.
    return pipeline.logger("app")


async def _close_pipeline_component(pipeline: Pipeline, timeout: float | None) -> None:
    await close_pipeline(pipeline, timeout)


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


async def _start_container(source: SettingsSource) -> Container:
    """Load the settings and check, off the loop, that the pipeline they describe can start."""
    settings = await _load_settings(source)
    if settings.otel_trace_context:
        from ferrolog.otel import check_available

        check_available()  # a missing extra fails here, saying what to install
    container = Container(settings)
    registry = container._plugins
    # Imports the plugins the settings use (only those, and every installed one that is not
    # denied with plugins.autoload); every sink, plugin and audit problem fails here at once.
    await in_thread(lambda _timeout: registry.autoload(), 0.0)
    await in_thread(lambda _timeout: check_startup(settings, registry, audit_path=False), 0.0)
    await container.get(PluginRegistry)
    if settings.audit.path is not None:
        # Open it now: a bad audit.path fails here, and the start is recorded.
        await container.get(AuditTrail)
    if settings.observability.callback is not None:
        await container.get(MetricsReporter)
    return container
