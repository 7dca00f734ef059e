"""Every key of an event appears once, in every schema, whatever the fields are called: a
reserved name (envelope, exception, `stack`, `_truncated`) is written as `field.<name>`, a
reserved name already prefixed gets one more `field.`, and keys that meet once their lone
surrogates become U+FFFD are told apart with `field.` too — no value is lost."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from conftest import FileLog
from ferrolog import Logger, bound_contextvars

MakeLog = Callable[..., FileLog]
# Two lone surrogates (distinct str, both written as U+FFFD).
HIGH, LOW = "\ud800", "\udfff"


def _events(log: FileLog) -> list[tuple[dict[str, Any], list[str]]]:
    """Each line parsed strictly, with its top-level keys in order (duplicates kept); a
    duplicate key in any nested object fails the test."""
    assert log.pipeline.flush(10.0)
    out = []
    for line in log.path.read_bytes().decode("utf-8", "strict").splitlines():
        keys: list[str] = []

        def hook(pairs: list[tuple[str, Any]], keys: list[str] = keys) -> dict[str, Any]:
            keys[:] = [k for k, _ in pairs]
            _unique(keys)
            return dict(pairs)

        out.append((json.loads(line, object_pairs_hook=hook), keys))
    return out


def _one(log: FileLog) -> tuple[dict[str, Any], list[str]]:
    (event,) = _events(log)
    return event


def _unprefixed(key: str) -> str:
    while key.startswith("field."):
        key = key.removeprefix("field.")
    return key


def _unique(keys: list[str]) -> None:
    assert len(keys) == len(set(keys)), f"duplicate keys: {keys}"


def test_prefixed_reserved_names_get_one_more_prefix(file_log: FileLog) -> None:
    """`message`, `field.message` and `field.field.message` from call and bound fields are three
    keys, each a `field.` longer than its name; `field.user` is not reserved and stays."""
    log = file_log.logger.bind(**{"field.message": "b"})
    log.info("m", message="a", **{"field.field.message": "c", "field.user": "u"})
    event, keys = _one(file_log)
    _unique(keys)
    assert event["field.message"] == "a"
    assert event["field.field.message"] == "b"
    assert event["field.field.field.message"] == "c"
    assert event["field.user"] == "u"


def test_names_the_encoder_adds_are_always_renamed(file_log: FileLog) -> None:
    """User fields `stack`, `_truncated` and `exception` are renamed whether or not the event
    has a stack, is cut or carries an exception, so a field's key never depends on that."""
    file_log.logger.info("m", stack=1, _truncated=2, exception=3)
    event, keys = _one(file_log)
    _unique(keys)
    assert (event["field.stack"], event["field._truncated"], event["field.exception"]) == (1, 2, 3)
    assert not {"stack", "_truncated", "exception"} & set(event)


def test_a_field_named_like_the_exception_keeps_both(file_log: FileLog) -> None:
    """`exception=` plus `exc_info=`: the structured exception and the field both survive."""
    try:
        raise ValueError("boom")
    except ValueError:
        file_log.logger.bind(**{"field.exception": 0}).error("m", exception="mine", exc_info=True)
    event, keys = _one(file_log)
    _unique(keys)
    assert event["exception"]["type"] == "ValueError"
    assert event["field.exception"] == "mine"
    assert event["field.field.exception"] == 0


def test_ecs_reserved_names_are_renamed(make_file_log: MakeLog) -> None:
    """ECS: fields named like its envelope, `error`, `stack` and `_truncated` are renamed, on
    events that also have an error and a stack, or are cut."""
    log = make_file_log(schema="ecs", max_event_bytes=4096)
    names = ["@timestamp", "log.level", "log.logger", "message", "ecs.version", "error"]
    fields = {n: n for n in names} | {"field.error": "fe", "stack": "s", "_truncated": "t"}
    try:
        raise KeyError("k")
    except KeyError:
        log.logger.error("m", **fields, exc_info=True, stack_info=True)
    log.logger.info("cut", _truncated="t", big="x" * 8000)
    (event, _), (cut, _) = _events(log)
    for n in names:
        assert event[f"field.{n}"] == n
    assert event["field.field.error"] == "fe"
    assert (event["field.stack"], event["field._truncated"]) == ("s", "t")
    assert event["log.level"] == "error"
    assert event["error"]["type"] == "KeyError"
    assert event["stack"].startswith("Stack (most recent call last)")
    assert (cut["_truncated"], cut["field._truncated"]) == (True, "t")


