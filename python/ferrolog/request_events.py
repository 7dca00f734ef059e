"""Request scopes: one canonical ("wide") event per request, tail-sampled, with a
fingers-crossed buffer of the debug detail that is written only when the request fails.

    async with ferrolog.request_scope(log, route="/items/{id}") as scope:
        ferrolog.add_to_request_event(user_id=7)      # from anywhere inside the scope
        ferrolog.request_counter("db_queries")        # counters add up
        with ferrolog.request_timer("db_ms"):         # timings add up, in milliseconds
            ...
    # here exactly one event was written (or sampled out): status, duration_ms,
    # error_type when an exception escaped, sample_rate, and everything added.

The scope lives in a `ContextVar`: tasks created inside it and `asyncio.to_thread` calls see
the same scope, concurrent requests never see each other's. See docs/request-events.md.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from contextvars import Token
from types import TracebackType
from typing import Any

from ferrolog._native import (
    Logger,
    RequestScope,
    add_to_request_event,
    current_request_scope,
    request_counter,
    request_events_enabled,
    request_scope_var,
    request_timing,
)

__all__ = [
    "RequestScope",
    "add_to_request_event",
    "current_request_scope",
    "request_counter",
    "request_events_enabled",
    "request_scope",
    "request_timer",
    "request_timing",
]


class request_scope:
    """Open a request scope for a ``with`` or ``async with`` block; yields its `RequestScope`.

    When the block ends, ``logger`` writes the scope's canonical event with ``message`` (at
    error when an exception escaped or ``status`` is 500 or more, else at info), unless the
    pipeline's tail sampling (``Settings.request_events``) drops it. ``fields`` start the
    event; ``route`` (a field too) selects a per-route sampling rate. An exception that
    escapes is re-raised, never swallowed.
    """

    def __init__(self, logger: Logger, message: str = "request handled", **fields: Any) -> None:
        self._logger = logger
        self._message = message
        self._fields = fields
        self._scope: RequestScope | None = None
        self._token: Token[RequestScope | None] | None = None

    def __enter__(self) -> RequestScope:
        if self._scope is not None:
            raise RuntimeError("a request_scope can be entered once; make a new one")
        scope = RequestScope(self._logger, self._message, **self._fields)
        self._scope = scope
        self._token = request_scope_var.set(scope)
        return scope

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        scope, token = self._scope, self._token
        if scope is None or token is None:
            return
        self._token = None
        # Out of the scope first: the canonical event itself is not held or counted in it.
        # Left in another context than it was entered in (an async generator closed
        # elsewhere), that context's variable is not ours to reset; the event is still written.
        with suppress(ValueError):
            request_scope_var.reset(token)
        scope.finish(exc)

    async def __aenter__(self) -> RequestScope:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)


@contextmanager
def request_timer(name: str) -> Iterator[None]:
    """Time the ``with`` block and add its milliseconds to the current scope's timing ``name``
    (also when the block raises). Without a scope, nothing is recorded."""
    started = time.perf_counter()
    try:
        yield
    finally:
        request_timing(name, (time.perf_counter() - started) * 1000.0)
