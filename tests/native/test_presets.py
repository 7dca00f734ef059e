"""The vendor presets of the output schema: ``gcp`` (Google Cloud Logging) and ``datadog``.

The field names are the vendors' documented ones:

- Google Cloud Logging, "Structured logging" (special JSON fields of ``jsonPayload``):
  ``severity`` (a ``LogSeverity`` name: DEFAULT, DEBUG, INFO, NOTICE, WARNING, ERROR,
  CRITICAL, ALERT, EMERGENCY), ``message``, ``time`` (RFC 3339), ``httpRequest`` (an
  ``HttpRequest`` object: ``requestMethod``, ``requestUrl``, ``status``, ``latency``, ...),
  ``logging.googleapis.com/trace`` (``projects/[PROJECT_ID]/traces/[TRACE_ID]``) and
  ``logging.googleapis.com/spanId``; Error Reporting reads a formatted stack trace from
  ``stack_trace``.
- Datadog, "Reserved attributes" and "Correlate logs and traces" (Python): ``status``,
  ``service``, ``env``, ``version``, ``message``, ``timestamp``, ``logger.name``, the standard
  ``error.kind``/``error.message``/``error.stack``, and ``dd.trace_id``, ``dd.span_id``,
  ``dd.service``, ``dd.env``, ``dd.version``; an OpenTelemetry trace id (128 bits, 32 hex
  digits) is given to Datadog as the unsigned decimal of its low 64 bits ("Trace IDs" and
  "Correlate OpenTelemetry traces and logs").
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import FileLog
from ferrolog import Container, Logger, bound_contextvars
from ferrolog._native import Pipeline
from ferrolog.config import Settings
from ferrolog.errors import SettingsError

MakeLog = Callable[..., FileLog]

GCP_SEVERITIES = {
    "DEFAULT",
    "DEBUG",
    "INFO",
    "NOTICE",
    "WARNING",
    "ERROR",
    "CRITICAL",
    "ALERT",
    "EMERGENCY",
}
DATADOG_STATUSES = {s.lower() for s in GCP_SEVERITIES - {"DEFAULT"}}
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
TRACE = "0af7651916cd43dd8448eb211c80319c"
SPAN = "00f067aa0ba902b7"


def test_gcp_envelope_uses_cloud_loggings_special_fields(make_file_log: MakeLog) -> None:
    log = make_file_log("gcp.log", schema="gcp", gcp_project="my-project")
    log.logger.warning("disk low", free_mb=12)
    log.logger.info("traced", trace_id=TRACE, span_id=SPAN)
    ev, traced = log.lines()
    assert list(ev)[:4] == ["time", "severity", "logger", "message"]
    assert RFC3339.match(ev["time"])
    assert (ev["severity"], ev["message"], ev["free_mb"]) == ("WARNING", "disk low", 12)
    assert traced["logging.googleapis.com/trace"] == f"projects/my-project/traces/{TRACE}"
    assert traced["logging.googleapis.com/spanId"] == SPAN
    assert "trace_id" not in traced
    assert "span_id" not in traced


def test_gcp_severity_names_for_every_level(make_file_log: MakeLog) -> None:
    """Standard levels map to their LogSeverity; custom levels to the band they fall in."""
    log = make_file_log(
        "sev.log", schema="gcp", levels={25: "notice", 60: "alert", 70: "emergency"}
    )
    for level in ("trace", "debug", "info", "notice", "warning", "error", "critical"):
        log.logger.log(level, level)
    log.logger.log("alert", "alert")
    log.logger.log("emergency", "emergency")
    log.logger.log("no-such-level", "unknown")
    got = {e["message"]: e["severity"] for e in log.lines()}
    assert got == {
        "trace": "DEBUG",
        "debug": "DEBUG",
        "info": "INFO",
        "notice": "NOTICE",
        "warning": "WARNING",
        "error": "ERROR",
        "critical": "CRITICAL",
        "alert": "ALERT",
        "emergency": "EMERGENCY",
        "unknown": "DEFAULT",
    }
    assert set(got.values()) <= GCP_SEVERITIES


def test_gcp_trace_without_a_project_and_http_request(make_file_log: MakeLog) -> None:
    log = make_file_log("gcp2.log", schema="gcp")
    request = {"requestMethod": "GET", "requestUrl": "/items/1", "status": 200, "latency": "0.012s"}
    with bound_contextvars(trace_id=TRACE):
        log.logger.info("request handled", http_request=request)
    ev = log.one()
    assert ev["logging.googleapis.com/trace"] == TRACE
    assert ev["httpRequest"] == request
    assert "http_request" not in ev


def test_gcp_exception_and_reserved_names(make_file_log: MakeLog) -> None:
    log = make_file_log("gcp3.log", schema="gcp")
    try:
        raise KeyError("k")
    except KeyError:
        log.logger.exception("boom", severity="mine", stack_trace="x", httpRequest=1)
    ev = log.one()
    assert ev["severity"] == "ERROR"
    assert ev["stack_trace"].startswith("Traceback (most recent call last)")
    assert ev["exception"]["type"] == "KeyError"
    assert (ev["field.severity"], ev["field.stack_trace"], ev["field.httpRequest"]) == (
        "mine",
        "x",
        1,
    )


def test_datadog_envelope_uses_reserved_attributes(tmp_path: Path) -> None:
    path = tmp_path / "dd.log"
    settings = Settings(
        sinks=[{"type": "file", "path": str(path)}],
        schema="datadog",
        static_fields={"service": "api", "env": "prod", "version": "1.2.3"},
    )
    with Container.create_sync(settings) as container:
        log = container.get_sync(Logger)
        log.info("traced", trace_id=TRACE, span_id=SPAN)
        try:
            raise ValueError("bad")
        except ValueError:
            log.exception("boom")
    ev, err = (json.loads(line) for line in path.read_text().splitlines())
    assert list(ev)[:4] == ["timestamp", "status", "logger.name", "message"]
    assert RFC3339.match(ev["timestamp"])
    assert (ev["status"], ev["logger.name"], ev["message"]) == ("info", "app", "traced")
    assert (ev["service"], ev["env"], ev["version"]) == ("api", "prod", "1.2.3")
    assert (ev["dd.service"], ev["dd.env"], ev["dd.version"]) == ("api", "prod", "1.2.3")
    assert ev["dd.trace_id"] == str(int(TRACE, 16) & (2**64 - 1)) == "9532127138774266268"
    assert ev["dd.span_id"] == str(int(SPAN, 16)) == "67667974448284343"
    assert err["status"] == "error"
    assert err["error"]["kind"] == "ValueError"
    assert err["error"]["message"] == "bad"
    assert "ValueError: bad" in err["error"]["stack"]


def test_datadog_ids_from_ints_and_odd_values(make_file_log: MakeLog) -> None:
    """An int id gives its low 64 bits; a value in neither form is written as it is."""
    log = make_file_log("dd2.log", schema="datadog")
    log.logger.info("int", trace_id=(1 << 100) + 42, span_id=-1)
    log.logger.info("odd", trace_id="not-hex", span_id=1.5)
    a, b = log.lines()
    assert (a["dd.trace_id"], a["dd.span_id"]) == ("42", str(2**64 - 1))
    assert (b["dd.trace_id"], b["dd.span_id"]) == ("not-hex", 1.5)


def test_datadog_status_for_every_level(make_file_log: MakeLog) -> None:
    log = make_file_log("dd3.log", schema="datadog", levels={25: "notice"})
    for level in ("trace", "debug", "info", "notice", "warning", "error", "critical"):
        log.logger.log(level, level)
    got = {e["message"]: e["status"] for e in log.lines()}
    assert got["notice"] == "notice"
    assert got["critical"] == "critical"
    assert got["trace"] == "debug"
    assert got["warning"] == "warning"
    assert set(got.values()) <= DATADOG_STATUSES


def test_the_settings_know_the_presets() -> None:
    assert Settings(schema="gcp", gcp_project="p-1").gcp_project == "p-1"
    assert Settings(schema="datadog").schema == "datadog"
    with pytest.raises(SettingsError, match="schema"):
        Settings(schema="splunk")
    with pytest.raises(SettingsError, match="gcp_project"):
        Settings(gcp_project="has space")
    with pytest.raises(ValueError, match="gcp_project"):
        Pipeline(sinks=[{"type": "null"}], gcp_project="")


@pytest.mark.parametrize("schema", ["gcp", "datadog"])
def test_routes_and_the_console_read_the_presets(
    tmp_path: Path, schema: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """A routed sink picks events by level and logger under the preset's keys; the console
    renders the preset's lines like any other."""
    errors = tmp_path / "errors.log"
    p = Pipeline(
        sinks=[
            {"type": "file", "path": str(errors), "min_level": "error", "loggers": ["app.db"]},
            {"type": "console", "colors": "never", "stream": "stderr"},
        ],
        schema=schema,
    )
    log = p.logger("app.db", "debug")
    log.info("fine", n=1)
    log.error("broken", n=2)
    p.logger("app.web").error("elsewhere")
    p.close()
    assert [json.loads(line)["message"] for line in errors.read_text().splitlines()] == ["broken"]
    shown = capfd.readouterr().err.splitlines()
    assert len(shown) == 3
    assert "INFO" in shown[0].upper()
    assert "app.db" in shown[0]
    assert "n=1" in shown[0]
    assert "ERROR" in shown[1].upper()
    assert "broken" in shown[1]
    assert "{" not in "".join(shown), shown  # rendered, not raw JSON


