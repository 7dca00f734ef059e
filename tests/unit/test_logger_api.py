"""The Logger's user-facing API: levels, binding, children, schemas, exceptions."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import FileLog
from ferrolog import Pipeline


def test_level_methods_write_their_level_names(file_log: FileLog) -> None:
    """Each level method writes its lowercase level name."""
    log = file_log.logger
    log.trace("t")
    log.debug("d")
    log.info("i")
    log.warning("w")
    log.error("e")
    log.critical("c")
    log.log(20, "by number")
    log.log("WARNING", "by name")
    levels = [(ev["level"], ev["message"]) for ev in file_log.lines()]
    assert levels == [
        ("trace", "t"),
        ("debug", "d"),
        ("info", "i"),
        ("warning", "w"),
        ("error", "e"),
        ("critical", "c"),
        ("info", "by number"),
        ("warning", "by name"),
    ]


def test_is_enabled_for_accepts_numbers_and_names(file_log: FileLog) -> None:
    """is_enabled_for compares against the logger's level; names are case-insensitive."""
    log = file_log.pipeline.logger("x", "Warning")
    assert log.level == 30
    assert log.is_enabled_for("error")
    assert log.is_enabled_for(30)
    assert not log.is_enabled_for("INFO")
    assert not log.is_enabled_for(29)


def test_unknown_level_name_is_a_value_error_listing_valid_levels(file_log: FileLog) -> None:
    """Configuring an unknown level raises ValueError naming the valid levels."""
    with pytest.raises(ValueError, match=r"unknown level .loud.*info \(20\)"):
        file_log.pipeline.logger("x", "loud")


def test_unknown_level_in_a_log_call_is_written_not_raised(file_log: FileLog) -> None:
    """log() with a level name the pipeline does not know writes the event and counts an error."""
    file_log.logger.log("LOUD", "still here", x=1)
    ev = file_log.one()
    assert (ev["level"], ev["message"], ev["x"]) == ("loud", "still here", 1)
    assert file_log.stats()["errors"] == 1


def test_custom_levels_are_per_pipeline(tmp_path: Path) -> None:
    """A custom level exists only in the pipeline that declared it."""
    a = Pipeline(sinks=[{"type": "file", "path": str(tmp_path / "a.log")}], levels={25: "notice"})
    b = Pipeline(sinks=[{"type": "null"}])
    try:
        log = a.logger("a", "notice")
        assert log.level == 25
        log.log("notice", "custom")
        assert a.flush(5)
        assert json.loads((tmp_path / "a.log").read_text())["level"] == "notice"
        with pytest.raises(ValueError):
            b.logger("b", "notice")
    finally:
        a.close()
        b.close()


def test_bind_unbind_new_and_child(file_log: FileLog) -> None:
    """bind adds fields, unbind removes them, new replaces them, child extends the name."""
    base = file_log.logger.bind(a=1, b=2)
    base.info("bound")
    base.unbind("a", "missing").info("unbound")
    base.new(c=3).info("new")
    base.child("db").info("child")
    file_log.logger.info("original")
    evs = file_log.lines()
    assert (evs[0]["a"], evs[0]["b"]) == (1, 2)
    assert "a" not in evs[1]
    assert evs[1]["b"] == 2
    assert evs[2]["c"] == 3
    assert "a" not in evs[2]
    assert evs[3]["logger"] == "test.db"
    assert evs[3]["a"] == 1
    assert "a" not in evs[4]
    assert base.bound == {"a": 1, "b": 2}


def test_call_fields_override_bound_fields(file_log: FileLog) -> None:
    """A call field with a bound field's name wins, and the key appears once."""
    file_log.logger.bind(user=1, keep=True).info("m", user=2)
    raw = file_log.path.read_text() if file_log.pipeline.flush(5) else ""
    assert raw.count('"user"') == 1
    ev = json.loads(raw)
    assert ev["user"] == 2
    assert ev["keep"] is True


def test_bound_values_are_encoded_at_bind_time(file_log: FileLog) -> None:
    """Mutating a dict after binding it does not change later events."""
    d = {"x": 1}
    log = file_log.logger.bind(d=d)
    d["x"] = 2
    log.info("m")
    assert file_log.one()["d"] == {"x": 1}


def test_message_is_positional_only(file_log: FileLog) -> None:
    """A call without a message, or with extra positionals, is a TypeError."""
    with pytest.raises(TypeError):
        file_log.logger.info()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        file_log.logger.info("a", "b")  # type: ignore[call-arg]


