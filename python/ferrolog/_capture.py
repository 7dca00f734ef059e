"""Where `ferrolog.testing.capture_logs` tells containers created inside it to log to.

A ContextVar, so a capture covers the code (task, thread context) that runs inside it and
nothing else: two tests capturing at once never see each other's events.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ferrolog.testing import CapturedLogs

#: The events captured in this context (see `ferrolog.testing.capture_logs`).
CAPTURE: ContextVar[CapturedLogs | None] = ContextVar("ferrolog_capture", default=None)
