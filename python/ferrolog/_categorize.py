"""`categorize`: which `ErrorCategory` an exception belongs to, and whether retrying may help.

Rules, first match wins: a `FerrologError` knows its own category; timeouts; an ``OSError``
by its ``errno`` (so ``ENOSPC`` is a full disk whatever class raised it); connection errors;
then common library types, recognised by class name so that no optional dependency (ssl,
pydantic) is imported just to be compared against.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import types
from typing import NamedTuple

from ferrolog._hierarchy import ErrorCategory, FerrologError, Severity

__all__ = ["Categorization", "categorize"]


class Categorization(NamedTuple):
    """What `categorize` decided about one exception."""

    category: ErrorCategory
    retryable: bool
    severity: Severity


_C = ErrorCategory
_S = Severity


def _rule(
    category: ErrorCategory, retryable: bool, severity: Severity = _S.ERROR
) -> Categorization:
    return Categorization(category, retryable, severity)


def _errno_rules() -> types.MappingProxyType[int, Categorization]:
    table: dict[str, Categorization] = {
        # The disk or quota is full: retrying soon only fails again; someone must free space.
        "ENOSPC": _rule(_C.SINK_IO, False, _S.CRITICAL),
        "EDQUOT": _rule(_C.SINK_IO, False, _S.CRITICAL),
        "EFBIG": _rule(_C.SINK_IO, False),
        "EIO": _rule(_C.SINK_IO, False, _S.CRITICAL),
        "EROFS": _rule(_C.SINK_IO, False),
        # The reader of a pipe or socket went away: it will not come back for this stream.
        "EPIPE": _rule(_C.SINK_IO, False),
        # Transient: the resource is momentarily busy or exhausted.
        "EAGAIN": _rule(_C.SINK_IO, True, _S.WARNING),
        "EWOULDBLOCK": _rule(_C.SINK_IO, True, _S.WARNING),
        "EINTR": _rule(_C.SINK_IO, True, _S.WARNING),
        "EBUSY": _rule(_C.SINK_IO, True, _S.WARNING),
        "EMFILE": _rule(_C.SINK_IO, True),
        "ENFILE": _rule(_C.SINK_IO, True),
        "ENOBUFS": _rule(_C.BACKPRESSURE, True),
        "ENOMEM": _rule(_C.BACKPRESSURE, True, _S.CRITICAL),
        # Access refused: retrying cannot change a permission.
        "EACCES": _rule(_C.SECURITY, False),
        "EPERM": _rule(_C.SECURITY, False),
        # A path that does not exist or is of the wrong kind is a configuration mistake.
        "ENOENT": _rule(_C.CONFIGURATION, False),
        "ENOTDIR": _rule(_C.CONFIGURATION, False),
        "EISDIR": _rule(_C.CONFIGURATION, False),
        "ELOOP": _rule(_C.CONFIGURATION, False),
        "ENAMETOOLONG": _rule(_C.CONFIGURATION, False),
        # The network: usually transient.
        "ETIMEDOUT": _rule(_C.TIMEOUT, True),
        "ECONNREFUSED": _rule(_C.NETWORK, True),
        "ECONNRESET": _rule(_C.NETWORK, True),
        "ECONNABORTED": _rule(_C.NETWORK, True),
        "EHOSTUNREACH": _rule(_C.NETWORK, True),
        "EHOSTDOWN": _rule(_C.NETWORK, True),
        "ENETUNREACH": _rule(_C.NETWORK, True),
        "ENETDOWN": _rule(_C.NETWORK, True),
        "ENETRESET": _rule(_C.NETWORK, True),
        "EADDRNOTAVAIL": _rule(_C.NETWORK, False),
        "EADDRINUSE": _rule(_C.NETWORK, False),
    }
    return types.MappingProxyType(
        {getattr(errno, name): rule for name, rule in table.items() if hasattr(errno, name)}
    )


_BY_ERRNO = _errno_rules()

# Library exception types by (module, class name), matched anywhere in the MRO.
_BY_NAME = types.MappingProxyType(
    {
        ("pydantic_core._pydantic_core", "ValidationError"): _rule(_C.CONFIGURATION, False),
        ("ssl", "SSLCertVerificationError"): _rule(_C.SECURITY, False),
        ("ssl", "SSLError"): _rule(_C.SECURITY, False),
        ("json.decoder", "JSONDecodeError"): _rule(_C.SERIALIZATION, False),
        ("_pickle", "PickleError"): _rule(_C.SERIALIZATION, False),
        ("pickle", "PickleError"): _rule(_C.SERIALIZATION, False),
        ("asyncio.queues", "QueueFull"): _rule(_C.BACKPRESSURE, True, _S.WARNING),
        ("queue", "Full"): _rule(_C.BACKPRESSURE, True, _S.WARNING),
    }
)

_TIMEOUT = _rule(_C.TIMEOUT, True)
_CONNECTION = _rule(_C.NETWORK, True)
_UNKNOWN = _rule(_C.UNKNOWN, False)


def categorize(error: BaseException) -> Categorization:
    """Return the category, retryability and severity of ``error``.

    ``OSError`` is judged by its ``errno`` first (``ENOSPC`` disk full: sink I/O, not
    retryable, critical; ``EACCES``: security; ``EPIPE``: sink I/O; ``ECONNREFUSED``:
    network, retryable); ``TimeoutError``: timeout, retryable; ``ConnectionError``: network,
    retryable; pydantic's ``ValidationError``: configuration; ``UnicodeError`` and JSON
    decoding errors: serialization; ``ImportError``: plugin; ``MemoryError``: backpressure.
    Anything else is `ErrorCategory.UNKNOWN`, not retryable.
    """
    if isinstance(error, FerrologError):
        return Categorization(error.category, error.retryable, error.severity)
    if isinstance(error, (TimeoutError, asyncio.TimeoutError)):
        return _TIMEOUT
    by_name = _match_name(error)
    if isinstance(error, OSError):
        if isinstance(error, socket.gaierror):
            # A name lookup: EAI_AGAIN is a temporary resolver failure, the rest are not.
            retry = error.errno == getattr(socket, "EAI_AGAIN", None)
            return _rule(_C.NETWORK, retry)
        if by_name is not None:
            return by_name
        if error.errno is not None and error.errno in _BY_ERRNO:
            return _BY_ERRNO[error.errno]
        if isinstance(error, ConnectionError):
            return _CONNECTION
        return _rule(_C.SINK_IO, False)
    if by_name is not None:
        return by_name
    if isinstance(error, UnicodeError):
        return _rule(_C.SERIALIZATION, False)
    if isinstance(error, ImportError):
        return _rule(_C.PLUGIN, False)
    if isinstance(error, MemoryError):
        return _rule(_C.BACKPRESSURE, False, _S.CRITICAL)
    if isinstance(error, RecursionError):
        return _rule(_C.SERIALIZATION, False)
    return _UNKNOWN


def _match_name(error: BaseException) -> Categorization | None:
    for cls in type(error).__mro__:
        rule = _BY_NAME.get((cls.__module__, cls.__name__))
        if rule is not None:
            return rule
    return None
