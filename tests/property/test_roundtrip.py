"""Property: whatever JSON-shaped value is logged comes back equal, types kept."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ferrolog import _native

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=False))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


def _no_surrogates(v: Any) -> bool:
    if isinstance(v, str):
        return not any(0xD800 <= ord(c) <= 0xDFFF for c in v)
    if isinstance(v, list):
        return all(_no_surrogates(x) for x in v)
    if isinstance(v, dict):
        return all(_no_surrogates(k) and _no_surrogates(x) for k, x in v.items())
    return True


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(values)
def test_encoded_value_round_trips(value: Any) -> None:
    """json.loads(encode(v)) == v for nested dict/list/str/int/float/bool/None."""
    encoded = _native.encode(value)
    decoded = json.loads(encoded)
    if _no_surrogates(value):
        assert _same(decoded, value)
    else:
        encoded.decode("utf-8")  # lone surrogates replaced: still strictly valid UTF-8


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True), values, max_size=6))
def test_logged_fields_round_trip(tmp_path_factory: Any, fields: dict[str, Any]) -> None:
    """A log call's fields come back from the file equal, with their JSON types."""
    path = tmp_path_factory.mktemp("rt") / "rt.log"
    p = _native.Pipeline(sinks=[{"type": "file", "path": str(path)}])
    reserved = {"timestamp", "level", "logger", "message", "exception"}
    fields = {
        k: v
        for k, v in fields.items()
        if k not in reserved and k not in ("exc_info", "stack_info", "stacklevel")
    }
    p.logger("rt").info("m", **fields)
    assert p.close(5.0)
    ev = json.loads(path.read_text())
    for k, v in fields.items():
        if _no_surrogates(v):
            assert _same(ev[k], v), (k, v, ev[k])


@settings(max_examples=300)
@given(
    st.datetimes(timezones=st.none() | st.just(__import__("datetime").timezone.utc)),
    st.uuids(),
)
def test_datetimes_and_uuids_match_python_formatting(when: Any, uid: Any) -> None:
    """Naive and UTC datetimes and UUIDs are written exactly as isoformat()/str() write them."""
    assert json.loads(_native.encode([when, uid])) == [when.isoformat(), str(uid)]


def test_other_time_zones_use_isoformat() -> None:
    """A datetime in another time zone is written by its own isoformat()."""
    import datetime as dt

    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30)))
    assert json.loads(_native.encode(when)) == when.isoformat()


field_names = st.sampled_from(["a", "b", "c", "user", "message", "x_y"])
field_sets = st.dictionaries(field_names, st.integers() | st.text(max_size=5), max_size=4)


@settings(max_examples=150, deadline=None)
@given(st.lists(field_sets, min_size=1, max_size=4), field_sets)
def test_chained_binds_equal_one_merged_dict(
    tmp_path_factory: Any, binds: list[dict[str, Any]], call: dict[str, Any]
) -> None:
    """bind(a).bind(b)...info(**c) writes exactly {**a, **b, ..., **c}, each key once."""
    path = tmp_path_factory.mktemp("bind") / "b.log"
    p = _native.Pipeline(sinks=[{"type": "file", "path": str(path)}])
    log = p.logger("b")
    expected: dict[str, Any] = {}
    for fields in binds:
        log = log.bind(**fields)
        expected.update(fields)
    log.info("m", **call)
    expected.update(call)
    assert p.close(5.0)
    line = path.read_text()
    ev = json.loads(line)
    envelope = ("timestamp", "level", "logger", "message")
    got = {k: v for k, v in ev.items() if k not in envelope}
    # A user field named like an envelope key is kept under `field.<name>`.
    want = {("field." + k if k == "message" else k): v for k, v in expected.items()}
    assert got == want
    assert ev["message"] == "m"
    for key in want:
        assert line.count(f'"{key}":') == 1
