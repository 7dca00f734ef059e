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
    """A sink written in Python: receives whole NDJSON lines, one batch per call, on a runner
    thread of its pipeline.

    Optional methods, each a plain or a coroutine function, called on the same thread:
    ``start()`` before the first batch, ``flush()`` when the pipeline is flushed (and when
    idle after writing), ``stop()`` when it closes. A sink whose ``start()`` raises gets no
    batches, and each batch it misses is counted dropped.
    """

    def write_batch(self, batch: memoryview, /) -> object:
        """Write a batch of complete JSON lines (the view is only valid during the call)."""
