"""A container's own metrics: the pipeline's counters and each sink's health, exported as
Prometheus text (`prometheus_text`) or handed to a callback every few seconds.

Settings (``observability``): ``metrics`` (default on) makes the export available;
``callback`` (``"module:function"``) is called every ``interval`` seconds, from a thread of
the container, with a `metrics` snapshot ``{"pipeline": {...}, "sinks": [{...}, ...]}``. A
callback that raises is reported through the container's diagnostics and called again at
the next interval.
"""

from __future__ import annotations

import importlib
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ferrolog._hierarchy import ConfigurationError
from ferrolog._native import Pipeline

if TYPE_CHECKING:
    from ferrolog._diagnostics import Diagnostics
    from ferrolog.container import Container

__all__ = [
    "MetricsReporter",
    "metrics",
    "prometheus_text",
    "render_prometheus",
    "resolve_callback",
]

#: The metric name prefix.
PREFIX = "ferrolog"
#: Pipeline counters that only grow (Prometheus counters); the others are gauges.
_COUNTERS = frozenset(
    {"emitted", "written", "dropped", "errors", "bytes", "rerouted", "filtered",
     "sampled_out", "suppressed", "batches", "deduplicated", "once_suppressed"}
)  # fmt: skip
_SINK_COUNTERS = frozenset(
    {"errors", "rerouted", "failovers", "delivered", "retried", "failed_batches", "dropped",
     "refused"}
)  # fmt: skip
_BREAKER_STATES = ("closed", "open", "half_open")


def metrics(pipeline: Pipeline) -> dict[str, Any]:
    """A snapshot: ``{"pipeline": stats(), "sinks": sink_health()}``."""
    return {"pipeline": dict(pipeline.stats()), "sinks": list(pipeline.sink_health())}


def _label(value: object) -> str:
    text = str(value)
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: object) -> str | None:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    return None


def render_prometheus(
    stats: Mapping[str, Any], sinks: Sequence[Mapping[str, Any]], *, container: str = ""
) -> str:
    """Prometheus text exposition (format 0.0.4) of pipeline ``stats`` and ``sinks`` health.

    Pipeline counters are ``ferrolog_<name>_total``, gauges ``ferrolog_<name>``; each sink's
    numbers are ``ferrolog_sink_<name>{sink="...",kind="..."}`` and its breaker state is
    ``ferrolog_sink_breaker_state{...,state="open"} 1`` (0 for the other states).
    """
    base = f'container="{_label(container)}"' if container else ""
    lines: list[str] = []
    for key in sorted(stats):
        value = _number(stats[key])
        if value is None:
            continue
        kind = "counter" if key in _COUNTERS else "gauge"
        name = f"{PREFIX}_{key}_total" if kind == "counter" else f"{PREFIX}_{key}"
        selector = f"{name}{{{base}}}" if base else name
        lines += [f"# TYPE {name} {kind}", f"{selector} {value}"]
    series: dict[str, list[str]] = {}
    for sink in sinks:
        labels = f'sink="{_label(sink.get("name", ""))}",kind="{_label(sink.get("kind", ""))}"'
        if base:
            labels = f"{base},{labels}"
        for key in sorted(sink):
            if key in ("name", "kind", "state"):
                continue
            value = _number(sink[key])
            if value is None:
                continue
            name = f"{PREFIX}_sink_{key}" + ("_total" if key in _SINK_COUNTERS else "")
            series.setdefault(name, []).append(f"{name}{{{labels}}} {value}")
        state = sink.get("state")
        if isinstance(state, str):
            name = f"{PREFIX}_sink_breaker_state"
            series.setdefault(name, []).extend(
                f'{name}{{{labels},state="{option}"}} {int(option == state)}'
                for option in _BREAKER_STATES
            )
    for name in sorted(series):
        kind = "counter" if name.endswith("_total") else "gauge"
        lines += [f"# TYPE {name} {kind}", *series[name]]
    return "\n".join(lines) + "\n"


async def prometheus_text(container: Container) -> str:
    """The container's pipeline counters and sink health as Prometheus text.

    Raises `ConfigurationError` when ``observability.metrics`` is off.
    """
    if not container.settings.observability.metrics:
        raise ConfigurationError(
            "metrics are off (observability.metrics = false); turn them on to export them",
            setting="observability.metrics",
        )
    snapshot = metrics(await container.get(Pipeline))
    return render_prometheus(snapshot["pipeline"], snapshot["sinks"], container=container.id)


def resolve_callback(reference: str) -> Callable[[dict[str, Any]], object]:
    """Import the ``"module:function"`` callback; raise `ConfigurationError` naming it."""
    module_name, _, attribute = reference.partition(":")
    try:
        value: object = importlib.import_module(module_name)
        for part in attribute.split("."):
            value = getattr(value, part)
    except Exception as exc:
        raise ConfigurationError(
            f"observability.callback: cannot import {reference!r}: {exc!r}",
            setting="observability.callback",
        ) from exc
    if not callable(value):
        raise ConfigurationError(
            f"observability.callback: {reference!r} is not callable",
            setting="observability.callback",
        )
    return value


class MetricsReporter:
    """Calls ``callback(metrics(pipeline))`` every ``interval`` seconds from its own thread
    until `close`; a failing callback is reported through ``diagnostics``."""

    def __init__(
        self,
        pipeline: Pipeline,
        callback: Callable[[dict[str, Any]], object],
        *,
        interval: float,
        diagnostics: Diagnostics,
    ) -> None:
        """Start the reporting thread (daemon: it never keeps the process alive)."""
        self._pipeline = pipeline
        self._callback = callback
        self._interval = interval
        self._diagnostics = diagnostics
        self._stop = threading.Event()
        self.calls = 0
        self._thread = threading.Thread(target=self._run, name="ferrolog-metrics", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.report()

    def report(self) -> None:
        """Call the callback once now (never raises)."""
        try:
            self._callback(metrics(self._pipeline))
        except Exception as exc:
            self._diagnostics.report(
                "observability.callback", f"observability.callback failed: {exc!r}"
            )
        self.calls += 1

    def close(self) -> None:
        """Stop the thread (waits for a call in progress). Idempotent."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
