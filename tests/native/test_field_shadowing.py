"""A name bound in the request context and again by `bind()` or by the call (a middleware binds
`path`, a handler logs `path=...`): the later field wins, written once, and every other field
keeps its pre-encoded value. The encoder copies the other fields' fragments instead of merging
everything into a dict, so these tests pin the result to the merged semantics: context, then
bound, then call fields, the later winning, special keywords never fields."""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import FileLog
from ferrolog import Pipeline, bound_contextvars

ENVELOPE = ("timestamp", "level", "logger", "message")


def _fields(line: bytes) -> tuple[dict[str, Any], list[str]]:
    """The event's fields (envelope left out) and its top-level keys in order, duplicates kept."""
    keys: list[str] = []

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys[:] = [k for k, _ in pairs]
        return dict(pairs)

    event = json.loads(line, object_pairs_hook=hook)
    return {k: v for k, v in event.items() if k not in ENVELOPE and k != "pid"}, keys


def test_the_call_and_bound_fields_win_over_the_context_and_are_written_once(
    file_log: FileLog,
) -> None:
    log = file_log.logger.bind(method="BOUND", user="u1")
    with bound_contextvars(request_id="r-1", method="GET", path="/ctx", client="1.2.3.4:5"):
        log.info("request received", path="/call", user="u2", item_id=7)
    assert file_log.pipeline.flush(10.0)
    fields, keys = _fields(file_log.path.read_bytes().splitlines()[0])
    assert len(keys) == len(set(keys)), f"duplicate keys: {keys}"
    assert fields == {
        "request_id": "r-1",
        "client": "1.2.3.4:5",
        "method": "BOUND",
        "path": "/call",
        "user": "u2",
        "item_id": 7,
    }


def test_a_context_field_named_like_a_special_keyword_stays_a_field(file_log: FileLog) -> None:
    """`exc_info=False` in the call is an instruction, not a field: it shadows nothing."""
    with bound_contextvars(exc_info="from-context", path="/ctx"):
        file_log.logger.info("m", exc_info=False, path="/call")
    assert file_log.pipeline.flush(10.0)
    fields, keys = _fields(file_log.path.read_bytes().splitlines()[0])
    assert len(keys) == len(set(keys))
    assert fields == {"exc_info": "from-context", "path": "/call"}


def test_shadowed_fields_under_a_size_cap_keep_the_line_valid(tmp_path: Path) -> None:
    """With the event's budget spent inside the context fields, the line is cut with its marker
    and stays one valid JSON object with unique keys."""
    pipe = Pipeline(sinks=[{"type": "file", "path": str(tmp_path / "a.log")}], max_event_bytes=512)
    try:
        log = pipe.logger("t", "info")
        with bound_contextvars(a="x" * 200, b="y" * 200, c="z" * 200, path="/ctx"):
            log.info("m", path="/call", b="short")
        assert pipe.flush(10.0)
        line = (tmp_path / "a.log").read_bytes().splitlines()[0]
        fields, keys = _fields(line)
        assert len(line) <= 512
        assert len(keys) == len(set(keys))
        assert fields.get("_truncated") is True
        assert fields.get("path") in (None, "/call")
        assert fields.get("b") in (None, "short")
    finally:
        pipe.close(5.0)


NAMES = st.sampled_from(["request_id", "method", "path", "user", "a", "b", "exc_info", "k"])
VALUES = st.one_of(st.integers(-5, 5), st.text(string.ascii_letters, max_size=5), st.booleans())
FIELDS = st.dictionaries(NAMES, VALUES, max_size=6)


@settings(max_examples=150, deadline=None)
@given(ctx=FIELDS, bound=FIELDS, call=FIELDS)
def test_context_bound_and_call_fields_merge_as_dicts_do(
    tmp_path_factory: Any, ctx: dict[str, Any], bound: dict[str, Any], call: dict[str, Any]
) -> None:
    path = tmp_path_factory.mktemp("shadow") / "a.log"
    pipe = Pipeline(sinks=[{"type": "file", "path": str(path)}])
    try:
        log = pipe.logger("t", "info").bind(**bound)
        call = {k: v for k, v in call.items() if k != "exc_info"}  # an instruction, not a field
        with bound_contextvars(**ctx):
            log.info("m", **call)
        assert pipe.flush(10.0)
        fields, keys = _fields(path.read_bytes().splitlines()[0])
        assert len(keys) == len(set(keys)), f"duplicate keys: {keys}"
        assert fields == {**ctx, **bound, **call}
    finally:
        pipe.close(5.0)


class _Name(str):
    """A str subclass as a field name, with a hash of its own (never asked of it)."""

    def __hash__(self) -> int:
        return 7


def test_names_are_compared_by_text_not_by_identity_or_hash(file_log: FileLog) -> None:
    """Names match by their text: one built at run time (not interned, so not the keyword's
    object), one of a str subclass, and names of one length that differ
    (`request_id`/`latency_ms`: compared in full only when their hashes agree)."""
    built = "".join(["pa", "th"])  # equal to the keyword `path`, another object
    assert built == "path"
    assert built is not "path"  # noqa: F632 - the point of the test
    context: dict[str, Any] = {built: "/ctx", "request_id": "r-1", _Name("user"): "ctx-user"}
    with bound_contextvars(**context):
        file_log.logger.info("m", path="/call", latency_ms=1.5, user="call-user")
    assert file_log.pipeline.flush(10.0)
    fields, keys = _fields(file_log.path.read_bytes().splitlines()[0])
    assert len(keys) == len(set(keys)), f"duplicate keys: {keys}"
    assert fields == {"request_id": "r-1", "path": "/call", "latency_ms": 1.5, "user": "call-user"}


def test_bound_contextvars_takes_keywords_only_and_nothing_is_bound_on_error(
    file_log: FileLog,
) -> None:
    with pytest.raises(TypeError, match=r"keyword arguments only \(1 positional given\)"):
        bound_contextvars("r-1")  # type: ignore[call-arg]
    with bound_contextvars():  # no fields: binds nothing, restores nothing
        file_log.logger.info("bare")
    assert file_log.pipeline.flush(10.0)
    fields, _ = _fields(file_log.path.read_bytes().splitlines()[0])
    assert fields == {}
