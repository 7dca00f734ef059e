"""format="otlp": the HTTP sink's request bodies are OTLP/HTTP `ExportLogsServiceRequest`s in
the JSON encoding, checked by decoding them with the official definitions
(opentelemetry-proto + protobuf's json_format)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from shipping_peers import HttpPeer

from ferrolog import Container, Logger

json_format = pytest.importorskip(
    "google.protobuf.json_format",
    reason="protobuf is not installed (the 'shipping-tests' extra: make build installs it)",
)
logs_service = pytest.importorskip(
    "opentelemetry.proto.collector.logs.v1.logs_service_pb2",
    reason="opentelemetry-proto is not installed (the 'shipping-tests' extra)",
)

#: OpenTelemetry SeverityNumber of ferrolog's standard levels.
SEVERITY = {"debug": 5, "info": 9, "warning": 13, "error": 17, "critical": 21}


@pytest.fixture
def peer() -> Iterator[HttpPeer]:
    server = HttpPeer()
    try:
        yield server
    finally:
        server.close()


def _any(value: Any) -> Any:
    """The Python value of an OTLP AnyValue message."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_any(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _any(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind)


def _nanos(timestamp: str) -> int:
    parsed = dt.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=dt.timezone.utc
    )
    return (int(parsed.timestamp()) * 1_000_000 + parsed.microsecond) * 1000


async def test_otlp_requests_decode_with_the_official_definitions(peer: HttpPeer) -> None:
    """Every event is one log record under the configured resource, in a scope named after
    its logger, with its time, severity, body and fields as typed attributes."""
    sink = {
        "type": "http",
        "url": peer.url,  # no path: the OTLP default /v1/logs
        "format": "otlp",
        "gzip": True,
        "linger": 0.05,
        "resource": {"service.name": "checkout", "service.instance.id": 7, "canary": True},
    }
    async with Container.create({"sinks": [sink], "level": "debug"}) as container:
        log = await container.get(Logger)
        other = log.bind(request_id="r-1")
        sent: list[dict[str, Any]] = []
        for i in range(60):
            level = list(SEVERITY)[i % len(SEVERITY)]
            fields = {"i": i, "ratio": i / 8 + 0.25, "ok": i % 2 == 0, "tags": ["a", i]}
            fields["ctx"] = {"user": "u" + str(i), "depth": {"n": i}}
            (other if i % 3 == 0 else log).log(level, f"event {i}", **fields)
            sent.append({"level": level, "message": f"event {i}", **fields})
        await log.flush()
    assert peer.accepted, "the collector got requests"
    records: list[tuple[str, Any]] = []
    for request in peer.accepted:
        assert request.path == "/v1/logs"
        assert request.headers["Content-Type"] == "application/json"
        message = json_format.Parse(request.body, logs_service.ExportLogsServiceRequest())
        (resource_logs,) = message.resource_logs
        attrs = {kv.key: _any(kv.value) for kv in resource_logs.resource.attributes}
        assert attrs == {"service.name": "checkout", "service.instance.id": 7, "canary": True}
        for scope_logs in resource_logs.scope_logs:
            records.extend((scope_logs.scope.name, r) for r in scope_logs.log_records)
        # The raw JSON keeps 64-bit integers as strings, as the protobuf JSON mapping says.
        raw = json.loads(request.body)
        first = raw["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
        assert isinstance(first["timeUnixNano"], str)
    records.sort(key=lambda sr: _any(next(a.value for a in sr[1].attributes if a.key == "i")))
    assert len(records) == len(sent)
    for (scope, record), want in zip(records, sent, strict=True):
        i = want["i"]
        assert scope == "app"
        assert record.severity_number == SEVERITY[want["level"]]
        assert record.severity_text == want["level"].upper()
        assert record.body.string_value == want["message"]
        assert record.time_unix_nano > 0
        assert record.observed_time_unix_nano >= record.time_unix_nano - 60 * 10**9
        attrs = {kv.key: _any(kv.value) for kv in record.attributes}
        expected = {k: v for k, v in want.items() if k not in ("level", "message")}
        if i % 3 == 0:
            expected["request_id"] = "r-1"
        assert attrs == expected
        # Typed: ints as int_value, floats as double_value, bools as bool_value.
        kinds = {kv.key: kv.value.WhichOneof("value") for kv in record.attributes}
        assert kinds["i"] == "int_value"
        assert kinds["ratio"] == "double_value"
        assert kinds["ok"] == "bool_value"
        assert kinds["tags"] == "array_value"
        assert kinds["ctx"] == "kvlist_value"


async def test_otlp_time_is_the_events_timestamp(peer: HttpPeer, tmp_path: Any) -> None:
    """timeUnixNano is the event's own timestamp to the microsecond."""
    path = tmp_path / "copy.log"
    sinks = [
        {"type": "http", "url": peer.url + "/v1/logs", "format": "otlp", "linger": 0},
        {"type": "file", "path": str(path)},
    ]
    async with Container.create({"sinks": sinks}) as container:
        log = await container.get(Logger)
        log.info("one")
        log.warning("two")
        await log.flush()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    got = []
    for request in peer.accepted:
        message = json_format.Parse(request.body, logs_service.ExportLogsServiceRequest())
        for scope_logs in message.resource_logs[0].scope_logs:
            got.extend((r.body.string_value, r.time_unix_nano) for r in scope_logs.log_records)
    assert got == [(e["message"], _nanos(e["timestamp"])) for e in lines]
