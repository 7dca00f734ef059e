"""Errors and resilience: one exception hierarchy, categorisation, retry, circuit breaker.

Every error ferrolog raises is a `FerrologError` with a ``category`` (`ErrorCategory`), a
``severity``, a ``retryable`` flag and the ``context`` captured when it was raised (the
container, the component or plugin at work, and the request context bound with
`ferrolog.bind_contextvars`). Catch a category's subclass to handle just that kind; catch the
stdlib type an error always was (``SettingsError`` is a ``ValueError``) and nothing changes.

The tools: `categorize` (any exception to a category and retryability), `retry` (exponential
backoff with full jitter), `CircuitBreaker` (stop calling what keeps failing), `safe_execute`
(a result object instead of an exception) and `Diagnostics` (ferrolog's own rate-limited
channel to standard error, never the user's pipeline).
"""

from __future__ import annotations

from ferrolog._categorize import Categorization, categorize
from ferrolog._circuit import BreakerStats, CircuitBreaker, CircuitOpenError, CircuitState
from ferrolog._container_errors import (
    ContainerClosedError,
    ContainerCloseError,
    ContainerError,
    DependencyCycleError,
    RegistrationError,
    ResolutionError,
)
from ferrolog._diagnostics import Diagnostics
from ferrolog._hierarchy import (
    BackpressureError,
    ComplianceError,
    ConfigurationError,
    ErrorCategory,
    FerrologError,
    NetworkError,
    OperationTimeoutError,
    PluginError,
    SecurityError,
    SerializationError,
    Severity,
    SinkError,
    current_error_context,
    error_context,
)
from ferrolog._retry import RetryExhaustedError, retry
from ferrolog._safe import SafeResult, safe_execute
from ferrolog._settings_sources import SettingsError, UnsupportedSettingError

# Users meet these classes as `ferrolog.errors.X` (in reprs, `to_dict()["type"]`, pickles).
_public: type
for _public in (
    BackpressureError,
    BreakerStats,
    Categorization,
    CircuitBreaker,
    CircuitOpenError,
    CircuitState,
    ComplianceError,
    ConfigurationError,
    Diagnostics,
    ErrorCategory,
    FerrologError,
    NetworkError,
    OperationTimeoutError,
    PluginError,
    RetryExhaustedError,
    SafeResult,
    SecurityError,
    SerializationError,
    Severity,
    SinkError,
):
    _public.__module__ = __name__
for _public in (SettingsError, UnsupportedSettingError):
    _public.__module__ = "ferrolog.config"
for _public in (
    ContainerError,
    ContainerCloseError,
    ContainerClosedError,
    DependencyCycleError,
    RegistrationError,
    ResolutionError,
):
    _public.__module__ = "ferrolog.container"
del _public

__all__ = [
    "BackpressureError",
    "BreakerStats",
    "Categorization",
    "CircuitBreaker",
    "CircuitOpenError",
    "CircuitState",
    "ComplianceError",
    "ConfigurationError",
    "ContainerCloseError",
    "ContainerClosedError",
    "ContainerError",
    "DependencyCycleError",
    "Diagnostics",
    "ErrorCategory",
    "FerrologError",
    "NetworkError",
    "OperationTimeoutError",
    "PluginError",
    "RegistrationError",
    "ResolutionError",
    "RetryExhaustedError",
    "SafeResult",
    "SecurityError",
    "SerializationError",
    "SettingsError",
    "Severity",
    "SinkError",
    "UnsupportedSettingError",
    "categorize",
    "current_error_context",
    "error_context",
    "retry",
    "safe_execute",
]
