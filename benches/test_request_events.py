"""Request events (issue 21): what a canonical event costs. Run with ``make bench``.

- service: one FastAPI request driven in-process through ASGI (no network, no httpx), the
  app writing one canonical event with five added fields against the same request writing
  five separate events (the classic access event plus four from the endpoint); JSON lines to
  the null sink. pytest-benchmark's time is per round of ``REQUESTS`` requests.
- caller: per round of ``CALLS`` calls inside an open scope: adding a field to the request
  event, a DEBUG event the buffer holds (and discards at the scope's end), against a plain
  ``info()``. The instruction counts of the same shapes are in benches/instructions.py
  (``--cases plain,reqadd,buffered``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hotpath_support import CALLS, RING_BYTES, native

pytest.importorskip("fastapi", reason="needs fastapi (the dev extra)")

import ferrolog

REQUESTS = 200


def _pipeline(**request_events: Any) -> Any:
    return native().Pipeline(
        sinks=[{"type": "null"}],
        capacity_bytes=RING_BYTES,
        overflow="block",
        request_events=request_events,
    )


def _app(canonical: bool) -> tuple[Any, Any]:
    """A FastAPI app behind RequestContextMiddleware, logging to a null-sink pipeline."""
    from fastapi import FastAPI

    from ferrolog.fastapi import RequestContextMiddleware

    pipeline = _pipeline(enabled=canonical)
    root = pipeline.logger("app", "info")
    app = FastAPI()
    app.add_middleware(RequestContextMiddleware, logger=root.child("access"))

    if canonical:

        @app.get("/items/{item_id}")
        async def wide(item_id: int) -> dict[str, int]:
            ferrolog.add_to_request_event(item_id=item_id, cache="hit")
            ferrolog.add_to_request_event(user_id=7, plan="pro")
            ferrolog.add_to_request_event(db_ms=1.5)
            return {"id": item_id}

    else:

        @app.get("/items/{item_id}")
        async def five(item_id: int) -> dict[str, int]:
            root.info("item lookup", item_id=item_id)
            root.info("cache", cache="hit")
            root.info("user", user_id=7, plan="pro")
            root.info("db", db_ms=1.5)
            return {"id": item_id}

    return app, pipeline


def _driver(app: Any) -> Callable[[int], Any]:
    """A coroutine function making ``n`` GET requests straight through the ASGI interface."""

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    async def requests(n: int) -> None:
        for i in range(n):
            scope = {
                "type": "http",
                "asgi": {"version": "3.0"},
                "http_version": "1.1",
                "method": "GET",
                "scheme": "http",
                "path": f"/items/{i}",
                "raw_path": f"/items/{i}".encode(),
                "query_string": b"",
                "root_path": "",
                "headers": [(b"host", b"bench")],
                "client": ("127.0.0.1", 1234),
                "server": ("bench", 80),
            }
            await app(scope, receive, send)

    return requests


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    try:
        yield loop
    finally:
        loop.close()


@pytest.mark.benchmark(group="request-events-service", min_rounds=10, warmup=True)
@pytest.mark.parametrize("shape", ["canonical", "five_events"])
def test_request_with_a_canonical_event_vs_five_events(
    benchmark: Any, loop: asyncio.AbstractEventLoop, shape: str
) -> None:
    app, pipeline = _app(canonical=shape == "canonical")
    requests = _driver(app)
    try:
        benchmark(lambda: loop.run_until_complete(requests(REQUESTS)))
        stats = pipeline.stats()
        per_request = 1 if shape == "canonical" else 5
        assert stats["emitted"] > 0
        assert stats["emitted"] % per_request == 0
        benchmark.extra_info["events_per_request"] = per_request
        if benchmark.stats is not None:  # None under --benchmark-disable
            benchmark.extra_info["us_per_request"] = round(
                benchmark.stats.stats.median / REQUESTS * 1e6, 2
            )
    finally:
        pipeline.close(10.0)


@pytest.mark.benchmark(group="request-events-caller", min_rounds=20, warmup=True)
@pytest.mark.parametrize("shape", ["info", "add_field", "buffered_debug"])
def test_caller_cost_inside_a_scope(benchmark: Any, shape: str) -> None:
    """Each round opens a scope, makes the calls and closes it (its held events discarded)."""
    pipeline = _pipeline(buffer=True, max_events=CALLS)
    log = pipeline.logger("bench", "info")
    add = ferrolog.add_to_request_event
    info, debug = log.info, log.debug

    def run_info() -> None:
        with ferrolog.request_scope(log):
            for i in range(CALLS):
                info("request handled", user_id=i, path="/api/items", latency_ms=12.5)

    def run_add() -> None:
        with ferrolog.request_scope(log):
            for i in range(CALLS):
                add(user_id=i)

    def run_debug() -> None:
        with ferrolog.request_scope(log):
            for i in range(CALLS):
                debug("request handled", user_id=i, path="/api/items", latency_ms=12.5)

    runs = {"info": run_info, "add_field": run_add, "buffered_debug": run_debug}
    try:
        benchmark(runs[shape])
        stats = pipeline.stats()
        if shape == "buffered_debug":
            assert stats["buffered"] > 0
            assert stats["buffer_discarded"] == stats["buffered"], "all held, all discarded"
        if benchmark.stats is not None:  # None under --benchmark-disable
            median = benchmark.stats.stats.median
            benchmark.extra_info["ns_per_call"] = round(median / CALLS * 1e9, 1)
    finally:
        pipeline.close(10.0)
