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

__all__ = ["MemorySink", "capture_logs", "logs"]


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
        self.events: list[dict[str, Any]] = events if events is not None else []
        self._lock = threading.Lock()

    def write_batch(self, batch: memoryview, /) -> None:
        parsed = [json.loads(line) for line in bytes(batch).splitlines()]
        with self._lock:
            self.events.extend(parsed)

    def clear(self) -> None:
        with self._lock:
            self.events.clear()


@contextmanager
def capture_logs() -> Iterator[list[dict[str, Any]]]:
    """Capture the events of the containers created inside the block in a list of dicts."""
    sink = MemorySink()
    token = CAPTURE.set(sink)
    try:
        yield sink.events
    finally:
        CAPTURE.reset(token)


try:
    import pytest
except ImportError:  # pragma: no cover - ferrolog.testing without pytest: no fixture
    pass
else:

    @pytest.fixture
    def logs() -> Iterator[list[dict[str, Any]]]:
        """The events logged by containers created during the test (see `capture_logs`)."""
        with capture_logs() as events:
            yield events
