"""`ProcessorChain`: caller-side plugins (filters, enrichers, redactors) run on each event,
isolated from each other and from the log call.

The native logger calls the chain on the caller's thread, before encoding, with the event as a
dict (``message``, ``level``, ``logger`` and the context, bound and call fields), only when a
pipeline has one: without plugins the fast path never enters Python. Filters run first (any
``accept(event)`` that is false drops the event, counted as ``filtered``), then enrichers
(``enrich(event)`` returns a mapping of fields to add), then redactors (``redact(event)``
returns the event to log).

Isolation: a plugin that raises, returns the wrong type, or takes longer than its timeout is
counted, reported once (rate-limited) with its name on the diagnostics channel, and after
``failure_threshold`` failures in a row its circuit breaker opens and it is skipped until a
probe after ``recovery_timeout`` succeeds. Its event is never lost: a failed filter keeps the
event, a failed enricher adds nothing. A failed redactor is the one exception made for safety:
the event is logged with its message but without its fields, and with
``redaction_failed`` naming the redactor, so a broken redactor cannot leak what it should have
removed. A caller-side call cannot be interrupted; a slow one is counted as a failure after it
returns, so a plugin that keeps blocking is disabled.
"""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ferrolog._diagnostics import Diagnostics
from ferrolog._hierarchy import PluginError

__all__ = ["ProcessorChain"]

#: How long one caller-side plugin call may take, unless the plugin sets ``timeout``.
DEFAULT_TIMEOUT = 0.25
FAILURE_THRESHOLD = 5
RECOVERY_TIMEOUT = 30.0

_RESERVED = ("message", "level", "logger")


class PluginCallError(PluginError):
    """What a caller-side plugin did wrong (counted and reported, never raised to the caller)."""


def plugin_name(plugin: object) -> str:
    """A plugin's name for reports: its ``name`` attribute when that is a str, else its class."""
    name = getattr(plugin, "name", None)
    return name if isinstance(name, str) and name else type(plugin).__name__


class _Stage:
    """One plugin, its counters, and its breaker: closed; open after ``FAILURE_THRESHOLD``
    failures in a row (the plugin is skipped); after ``RECOVERY_TIMEOUT`` one call probes it
    (half-open), which closes the breaker on success and opens it again on failure.

    Inline rather than a `CircuitBreaker`: it runs inside every log call, and with the GIL
    held (the extension declares it needs the GIL) plain attributes are enough.
    """

    def __init__(
        self,
        plugin: object,
        kind: str,
        method: str,
        diagnostics: Diagnostics,
        clock: Callable[[], float],
    ) -> None:
        fn = getattr(plugin, method, None)
        if not callable(fn):
            raise TypeError(
                f"{kind} plugin {plugin_name(plugin)!r} has no callable {method}(event) method"
            )
        self.fn: Callable[[dict[str, Any]], object] = fn
        self.kind = kind
        self.name = plugin_name(plugin)
        timeout = getattr(plugin, "timeout", None)
        self.timeout = DEFAULT_TIMEOUT
        if isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout > 0:
            self.timeout = float(timeout)
        self._diagnostics = diagnostics
        self._clock = clock
        self._consecutive = 0
        self._open_until = 0.0  # 0: closed
        self._probing = False
        self.calls = self.failures = self.skipped = self.slow = self.opened = 0

    @property
    def state(self) -> str:
        if not self._open_until:
            return "closed"
        return "half_open" if self._probing or self._clock() >= self._open_until else "open"

    def run(self, event: dict[str, Any]) -> tuple[bool, object]:
        """Call the plugin: ``(True, result)``, or ``(False, None)`` when it failed or was
        skipped (disabled). A call slower than the timeout still returns its result."""
        clock = self._clock
        if self._open_until:
            if self._probing or clock() < self._open_until:
                self.skipped += 1
                return False, None
            self._probing = True  # half-open: this call is the probe
        self.calls += 1
        started = clock()
        try:
            result = self.fn(event)
        except Exception as exc:
            self._failed(exc)
            return False, None
        took = clock() - started
        if not isinstance(result, (dict, bool)) and inspect.isawaitable(result):
            close = getattr(result, "close", None)
            if callable(close):
                close()
            self._failed(
                PluginCallError(
                    "returned an awaitable: caller-side plugins run inside the log call "
                    "and must be plain functions"
                )
            )
            return False, None
        if took > self.timeout:
            self.slow += 1
            self._failed(
                PluginCallError(
                    f"took {took:.3g} s, more than its timeout of {self.timeout:g} s "
                    "(the call was not interrupted; its result was used)"
                )
            )
            return True, result
        if self._consecutive or self._open_until:
            self._succeeded()
        return True, result

    def _failed(self, exc: BaseException) -> None:
        self.failures += 1
        self._consecutive += 1
        reason = str(exc) if isinstance(exc, PluginCallError) else repr(exc)
        self._diagnostics.report(
            f"{self.kind}:{self.name}:failed", f"{self.kind} plugin {self.name} failed: {reason}"
        )
        if self._probing or self._consecutive >= FAILURE_THRESHOLD:
            self._probing = False
            self._open_until = self._clock() + RECOVERY_TIMEOUT
            self.opened += 1
            self._diagnostics.report(
                f"{self.kind}:{self.name}:open",
                f"{self.kind} plugin {self.name} disabled after {self._consecutive} failure(s) "
                f"in a row; tried again in {RECOVERY_TIMEOUT:g} s",
            )

    def _succeeded(self) -> None:
        if self._open_until:
            self._diagnostics.report(
                f"{self.kind}:{self.name}:closed",
                f"{self.kind} plugin {self.name} recovered; it runs again",
            )
        self._consecutive = 0
        self._open_until = 0.0
        self._probing = False

    def garbage(self, what: str) -> None:
        """The plugin returned something it must not: a failure like a raise."""
        self._failed(PluginCallError(what))

    def stats(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "calls": self.calls,
            "failures": self.failures,
            "slow": self.slow,
            "skipped": self.skipped,
            "state": self.state,
            "disabled": self.state == "open",
        }


