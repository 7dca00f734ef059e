"""OpenTelemetry trace context: the active span's ``trace_id`` and ``span_id`` in every event.

Turn it on with ``Settings(otel_trace_context=True)`` (or ``FERROLOG_OTEL_TRACE_CONTEXT=true``)
and install the extra: ``pip install 'ferrolog[otel]'``. While a valid OpenTelemetry span is
current, each event gets ``trace_id`` (32 lowercase hex digits) and ``span_id`` (16); outside
a span it gets neither. The ids are added on the caller's thread, where the span is current,
by `TraceContext`, an enricher that runs first in the container's processor chain (so other
enrichers and redactors see the ids).

Off (the default), nothing here runs and OpenTelemetry is never imported. On, a log call
enters Python once per event to read the span (the native fast path is for events without
caller-side plugins), which is why it is opt-in.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from ferrolog._settings_sources import UnsupportedSettingError

__all__ = ["INSTALL_HINT", "TraceContext", "check_available"]

INSTALL_HINT: Final = "pip install 'ferrolog[otel]'"
_NOTHING: Final[Mapping[str, Any]] = MappingProxyType({})


def check_available() -> None:
    """Raise `UnsupportedSettingError`, saying what to install, when ``opentelemetry-api``
    cannot be imported."""
    try:
        # opentelemetry is a namespace package (opentelemetry-proto alone provides it): look
        # for the API module itself.
        found = importlib.util.find_spec("opentelemetry.trace") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise UnsupportedSettingError(
            "otel_trace_context is on, but the OpenTelemetry API (opentelemetry-api) is not "
            f"installed: {INSTALL_HINT}, or turn otel_trace_context off"
        )


class TraceContext:
    """An enricher adding the current OpenTelemetry span's ``trace_id`` and ``span_id``.

    Imports ``opentelemetry.trace`` when constructed: `check_available` says first, with
    the fix, when it cannot.
    """

    name = "otel-trace-context"
    kind = "enricher"
    version = "1"

    def __init__(self) -> None:
        from opentelemetry import trace

        self._current_span = trace.get_current_span

    def enrich(self, event: Mapping[str, Any]) -> Mapping[str, Any]:
        context = self._current_span().get_span_context()
        if not context.is_valid:
            return _NOTHING
        return {"trace_id": f"{context.trace_id:032x}", "span_id": f"{context.span_id:016x}"}
