"""Helpers for testing code that logs with ferrolog: an in-memory sink, `capture_logs()` and
the pytest fixture ``logs`` (registered through the ``pytest11`` entry point, so it is there
in any test session where ferrolog is installed).

    from ferrolog.testing import capture_logs

    with capture_logs() as logs:
        async with Container.create() as container:
            (await container.get(Logger)).info("hello", user=7)
    assert logs[0]["message"] == "hello" and logs[0]["user"] == 7

A container created inside ``capture_logs()`` writes every event, parsed, to the yielded
list instead of its configured sinks (its level, schema, filters, enrichers and redactors
still apply). Events are delivered by the pipeline's writer: they are all in the list once
the container is closed, or after ``await log.flush()``. A container created before the
capture is not captured.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ferrolog._capture import CAPTURE
from ferrolog._native import _tap_acquire, _tap_release

__all__ = ["CapturedLogs", "MemorySink", "capture_logs", "logs"]


class CapturedLogs(list[dict[str, Any]]):
    """The captured events (a list of dicts), with helpers to assert on them."""

    @property
    def messages(self) -> list[Any]:
        """Each event's message, in order."""
        return [event.get("message") for event in self]

    def matching(
        self, message: str | None = None, *, level: str | None = None, **fields: Any
    ) -> list[dict[str, Any]]:
        """The events with this message (if given), level name (if given) and field values."""
        return [
            event
            for event in self
            if (message is None or event.get("message") == message)
            and (level is None or event.get("level") == level.lower())
            and all(key in event and event[key] == value for key, value in fields.items())
        ]

    def assert_logged(
        self, message: str | None = None, *, level: str | None = None, **fields: Any
    ) -> dict[str, Any]:
        """The one event that matches (see `matching`); AssertionError, listing what was
        captured, when none or several do."""
        found = self.matching(message, level=level, **fields)
        if len(found) != 1:
            wanted = {"message": message, "level": level, **fields}
            raise AssertionError(
                f"expected exactly one event like {wanted!r}, found {len(found)} among "
                f"{len(self)} captured: {list(self)!r}"
            )
        return found[0]

    def assert_not_logged(
        self, message: str | None = None, *, level: str | None = None, **fields: Any
    ) -> None:
        """AssertionError when an event matches."""
        found = self.matching(message, level=level, **fields)
        if found:
            raise AssertionError(f"expected no event like that, found {found!r}")


class MemorySink:
    """A Python sink that keeps every event, parsed, in ``events`` (thread-safe).

    It must see every event, so it applies backpressure instead of overflowing (see
    `ferrolog.typing.PythonSink`). Usable directly: ``build_pipeline(settings,
    sinks=[MemorySink()])``.
    """

    name = "memory"
    backpressure = True
    timeout = 60.0

    def __init__(self, events: list[dict[str, Any]] | None = None) -> None:
        self.events: list[dict[str, Any]] = events if events is not None else CapturedLogs()
        self._lock = threading.Lock()

    def write_batch(self, batch: memoryview, /) -> None:
        parsed = [json.loads(line) for line in bytes(batch).splitlines()]
        with self._lock:
            self.events.extend(parsed)

    def clear(self) -> None:
        with self._lock:
            self.events.clear()


@contextmanager
def capture_logs() -> Iterator[CapturedLogs]:
    """Capture every event logged in this context, parsed, in a `CapturedLogs` list.

    Every pipeline of the process hands its events to the capture of the context that logs
    them, as they are logged (no flush needed): loggers made before the capture — a cached,
    module-level one — are captured too, and two captures in different tasks each see only
    their own. An event from a thread started without any capture's context (a plain
    `threading.Thread`) goes to the most recently started capture. A container created
    inside the capture writes nowhere else.
    """
    events = CapturedLogs()
    token = CAPTURE.set(events)
    _tap_acquire(_tap, events)
    try:
        yield events
    finally:
        _tap_release(events)
        CAPTURE.reset(token)


def _tap(line: bytes, latest: CapturedLogs | None) -> None:
    """The process-wide tap: keep the event for the capture of the logging context, or the
    latest capture started (a thread without the context)."""
    events = CAPTURE.get()
    if events is None:
        events = latest
    if events is not None:
        events.append(json.loads(line))


try:
    import pytest
except ImportError:  # pragma: no cover - ferrolog.testing without pytest: no fixture
    pass
else:

    @pytest.fixture
    def logs() -> Iterator[CapturedLogs]:
        """The events logged by containers created during the test (see `capture_logs`)."""
        with capture_logs() as events:
            yield events