def test_exception_is_structured(file_log: FileLog) -> None:
    """exception() records type, message, frames, the chained cause and the traceback."""

    def inner() -> None:
        raise KeyError("missing")

    try:
        try:
            inner()
        except KeyError as e:
            raise RuntimeError("wrapped") from e
    except RuntimeError:
        file_log.logger.exception("failed", op="x")
    ev = file_log.one()
    exc = ev["exception"]
    assert ev["level"] == "error"
    assert ev["op"] == "x"
    assert exc["type"] == "RuntimeError"
    assert exc["message"] == "wrapped"
    assert exc["frames"][-1]["function"] == "test_exception_is_structured"
    assert exc["cause"]["type"] == "KeyError"
    assert exc["cause"]["frames"][-1]["function"] == "inner"
    assert "Traceback (most recent call last)" in exc["traceback"]


def test_exc_info_forms(file_log: FileLog) -> None:
    """exc_info accepts an exception instance or a sys.exc_info() tuple; False adds nothing."""
    import sys

    err = ValueError("v")
    file_log.logger.error("inst", exc_info=err)
    try:
        raise TypeError("t")
    except TypeError:
        file_log.logger.error("tuple", exc_info=sys.exc_info())
        file_log.logger.error("off", exc_info=False)
    evs = file_log.lines()
    assert evs[0]["exception"]["type"] == "ValueError"
    assert evs[1]["exception"]["type"] == "TypeError"
    assert "exception" not in evs[2]


def test_exception_groups_are_listed(file_log: FileLog) -> None:
    """An exception group lists its member exceptions."""
    import sys

    if sys.version_info < (3, 11):
        pytest.skip("exception groups are new in 3.11")
    group = ExceptionGroup("many", [ValueError("a"), TypeError("b")])  # noqa: F821
    file_log.logger.error("g", exc_info=group)
    exc = file_log.one()["exception"]
    assert [e["type"] for e in exc["exceptions"]] == ["ValueError", "TypeError"]


def test_stack_info(file_log: FileLog) -> None:
    """stack_info=True adds the caller's stack as text."""
    file_log.logger.info("here", stack_info=True)
    ev = file_log.one()
    assert ev["stack"].startswith("Stack (most recent call last)")
    assert "test_stack_info" in ev["stack"]


@pytest.mark.parametrize("schema", ["ecs", "otel"])
def test_other_schemas(make_file_log: Callable[..., FileLog], schema: str) -> None:
    """ECS and OpenTelemetry envelopes come from the same encoder."""
    log = make_file_log(f"{schema}.log", schema=schema)
    log.logger.warning("hello", user_id=7)
    try:
        raise ValueError("bad")
    except ValueError:
        log.logger.exception("boom")
    ev, err = log.lines()
    if schema == "ecs":
        assert ev["@timestamp"].endswith("Z")
        assert ev["log.level"] == "warning"
        assert ev["log.logger"] == "test"
        assert ev["message"] == "hello"
        assert ev["ecs.version"]
        assert ev["user_id"] == 7
        assert err["error"]["type"] == "ValueError"
        assert "stack_trace" in err["error"]
    else:
        assert ev["SeverityText"] == "WARNING"
        assert ev["SeverityNumber"] == 13
        assert ev["Body"] == "hello"
        assert int(ev["Timestamp"]) > 0
        assert ev["Attributes"] == {"logger.name": "test", "user_id": 7}
        assert err["SeverityNumber"] == 17
        assert err["Attributes"]["exception.type"] == "ValueError"


def test_otel_lifts_trace_context(make_file_log: Callable[..., FileLog]) -> None:
    """Under the OTel schema, trace_id/span_id (call, bound or context) become TraceId/SpanId."""
    from ferrolog import bound_contextvars

    log = make_file_log("otel.log", schema="otel")
    log.logger.info("call", trace_id="t1", span_id="s1", other=1)
    log.logger.bind(trace_id="t2").info("bound")
    with bound_contextvars(span_id="s3"):
        log.logger.info("ctx")
    a, b, c = log.lines()
    assert (a["TraceId"], a["SpanId"], a["Attributes"]["other"]) == ("t1", "s1", 1)
    assert "trace_id" not in a["Attributes"]
    assert b["TraceId"] == "t2"
    assert "trace_id" not in b["Attributes"]
    assert c["SpanId"] == "s3"
