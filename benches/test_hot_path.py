"""pytest-benchmark suites for ferrolog's hot path. Run with ``make bench``.

Each caller benchmark times a round of ``CALLS`` (1,000) log calls, so pytest-benchmark's
time per round in µs is the cost per call in ns (also stored as ``extra_info['ns_per_call']``).
The bar (shared/ANCHORS.md): ≤ 0.2 µs per call in the caller, ≥ 3 M events/s end to end.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import logging
import uuid
from pathlib import Path
from typing import Any

import pytest

from hotpath_support import CALLS, make_pipeline

MESSAGE = "request handled"
PATH_VALUE = "/api/items"

pytestmark = pytest.mark.benchmark(group="caller", min_rounds=20, warmup=True)


def _per_call(benchmark: Any) -> None:
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        benchmark.extra_info["ns_per_call"] = round(stats.stats.median / CALLS * 1e9, 1)


def test_caller_plain_3_fields(benchmark: Any, null_logger: Any) -> None:
    info = null_logger.info

    def run() -> None:
        for i in range(CALLS):
            info(MESSAGE, user_id=i, path=PATH_VALUE, latency_ms=12.5)

    benchmark(run)
    _per_call(benchmark)


def test_caller_3_bound_3_call_fields(benchmark: Any, null_logger: Any) -> None:
    info = null_logger.bind(service="api", region="eu-west-1", build=4211).info

    def run() -> None:
        for i in range(CALLS):
            info(MESSAGE, user_id=i, path=PATH_VALUE, latency_ms=12.5)

    benchmark(run)
    _per_call(benchmark)


def test_caller_same_6_fields_passed_directly(benchmark: Any, null_logger: Any) -> None:
    """The baseline for the bound case: the same six fields, all given at the call."""
    info = null_logger.info

    def run() -> None:
        for i in range(CALLS):
            info(
                MESSAGE,
                service="api",
                region="eu-west-1",
                build=4211,
                user_id=i,
                path=PATH_VALUE,
                latency_ms=12.5,
            )

    benchmark(run)
    _per_call(benchmark)


def test_caller_2_contextvars(benchmark: Any, null_logger: Any) -> None:
    import ferrolog

    info = null_logger.info
    ferrolog.bind_contextvars(request_id="r-8f14e45f", tenant="acme")
    try:

        def run() -> None:
            for i in range(CALLS):
                info(MESSAGE, user_id=i, path=PATH_VALUE, latency_ms=12.5)

        benchmark(run)
    finally:
        ferrolog.clear_contextvars()
    _per_call(benchmark)


def test_caller_level_disabled(benchmark: Any, null_logger: Any) -> None:
    debug = null_logger.debug  # the logger is at INFO

    def run() -> None:
        for i in range(CALLS):
            debug(MESSAGE, user_id=i, path=PATH_VALUE, latency_ms=12.5)

    benchmark(run)
    _per_call(benchmark)
    assert null_logger.stats()["emitted"] == 0  # a disabled call is not an event


NESTED: dict[str, Any] = {
    "request": {
        "method": "POST",
        "path": "/api/orders",
        "headers": {"user-agent": "bench/1.0", "accept": "application/json", "x-retry": 0},
        "query": [["page", 3], ["size", 50]],
    },
    "order": {
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "created": dt.datetime(2026, 11, 26, 3, 40, 21, 123456, tzinfo=dt.timezone.utc),
        "total": decimal.Decimal("129.95"),
        "items": [
            {"sku": f"SKU-{n:04d}", "qty": n % 3 + 1, "price": 9.99 + n, "tags": ["a", "b"]}
            for n in range(8)
        ],
        "flags": {"gift": False, "express": True, "note": None},
    },
    "latency_ms": 12.5,
}


@pytest.mark.benchmark(group="encoder")
def test_encoder_nested_payload(benchmark: Any, null_logger: Any) -> None:
    """A nested payload (dicts, lists, UUID, datetime, Decimal, None, bool) through the encoder."""
    info = null_logger.info

    def run() -> None:
        for _ in range(CALLS):
            info("order placed", payload=NESTED)

    benchmark(run)
    _per_call(benchmark)


@pytest.mark.benchmark(group="encoder")
def test_encoder_nested_payload_encode_only(benchmark: Any) -> None:
    """The same payload through `ferrolog._native.encode` alone: no ring, no timestamp."""
    from hotpath_support import native

    encode = native().encode

    def run() -> None:
        for _ in range(CALLS):
            encode(NESTED)

    benchmark(run)
    _per_call(benchmark)
    assert json.loads(encode(NESTED))["order"]["total"] in ("129.95", 129.95)


END_TO_END_EVENTS = 100_000


@pytest.mark.benchmark(group="end-to-end", min_rounds=3, warmup=False)
def test_end_to_end_file(benchmark: Any, tmp_path: Path) -> None:
    """100,000 events to a file sink, including the flush: events/s in extra_info."""
    paths: list[Path] = []

    def setup() -> tuple[tuple[Any, Any], dict[str, Any]]:
        p = tmp_path / f"e2e-{len(paths)}.jsonl"
        paths.append(p)
        pipe = make_pipeline([{"type": "file", "path": str(p)}], overflow="block")
        return (pipe, pipe.logger("bench", logging.INFO)), {}

    def run(pipe: Any, log: Any) -> None:
        info = log.info
        for i in range(END_TO_END_EVENTS):
            info(MESSAGE, user_id=i, path=PATH_VALUE, latency_ms=12.5)
        pipe.flush(60.0)
        pipe.close(60.0)

    benchmark.pedantic(run, setup=setup, rounds=3, iterations=1)
    benchmark.extra_info["events_per_s"] = round(END_TO_END_EVENTS / benchmark.stats.stats.median)
    # nothing lost, every line typed
    with open(paths[-1], "rb") as fh:
        lines = fh.read().splitlines()
    assert len(lines) == END_TO_END_EVENTS
    last = json.loads(lines[-1])
    assert last["user_id"] == END_TO_END_EVENTS - 1
    assert last["latency_ms"] == 12.5


@pytest.mark.benchmark(group="reference")
def test_reference_orjson_floor(benchmark: Any, tmp_path: Path) -> None:
    """The pure-Python floor (orjson.dumps + buffered write), for scale next to the above."""
    orjson = pytest.importorskip("orjson")
    dumps = orjson.dumps
    with open(tmp_path / "floor.jsonl", "wb", buffering=1 << 16) as fh:
        write = fh.write

        def run() -> None:
            for i in range(CALLS):
                write(
                    dumps(
                        {
                            "level": "info",
                            "message": MESSAGE,
                            "user_id": i,
                            "path": PATH_VALUE,
                            "latency_ms": 12.5,
                        }
                    )
                    + b"\n"
                )

        benchmark(run)
    _per_call(benchmark)