# Names clear of the default deny-list and of every schema's own names.
_keys = st.from_regex(r"[a-z]{1,4}_[0-9]{1,2}", fullmatch=True)
_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=3),
    max_leaves=8,
)
_files = itertools.count()


@pytest.mark.parametrize("schema", ["gcp", "datadog"])
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(fields=st.dictionaries(_keys, _values, max_size=5), level=st.sampled_from(range(5, 80)))
def test_fields_round_trip_under_the_presets(
    make_file_log: MakeLog, schema: str, fields: dict[str, Any], level: int
) -> None:
    """Any fields come back as given, next to a valid envelope whose level is one of the
    vendor's names."""
    log = make_file_log(f"rt-{next(_files)}.log", schema=schema)
    log.logger.log(level, "m", **fields)
    assert log.pipeline.flush(10.0)
    # Split on "\n" only: U+0085 and U+2028 are valid raw in a JSON string.
    (ev,) = [json.loads(line) for line in log.path.read_text("utf-8").split("\n") if line]
    if schema == "gcp":
        assert list(ev)[:4] == ["time", "severity", "logger", "message"]
        assert ev["severity"] in GCP_SEVERITIES
    else:
        assert list(ev)[:4] == ["timestamp", "status", "logger.name", "message"]
        assert ev["status"] in DATADOG_STATUSES
    assert ev["message"] == "m"
    assert {k: v for k, v in ev.items() if k not in list(ev)[:4]} == fields