class ProcessorChain:
    """Filters, then enrichers, then redactors, each isolated (see the module's docs).

    Call it with an event dict; it returns the event to log, or None to drop it. It never
    raises. A plugin that logs through the same pipeline from inside its call is not run again
    for that nested event (which is logged as it is), so a chain cannot recurse.
    """

    def __init__(
        self,
        filters: Sequence[object] = (),
        enrichers: Sequence[object] = (),
        redactors: Sequence[object] = (),
        *,
        diagnostics: Diagnostics | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.diagnostics = diagnostics if diagnostics is not None else Diagnostics()
        d = self.diagnostics
        self._clock = clock
        self._filters = [_Stage(p, "filter", "accept", d, clock) for p in filters]
        self._enrichers = [_Stage(p, "enricher", "enrich", d, clock) for p in enrichers]
        self._redactors = [_Stage(p, "redactor", "redact", d, clock) for p in redactors]
        self._local = threading.local()

    def add_enricher(self, plugin: object, *, first: bool = False) -> None:
        """Add an enricher (isolated like the others), last or, with ``first``, first.

        For enrichers ferrolog builds in (e.g. `ferrolog.otel.TraceContext`); call it before
        the chain is handed to a pipeline.
        """
        stage = _Stage(plugin, "enricher", "enrich", self.diagnostics, self._clock)
        self._enrichers.insert(0 if first else len(self._enrichers), stage)

    def __bool__(self) -> bool:
        return bool(self._filters or self._enrichers or self._redactors)

    def __call__(self, event: dict[str, Any]) -> dict[str, Any] | None:
        if getattr(self._local, "active", False):
            return event  # a plugin logging from inside its own call
        self._local.active = True
        try:
            return self._process(event)
        except Exception as exc:  # a bug of ours must not become a failed log call
            self.diagnostics.report("chain", f"processor chain failed: {exc!r}")
            return event
        finally:
            self._local.active = False

    def _process(self, event: dict[str, Any]) -> dict[str, Any] | None:
        for stage in self._filters:
            ok, accepted = stage.run(event)
            if not ok:
                continue  # a failed or disabled filter keeps the event
            if not isinstance(accepted, bool):
                stage.garbage(f"accept() returned {type(accepted).__name__}, not bool")
                continue
            if not accepted:
                return None
        for stage in self._enrichers:
            ok, extra = stage.run(event)
            if not ok:
                continue
            if not isinstance(extra, Mapping):
                stage.garbage(f"enrich() returned {type(extra).__name__}, not a mapping")
                continue
            for key, value in extra.items():
                if isinstance(key, str):
                    event[key] = value
        for stage in self._redactors:
            ok, redacted = stage.run(event)
            if ok and isinstance(redacted, dict):
                event = {k: v for k, v in redacted.items() if isinstance(k, str)}
                continue
            if ok:
                stage.garbage(f"redact() returned {type(redacted).__name__}, not a dict")
            # Failed, disabled or garbage: keep nothing it may have had to remove.
            event = {key: event[key] for key in _RESERVED if key in event}
            event["redaction_failed"] = stage.name
        return event

    def stats(self) -> list[dict[str, Any]]:
        """Each plugin's counters and breaker state, in the order they run."""
        return [s.stats() for s in (*self._filters, *self._enrichers, *self._redactors)]
