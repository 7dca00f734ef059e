"""Property: whatever JSON-shaped value is logged comes back as the README says, types kept.

The oracle (`expected`) is the README's contract: str/int (any size)/float/bool/None/dict/
list/tuple keep their JSON types, NaN and ±inf become strings, lone surrogates become U+FFFD,
containers nested deeper than 32 become "<max depth>", and a field named like an envelope key
is written as `field.<name>`. Values go through the public path (a Container's Logger, bound
fields and request context); `_native.encode` is checked against the same oracle only as a
fast twin with more examples.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hostile import MAX_DEPTH, RESERVED, SPECIAL_KWARGS, any_char, huge_ints, loads_exact
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ferrolog import Container, Logger, Pipeline, SyncContainer, _native, bound_contextvars
from ferrolog._native import DEFAULT_REDACTED_FIELDS

ENVELOPE = ("timestamp", "level", "logger", "message")

keys = st.text(alphabet=any_char, max_size=8) | st.sampled_from(RESERVED)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | huge_ints
    | st.floats()
    | st.text(alphabet=any_char, max_size=20)
)


def _nest(value: Any, depth: int, as_dict: bool) -> Any:
    for i in range(depth):
        value = {f"k{i}": value} if as_dict else [value]
    return value


values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(keys, inner, max_size=5)
    ),
    max_leaves=30,
) | st.builds(_nest, scalars, st.integers(MAX_DEPTH - 2, MAX_DEPTH + 4), st.booleans())

field_names = keys.filter(lambda k: k not in SPECIAL_KWARGS and not k.startswith("field."))


def _text(value: str) -> str:
    return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in value)


def expected(value: Any, depth: int = 0) -> Any:
    """What the README says `value` is written as, at `depth` enclosing containers."""
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, (list, tuple, dict)) and depth >= MAX_DEPTH:
        return "<max depth>"
    if isinstance(value, (list, tuple)):
        return [expected(v, depth + 1) for v in value]
    if isinstance(value, dict):
        # A key on the default deny-list (any case) keeps its place, its value masked.
        return {
            _text(k): REDACTED if _ascii_lower(k) in _DENIED else expected(v, depth + 1)
            for k, v in value.items()
        }
    return value


def _ascii_lower(key: str) -> str:
    """Lowercase ASCII letters only, as the encoder compares names (the Kelvin sign is not
    a "k" there)."""
    return "".join(c.lower() if c.isascii() else c for c in key)


_DENIED = frozenset(DEFAULT_REDACTED_FIELDS)
REDACTED = "[REDACTED]"


def _same(a: Any, b: Any) -> bool:
    """Equal with JSON types kept (1 is not 1.0 is not True)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


def _digits(value: Any) -> int:
    """About how many bytes the ints in `value` take (to stay below the 64 KiB event cap)."""
    if isinstance(value, int):
        return value.bit_length() * 31 // 100
    if isinstance(value, (list, tuple)):
        return sum(_digits(v) for v in value)
    if isinstance(value, dict):
        return sum(_digits(v) for v in value.values())
    return 0


def _field(name: str) -> str:
    name = _text(name)
    return f"field.{name}" if name in RESERVED else name


class Lines:
    """The module's container and the lines its file sink appended since the last read."""

    def __init__(self, container: SyncContainer, path: Path) -> None:
        self.log = container.get_sync(Logger)
        self.pipeline = container.get_sync(Pipeline)
        self.path = path
        self.offset = 0

    def new(self) -> list[dict[str, Any]]:
        assert self.pipeline.flush(30.0)
        with self.path.open("rb") as f:
            f.seek(self.offset)
            data = f.read()
        self.offset += len(data)
        return [loads_exact(line.decode("utf-8", "strict")) for line in data.splitlines()]


@pytest.fixture(scope="module")
def lines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lines]:
    path = tmp_path_factory.mktemp("roundtrip") / "rt.log"
    config = {"level": "debug", "sinks": [{"type": "file", "path": str(path)}]}
    with Container.create_sync(config) as container:
        yield Lines(container, path)


@settings(max_examples=400)
@given(values)
def test_encoded_value_matches_the_readme(value: Any) -> None:
    """_native.encode(v) (the fast twin of the public path below) writes expected(v)."""
    decoded = loads_exact(_native.encode(value, max_bytes=1 << 24).decode("utf-8", "strict"))
    assert _same(decoded, expected(value)), (decoded, expected(value))


