"""Type aliases and protocols of ferrolog's public API, in one place.

Import them for annotations: ``from ferrolog.typing import Factory, SettingsSource``.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias, TypeVar, Union

if TYPE_CHECKING:
    from ferrolog.config import Settings
    from ferrolog.container import Container

__all__ = ["Factory", "Finalizer", "PythonSink", "Scope", "SettingsSource"]

_T = TypeVar("_T")

#: How long a registered component lives: one per container, or a new one per ``get``.
Scope: TypeAlias = Literal["singleton", "transient"]

#: An async factory: receives the container and awaits ``container.get(Dep)`` for its needs.
Factory: TypeAlias = Callable[["Container"], Awaitable[_T]]

#: Closes a component at ``aclose()``; its result is awaited when it is awaitable.
Finalizer: TypeAlias = Callable[[_T], object]

#: What ``Container.create`` accepts: settings, a mapping of the same shape, a TOML/JSON
#: file path, or ``None`` for the environment over the defaults.
SettingsSource: TypeAlias = Union["Settings", Mapping[str, Any], str, "os.PathLike[str]", None]


class PythonSink(Protocol):
    """A sink written in Python: receives whole NDJSON lines, one batch per call, on its own
    worker thread, fed through its own bounded queue.

    Optional methods, each a plain or a coroutine function, called on that thread (coroutines
    on the thread's own event loop): ``start()`` before the first batch, ``flush()`` when the
    pipeline is flushed (and when idle after writing), ``stop()`` when it closes.

    Isolation: a sink whose ``start()`` raises gets no batches; a call that raises or takes
    longer than its timeout fails its batch; after 3 failed batches in a row the sink is
    disabled for 30 s, then probed with one batch. Every batch a sink does not write goes to
    the pipeline's fallback sink (``Settings.fallback``; dropped and counted without one), and
    the failure is reported on standard error, rate-limited, with the sink's name.

    Optional class attributes: ``name`` (str, for reports and ``sink_health()``; default the
    class name), ``timeout`` (seconds a call may take, default 10), ``queue_bytes`` (bytes of
    batches that may wait for it, default 4 MiB; what does not fit is its overflow, counted
    and rerouted), ``backpressure`` (True: when its queue is full the pipeline waits for it
    instead, so the ring fills and the overflow policy applies to the callers) and
    ``use_app_loop`` (True: coroutines run on the event loop that was running when the
    pipeline was created, for clients bound to that loop).
    """

    def write_batch(self, batch: memoryview, /) -> object:
        """Write a batch of complete JSON lines (the view is only valid during the call)."""
