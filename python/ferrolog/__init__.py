"""ferrolog: async-first structured logging with a Rust hot path.

`Logger` is native: its level methods encode each event straight to a JSON line in Rust and
push it into a lock-free ring that a native writer thread drains in batches. Above it, an async
`Container` builds loggers from pydantic `Settings`.
"""

from __future__ import annotations

import atexit
import os

from ferrolog import _native
from ferrolog._native import Logger, Pipeline, __version__
from ferrolog._pipeline import build_pipeline
from ferrolog.audit import AuditTrail
from ferrolog.config import Settings, SettingsError, UnsupportedSettingError
from ferrolog.container import (
    Container,
    ContainerClosedError,
    ContainerCloseError,
    ContainerError,
    DependencyCycleError,
    PendingContainer,
    RegistrationError,
    ResolutionError,
    SyncContainer,
)
from ferrolog.context import (
    bind_contextvars,
    bound_contextvars,
    clear_contextvars,
    get_contextvars,
    unbind_contextvars,
)
from ferrolog.errors import (
    CircuitBreaker,
    CircuitOpenError,
    ErrorCategory,
    FerrologError,
    RetryExhaustedError,
    Severity,
    retry,
    safe_execute,
)
from ferrolog.levels import CRITICAL, DEBUG, ERROR, INFO, NOTSET, TRACE, WARNING
from ferrolog.plugins import PLUGIN_API_VERSION
from ferrolog.registry import PluginRegistry
from ferrolog.request_events import (
    RequestScope,
    add_to_request_event,
    current_request_scope,
    request_counter,
    request_scope,
    request_timer,
    request_timing,
)

# Process-wide hooks over the native weak set of live pipelines: a forked child gets fresh
# writer threads and none of the parent's backlog (the registry is held across the fork, so
# no other thread can hold it then); interpreter exit closes every pipeline: what is queued is
# written, gzip jobs finish, Python sinks get flush() and stop().
# Registering them starts no thread.
if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_native._before_fork,
        after_in_parent=_native._after_fork_parent,
        after_in_child=_native._after_fork_child,
    )
atexit.register(_native._close_all)

__all__ = [
    "CRITICAL",
    "DEBUG",
    "ERROR",
    "INFO",
    "NOTSET",
    "PLUGIN_API_VERSION",
    "TRACE",
    "WARNING",
    "AuditTrail",
    "CircuitBreaker",
    "CircuitOpenError",
    "Container",
    "ContainerCloseError",
    "ContainerClosedError",
    "ContainerError",
    "DependencyCycleError",
    "ErrorCategory",
    "FerrologError",
    "Logger",
    "PendingContainer",
    "Pipeline",
    "PluginRegistry",
    "RegistrationError",
    "RequestScope",
    "ResolutionError",
    "RetryExhaustedError",
    "Settings",
    "SettingsError",
    "Severity",
    "SyncContainer",
    "UnsupportedSettingError",
    "__version__",
    "add_to_request_event",
    "bind_contextvars",
    "bound_contextvars",
    "build_pipeline",
    "clear_contextvars",
    "current_request_scope",
    "get_contextvars",
    "request_counter",
    "request_scope",
    "request_timer",
    "request_timing",
    "retry",
    "safe_execute",
    "unbind_contextvars",
]
