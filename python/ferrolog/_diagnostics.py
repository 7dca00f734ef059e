"""`Diagnostics`: ferrolog's own channel for reporting trouble, rate-limited per key.

Breaker state changes (and, later, fallback switches and plugin failures) are reported here,
never through the user's logging pipeline: a failing pipeline reporting its failure into
itself could loop or drown the events it exists for. Each container has its own instance.
"""

from __future__ import annotations

import io
import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["Diagnostics", "NullStream"]


class NullStream(io.TextIOBase):
    """A text stream that discards what is written (``diagnostics.stream = "none"``)."""

    def write(self, text: str) -> int:
        """Discard ``text``."""
        return len(text)


class Diagnostics:
    """Writes ``ferrolog: <message>`` lines to a stream (standard error by default), at most
    one per ``key`` every ``interval`` seconds; the rest are counted and summarised in the
    key's next line. Thread-safe; never raises (a broken stream is counted in ``.failed``).
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``stream=None`` writes to the current ``sys.stderr`` at each report."""
        if not interval >= 0:
            raise ValueError(f"Diagnostics: interval must be >= 0 seconds, not {interval!r}")
        self._stream = stream
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        # key -> (time of the last written line, reports suppressed since)
        self._keys: dict[str, tuple[float, int]] = {}
        self.written = 0
        self.suppressed = 0
        self.failed = 0

    def report(self, key: str, message: str) -> bool:
        """Report ``message`` under ``key``; return whether it was written (not rate-limited)."""
        now = self._clock()
        with self._lock:
            last = self._keys.get(key)
            if last is not None and now - last[0] < self._interval:
                self._keys[key] = (last[0], last[1] + 1)
                self.suppressed += 1
                return False
            skipped = last[1] if last is not None else 0
            self._keys[key] = (now, 0)
            self.written += 1
        line = f"ferrolog: {message}"
        if skipped:
            line += f" ({skipped} similar report(s) suppressed)"
        stream = self._stream if self._stream is not None else sys.stderr
        try:
            stream.write(line + "\n")
            stream.flush()
        except Exception:
            with self._lock:
                self.failed += 1
        return True
