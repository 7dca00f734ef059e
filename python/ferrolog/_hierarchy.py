"""The exception hierarchy: `FerrologError`, its category subclasses, and context capture.

This module sits below every other ferrolog module that defines an error (settings,
container, audit), so each of them can subclass `FerrologError` without an import cycle.

Context is captured when an error is constructed (which, for ``raise Error(...)``, is when it
is raised): the innermost `error_context` scope of the current task (the container's id, the
component being created or closed, a plugin's name) and the request context bound with
`ferrolog.bind_contextvars`. Both live in ``ContextVar`` objects, so they follow the code
across ``await``, into tasks and into ``asyncio.to_thread`` like the request context does.
"""

from __future__ import annotations

import contextlib
import contextvars
import enum
import types
from collections.abc import Iterator, Mapping
from typing import Any

from ferrolog.context import get_contextvars

__all__ = [
    "BackpressureError",
    "ComplianceError",
    "ConfigurationError",
    "ErrorCategory",
    "FerrologError",
    "NetworkError",
    "OperationTimeoutError",
    "PluginError",
    "SecurityError",
    "SerializationError",
    "Severity",
    "SinkError",
    "current_error_context",
    "error_context",
]


class ErrorCategory(str, enum.Enum):
    """What kind of failure an error is; `categorize` maps any exception to one of these."""

    CONFIGURATION = "configuration"
    CONTAINER = "container"
    PLUGIN = "plugin"
    SINK_IO = "sink_io"
    SERIALIZATION = "serialization"
    BACKPRESSURE = "backpressure"
    NETWORK = "network"
    TIMEOUT = "timeout"
    SECURITY = "security"
    COMPLIANCE = "compliance"
    #: An exception `categorize` has no rule for.
    UNKNOWN = "unknown"


class Severity(str, enum.Enum):
    """How bad an error is; ``.level`` is the matching stdlib logging level number."""

    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"

    @property
    def level(self) -> int:
        """The stdlib logging level of this severity (WARNING 30, ERROR 40, CRITICAL 50)."""
        return {"warning": 30, "error": 40, "critical": 50}[self.value]


# The scope fields (container, component, plugin, ...) of the current task. The value is an
# immutable mapping, replaced (never mutated) by `error_context`.
_SCOPE: contextvars.ContextVar[Mapping[str, object]] = contextvars.ContextVar(
    "ferrolog_error_scope", default=types.MappingProxyType({})
)


@contextlib.contextmanager
def error_context(**fields: object) -> Iterator[None]:
    """Add ``fields`` (e.g. ``component="db"``, ``plugin="acme"``) to the context of every
    `FerrologError` constructed inside the ``with`` block, in this task and the tasks and
    threads (``asyncio.to_thread``) it starts. Inner scopes override outer ones per field."""
    token = _SCOPE.set(types.MappingProxyType({**_SCOPE.get(), **fields}))
    try:
        yield
    finally:
        _SCOPE.reset(token)


def current_error_context() -> dict[str, Any]:
    """The context a `FerrologError` constructed here would capture (without its own fields).

    ``request`` holds the fields bound with `ferrolog.bind_contextvars`, when there are any.
    """
    captured: dict[str, Any] = dict(_SCOPE.get())
    try:
        request = get_contextvars()
    except Exception:  # pragma: no cover - capture must never replace the real error
        request = {}
    if request:
        captured["request"] = request
    return captured


def _restore(cls: type[FerrologError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class FerrologError(Exception):
    """The root of every error ferrolog raises: catch it to catch them all.

    ``FerrologError(message, **context)``: ``message`` says what happened, where and what to
    do; ``context`` adds fields to the context captured at construction (see `error_context`).
    ``.category``, ``.severity`` and ``.retryable`` come from the subclass (and may be set per
    instance); ``.to_dict()`` is a JSON-ready description.
    """

    category: ErrorCategory = ErrorCategory.UNKNOWN
    severity: Severity = Severity.ERROR
    retryable: bool = False

    def __init__(self, message: str = "", /, **context: object) -> None:
        super().__init__(message)
        self.message = message
        self.context: dict[str, Any] = {**current_error_context(), **context}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not isinstance(cls.__dict__.get("category", cls.category), ErrorCategory):
            raise TypeError(f"{cls.__qualname__}.category must be an ErrorCategory")

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuild without calling __init__: subclasses take other constructor arguments.
        return (_restore, (type(self), self.args, dict(self.__dict__)))

    def to_dict(self) -> dict[str, Any]:
        """``type``, ``message``, ``category``, ``severity``, ``retryable`` and ``context``."""
        cls = type(self)
        return {
            "type": f"{cls.__module__}.{cls.__qualname__}",
            "message": str(self),
            "category": self.category.value,
            "severity": self.severity.value,
            "retryable": self.retryable,
            "context": dict(self.context),
        }


class ConfigurationError(FerrologError):
    """Settings or arguments that are invalid or that this build cannot honour."""

    category = ErrorCategory.CONFIGURATION


class PluginError(FerrologError):
    """A plugin failed to load, rejected its configuration, or failed while running."""

    category = ErrorCategory.PLUGIN


class SinkError(FerrologError):
    """A sink could not write (disk full, permission denied, broken pipe)."""

    category = ErrorCategory.SINK_IO


class SerializationError(FerrologError):
    """A value could not be encoded or decoded."""

    category = ErrorCategory.SERIALIZATION


class BackpressureError(FerrologError):
    """A bounded resource is full, or a circuit refuses calls to shed load."""

    category = ErrorCategory.BACKPRESSURE
    retryable = True


class NetworkError(FerrologError):
    """A remote endpoint could not be reached or dropped the connection."""

    category = ErrorCategory.NETWORK
    retryable = True


class OperationTimeoutError(FerrologError, TimeoutError):
    """An operation did not finish within its timeout; also a `TimeoutError`."""

    category = ErrorCategory.TIMEOUT
    retryable = True


class SecurityError(FerrologError):
    """Access was denied, or a secret or certificate was refused."""

    category = ErrorCategory.SECURITY


class ComplianceError(FerrologError):
    """A compliance rule was violated, or the audit trail failed or was tampered with."""

    category = ErrorCategory.COMPLIANCE
    severity = Severity.CRITICAL