@settings(max_examples=200)
@given(st.dictionaries(field_names, values, max_size=6))
def test_logged_fields_round_trip(lines: Lines, fields: dict[str, Any]) -> None:
    """A log call's fields, any names and any JSON-shaped values, come back as the README
    says: types kept, surrogates replaced, depth cut at 32, reserved names as field.<name>."""
    assume(_digits(fields) < 40_000)  # the event cap is tested in test_hostile_public_path
    lines.new()
    lines.log.info("m", **fields)
    (event,) = lines.new()
    assert {k: event[k] for k in ENVELOPE[1:]} == {"level": "info", "logger": "app", "message": "m"}
    got = {k: v for k, v in event.items() if k not in ENVELOPE}
    want: dict[str, Any] = {}
    for name, value in fields.items():
        want[_field(name)] = REDACTED if _ascii_lower(name) in _DENIED else expected(value)
    assert _same(got, want)


field_sets = st.dictionaries(
    st.sampled_from(["a", "b", "user", "message", "level", "é", "\ud800"]),
    st.integers() | st.text(alphabet=any_char, max_size=5),
    max_size=4,
)


@settings(max_examples=150)
@given(context=field_sets, binds=st.lists(field_sets, min_size=1, max_size=4), call=field_sets)
def test_context_binds_and_call_merge_once_call_winning(
    lines: Lines, context: dict[str, Any], binds: list[dict[str, Any]], call: dict[str, Any]
) -> None:
    """bound_contextvars(c), bind(a).bind(b)..., info(**d) write exactly {**c, **a, **b, **d}:
    each key once (the call's own field wins over a bound one, which wins over context)."""
    lines.new()
    log = lines.log
    merged: dict[str, Any] = dict(context)
    for fields in binds:
        log = log.bind(**fields)
        merged.update(fields)
    merged.update(call)
    with bound_contextvars(**context):
        log.info("m", **call)
    (event,) = lines.new()
    got = {k: v for k, v in event.items() if k not in ENVELOPE}
    want: dict[str, Any] = {}
    for name, value in merged.items():
        want[_field(name)] = REDACTED if _ascii_lower(name) in _DENIED else expected(value)
    assert _same(got, want)
    assert event["message"] == "m"


@settings(max_examples=200)
@given(
    st.datetimes(timezones=st.none() | st.just(dt.timezone.utc) | st.timezones()),
    st.dates(),
    st.times(),
    st.uuids(),
)
def test_datetimes_and_uuids_match_python_formatting(
    lines: Lines, when: dt.datetime, day: dt.date, clock: dt.time, uid: Any
) -> None:
    """Datetimes (any time zone), dates, times and UUIDs are written exactly as
    isoformat()/str() write them."""
    lines.new()
    lines.log.info("m", values=[when, day, clock, uid])
    (event,) = lines.new()
    assert event["values"] == [when.isoformat(), day.isoformat(), clock.isoformat(), str(uid)]


TRUNCATED = "…<truncated>"
CAP = 64 * 1024
long_text = st.builds(
    lambda chunk, n: chunk * n,
    st.text(alphabet=any_char, min_size=1, max_size=4),
    st.integers(min_value=1, max_value=12_000),
)


@settings(max_examples=100)
@given(st.lists(long_text, min_size=1, max_size=6))
def test_an_event_over_the_cap_keeps_a_marked_prefix_of_its_fields(
    lines: Lines, texts: list[str]
) -> None:
    """Whatever the fields' size, the line fits the 64 KiB cap; each field, in order, is
    written whole until the cut, and from the cut on as a prefix ending in the truncation mark
    (or left out); `_truncated` is true exactly when something was cut."""
    fields = {f"f{i}": text for i, text in enumerate(texts)}
    lines.new()
    lines.log.info("m", **fields)
    assert lines.pipeline.flush(30.0)
    size = lines.path.stat().st_size - lines.offset
    assert size <= CAP + 1, f"line of {size} bytes"
    (event,) = lines.new()
    written = [k for k in event if k.startswith("f")]
    assert written == list(fields)[: len(written)]  # in order; only a tail may be missing
    cut = False
    for name in written:
        want, got = _text(fields[name]), event[name]
        if cut or got != want:
            assert got.endswith(TRUNCATED), name
            assert want.startswith(got.removesuffix(TRUNCATED)), name
            cut = True
    cut = cut or len(written) < len(fields)
    assert event.get("_truncated", False) is cut
    if sum(len(t.encode("utf-8", "surrogatepass")) for t in texts) < CAP // 8:
        assert not cut  # small events are never cut, escapes included