def test_otel_attributes_and_envelope_keep_unique_keys(make_file_log: MakeLog) -> None:
    """OTel: attributes named like the exception's or the stack's are renamed inside
    `Attributes`; names of the envelope are attributes like any other, and a user
    `_truncated` is too (the marker is outside)."""
    log = make_file_log(schema="otel", max_event_bytes=4096)
    fields = {
        "exception.type": 1,
        "exception.message": 2,
        "exception.stacktrace": 3,
        "stack": 4,
        "logger.name": 5,
        "Attributes": 6,
        "Body": 7,
        "_truncated": 8,
    }
    try:
        raise KeyError("k")
    except KeyError:
        log.logger.error("m", **fields, exc_info=True, stack_info=True)
    log.logger.info("cut", _truncated="t", big="x" * 8000)
    (event, _), (cut, _) = _events(log)
    attributes = event["Attributes"]
    for name in ("exception.type", "exception.message", "exception.stacktrace", "stack"):
        assert f"field.{name}" in attributes, name
        assert name in attributes, name
    assert attributes["exception.type"] == "KeyError"
    assert attributes["field.logger.name"] == 5
    assert attributes["logger.name"] == log.logger.name
    assert (attributes["Attributes"], attributes["Body"], attributes["_truncated"]) == (6, 7, 8)
    assert (cut["_truncated"], cut["Attributes"]["_truncated"]) == (True, "t")


@pytest.mark.parametrize("where", ["call", "bound", "context", "mixed"])
def test_keys_that_meet_after_surrogate_replacement_are_all_kept(
    file_log: FileLog, where: str
) -> None:
    """`\\ud800`, `\\udfff` and `\\ufffd` are three names; once written they would all be
    `\\ufffd`, so later ones get `field.` prefixes and all three values are kept."""
    names = {HIGH: 1, LOW: 2, "\ufffd": 3}
    log: Logger = file_log.logger
    if where == "call":
        log.info("m", **names)
    elif where == "bound":
        log.bind(**names).info("m")
    elif where == "context":
        with bound_contextvars(**names):
            log.info("m")
    else:
        with bound_contextvars(**{"\ud800": 1}):
            log.bind(**{"\udfff": 2}).info("m", **{"\ufffd": 3})
    event, keys = _one(file_log)
    _unique(keys)
    fffd = "\ufffd"
    kept = {k: v for k, v in event.items() if _unprefixed(k) == fffd}
    assert sorted(kept.values()) == [1, 2, 3], kept
    assert fffd in kept


def test_surrogate_keys_meet_a_reserved_rename(file_log: FileLog) -> None:
    """A surrogate key that becomes `field.\\ufffd`-like text never takes another's key."""
    file_log.logger.info("m", **{HIGH: 1, LOW: 2, "field.\ufffd": 3})
    event, keys = _one(file_log)
    _unique(keys)
    assert sorted(v for k, v in event.items() if "\ufffd" in k) == [1, 2, 3]


class LogsInRepr:
    """Logs with surrogate field names from inside `__repr__`, while the outer call's per-call
    site key cache is busy (the names are then encoded without it)."""

    def __init__(self, log: Logger) -> None:
        self.log = log

    def __repr__(self) -> str:
        self.log.info("inner", **{HIGH: 1, LOW: 2})
        return "outer value"


def test_surrogate_keys_are_told_apart_without_the_key_cache(file_log: FileLog) -> None:
    """A log call made while the key cache is in use still keeps both surrogate keys."""
    file_log.logger.info("outer", v=LogsInRepr(file_log.logger))
    events = {e["message"]: (e, keys) for e, keys in _events(file_log)}
    inner, keys = events["inner"]
    _unique(keys)
    assert sorted(v for k, v in inner.items() if "\ufffd" in k) == [1, 2]
    assert events["outer"][0]["v"] == "outer value"


@pytest.mark.parametrize("name", ["bbbbbbb\ud800", "bbbbbbbbb\ud800"])
@pytest.mark.parametrize("shape", ["plain", "clash", "capped-clash", "bound"])
def test_special_length_names_with_surrogates_leave_no_error(
    file_log: FileLog, name: str, shape: str
) -> None:
    """8- and 10-character names (the lengths of `exc_info`/`stack_info`) holding a lone
    surrogate: on every path the call returns normally and writes its line."""
    log = file_log.logger
    if shape == "plain":
        log.info("m", **{name: 1})
    elif shape == "clash":
        log.bind(a=1).info("m", a=2, **{name: 1})
    elif shape == "capped-clash":
        log.bind(a=1).info("x" * 70_000, a=2, **{name: 1})
    else:
        log.bind(**{name: 1}).info("m", **{name: 2})
    event, keys = _one(file_log)
    if shape == "capped-clash":
        assert event["_truncated"] is True  # the message took the room; no field fits
    else:
        assert any("\ufffd" in k for k in keys)


def test_a_child_name_with_a_surrogate_is_accepted(file_log: FileLog) -> None:
    """`child()` with a lone surrogate does not raise: the logger keeps the name as given and
    writes it with U+FFFD, dotted or absolute."""
    child = file_log.logger.child("a\ud800")
    absolute = file_log.logger.child("\udfff", absolute=True)
    assert child.name == "test.a\ud800"
    assert absolute.name == "\udfff"
    child.info("one")
    absolute.info("two")
    assert [e["logger"] for e, _ in _events(file_log)] == ["test.a\ufffd", "\ufffd"]
