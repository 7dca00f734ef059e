"""categorize(): common exceptions map to a category, a retryability and a severity."""

from __future__ import annotations

import asyncio
import errno
import json
import pickle
import queue
import socket
import ssl

import pydantic
import pytest

from ferrolog.errors import (
    Categorization,
    ErrorCategory,
    NetworkError,
    Severity,
    SinkError,
    categorize,
)

C = ErrorCategory


def _validation_error() -> pydantic.ValidationError:
    class Model(pydantic.BaseModel):
        port: int

    try:
        Model(port="not a port")  # type: ignore[arg-type]
    except pydantic.ValidationError as exc:
        return exc
    raise AssertionError("no error")


def _json_error() -> json.JSONDecodeError:
    try:
        json.loads("{")
    except json.JSONDecodeError as exc:
        return exc
    raise AssertionError("no error")


@pytest.mark.parametrize(
    ("error", "category", "retryable"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), C.SINK_IO, False),
        (OSError(errno.EACCES, "Permission denied"), C.SECURITY, False),
        (PermissionError(errno.EPERM, "Operation not permitted"), C.SECURITY, False),
        (BrokenPipeError(errno.EPIPE, "Broken pipe"), C.SINK_IO, False),
        (OSError(errno.EAGAIN, "Try again"), C.SINK_IO, True),
        (OSError(errno.EMFILE, "Too many open files"), C.SINK_IO, True),
        (FileNotFoundError(errno.ENOENT, "No such file"), C.CONFIGURATION, False),
        (OSError(errno.ETIMEDOUT, "Connection timed out"), C.TIMEOUT, True),
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), C.NETWORK, True),
        (ConnectionResetError("reset without errno"), C.NETWORK, True),
        (OSError("no errno at all"), C.SINK_IO, False),
        (TimeoutError("slow"), C.TIMEOUT, True),
        (asyncio.TimeoutError(), C.TIMEOUT, True),
        (socket.gaierror(socket.EAI_AGAIN, "temporary failure"), C.NETWORK, True),
        (socket.gaierror(socket.EAI_NONAME, "unknown host"), C.NETWORK, False),
        (ssl.SSLCertVerificationError(1, "certificate verify failed"), C.SECURITY, False),
        (_validation_error(), C.CONFIGURATION, False),
        (_json_error(), C.SERIALIZATION, False),
        (UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogate"), C.SERIALIZATION, False),
        (pickle.PicklingError("cannot pickle"), C.SERIALIZATION, False),
        (ModuleNotFoundError("no module named acme"), C.PLUGIN, False),
        (queue.Full(), C.BACKPRESSURE, True),
        (asyncio.QueueFull(), C.BACKPRESSURE, True),
        (MemoryError(), C.BACKPRESSURE, False),
        (ValueError("a bug"), C.UNKNOWN, False),
        (KeyError("a bug"), C.UNKNOWN, False),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_common_exceptions_are_categorised(
    error: BaseException, category: ErrorCategory, retryable: bool
) -> None:
    """Each common exception gets its category and retryability."""
    verdict = categorize(error)
    assert isinstance(verdict, Categorization)
    assert (verdict.category, verdict.retryable) == (category, retryable)


def test_disk_full_is_critical() -> None:
    """A full disk is reported with critical severity; a plain bug with error."""
    assert categorize(OSError(errno.ENOSPC, "full")).severity is Severity.CRITICAL
    assert categorize(ValueError("x")).severity is Severity.ERROR


def test_errno_decides_whatever_the_class() -> None:
    """ENOSPC raised as a subclass (e.g. from a library) is still a full disk."""

    class LibraryError(OSError):
        pass

    assert categorize(LibraryError(errno.ENOSPC, "full")).category is C.SINK_IO


def test_ferrolog_errors_keep_their_own_category() -> None:
    """A FerrologError is categorised by its own category, retryability and severity."""
    error = SinkError("disk full")
    error.retryable = True
    assert categorize(error) == (C.SINK_IO, True, Severity.ERROR)
    assert categorize(NetworkError("x")).retryable is True
