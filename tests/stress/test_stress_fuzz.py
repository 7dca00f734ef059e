"""Fuzzing the native encoder at the Python boundary, for a time budget (STRESS_FUZZ_SECONDS,
default 600 in `make stress`; one run of 50 examples per property in the short variant).

Hypothesis draws arbitrary objects: nested dicts/lists/tuples/sets, str with lone surrogates
and control characters, huge ints, nan/inf floats, bytes, subclasses of str/int/float/dict/list
with hostile __str__/__repr__/__iter__, objects whose __repr__ raises (even KeyboardInterrupt),
self-mutating containers, cycles, nesting past the depth limit, values past the event cap (the
strategies of tests/property/hostile.py, plus cycles). Each is logged through a real Logger
(call fields, bound fields and request context) and encoded by `_native.encode`: the process
never crashes, a log call never raises, every output is one strictly valid UTF-8 JSON line, and
`emitted == written`. JSON-native values (tests/property/test_roundtrip.py's strategies and
oracle) round-trip with their types. Runs are repeated with fresh seeds until the budget is
spent; a failure prints its seed (hypothesis.seed) to replay it."""

from __future__ import annotations

import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import seed as with_seed
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent.parent / "property"))

from hostile import (
    RESERVED,
    SPECIAL_KWARGS,
    big_text,
    deep,
    loads_exact,
    text,
    values,
)
from test_roundtrip import _DENIED as DENIED
from test_roundtrip import (
    ENVELOPE,
    REDACTED,
    _ascii_lower,
    _digits,
    _field,
    _same,
    expected,
    field_names,
)
from test_roundtrip import values as json_values

from conftest import STRESS_SEED
from ferrolog import Container, Logger, Pipeline, _native, bound_contextvars

MAX_EVENT_BYTES = 65536


def _cycle(kind: str, filler: Any) -> Any:
    if kind == "dict":
        d: dict[str, Any] = {"v": filler}
        d["self"] = d
        return d
    if kind == "list":
        items: list[Any] = [filler]
        items.append(items)
        return items
    # Two containers pointing at each other, one behind a tuple.
    outer: dict[str, Any] = {"v": filler}
    inner = [outer, (outer, filler)]
    outer["inner"] = inner
    return inner


cycles = st.builds(_cycle, st.sampled_from(["dict", "list", "mixed"]), values)
hostile_values = values | deep | cycles | big_text
names = (text | st.sampled_from(RESERVED)).filter(
    lambda k: k not in SPECIAL_KWARGS and not k.startswith("field.")
)
hostile_fields = st.dictionaries(names, hostile_values, max_size=5)
small_fields = st.dictionaries(
    st.sampled_from(["user", "message", "stack", "\ud800", "é"]), values, max_size=3
)


class Sink:
    """A container writing to a file, and the bytes it appended since the last read."""

    def __init__(self, path: Path, log: Logger, pipeline: Pipeline) -> None:
        self.path, self.log, self.pipeline = path, log, pipeline
        self.offset = 0
        self.examples = 0

    def new(self) -> list[bytes]:
        assert self.pipeline.flush(30.0)
        with self.path.open("rb") as f:
            f.seek(self.offset)
            data = f.read()
        self.offset += len(data)
        assert data == b"" or data.endswith(b"\n"), "a line without its newline"
        return data.splitlines()


def _parse(line: bytes) -> dict[str, Any]:
    """Strictly: UTF-8 without replacement, then JSON (ints of any length, read exactly)."""
    event = loads_exact(line.decode("utf-8", "strict"))
    assert isinstance(event, dict)
    return event


def _hostile_property(sink: Sink) -> Callable[[], None]:
    @given(
        message=hostile_values,
        call=hostile_fields,
        bound=small_fields,
        context=small_fields,
        alone=hostile_values,
    )
    def check(
        message: Any,
        call: dict[str, Any],
        bound: dict[str, Any],
        context: dict[str, Any],
        alone: Any,
    ) -> None:
        sink.examples += 1
        sink.new()
        before = sink.pipeline.stats()
        with bound_contextvars(**context):
            sink.log.bind(**bound).info(message, **call)
        (line,) = sink.new()
        assert len(line) <= MAX_EVENT_BYTES, len(line)
        event = _parse(line)
        assert event["level"] == "info"
        assert isinstance(event["message"], str)
        after = sink.pipeline.stats()
        assert after["emitted"] == before["emitted"] + 1
        assert after["emitted"] == after["written"]
        assert after["dropped"] == 0
        # The encoder alone, on one arbitrary value.
        loads_exact(_native.encode(alone, max_bytes=1 << 20).decode("utf-8", "strict"))

    return check


def _roundtrip_property(sink: Sink) -> Callable[[], None]:
    @given(st.dictionaries(field_names, json_values, max_size=6))
    def check(fields: dict[str, Any]) -> None:
        if _digits(fields) >= 40_000:  # past the event cap: the hostile property covers it
            return
        sink.examples += 1
        sink.new()
        sink.log.info("m", **fields)
        (line,) = sink.new()
        event = _parse(line)
        got = {k: v for k, v in event.items() if k not in ENVELOPE}
        want = {
            _field(name): REDACTED if _ascii_lower(name) in DENIED else expected(value)
            for name, value in fields.items()
        }
        assert _same(got, want), (got, want)

    return check


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        derandomize=False,
        database=None,
        deadline=None,
        print_blob=True,
        report_multiple_bugs=False,
        suppress_health_check=list(HealthCheck),
    )


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[Sink]:
    path = tmp_path / "fuzz.log"
    config = {
        "level": "debug",
        "sinks": [{"type": "file", "path": str(path)}],
        "ring": {"capacity_bytes": 1 << 24, "max_event_bytes": MAX_EVENT_BYTES},
    }
    with Container.create_sync(config) as container:
        yield Sink(path, container.get_sync(Logger), container.get_sync(Pipeline))


def _fuzz(seconds: float, per_run: int, sink: Sink, figure: Callable[[str, object], None]) -> None:
    rng = random.Random(STRESS_SEED or None)
    # Factories: each run decorates a fresh test function with its own seed and settings.
    properties = {"hostile": _hostile_property, "round-trip": _roundtrip_property}
    counts = dict.fromkeys(properties, 0)
    runs = 0
    started = time.monotonic()
    while runs == 0 or time.monotonic() - started < seconds:
        for name, make in properties.items():
            run_seed = rng.getrandbits(64)
            before = sink.examples
            try:
                with_seed(run_seed)(_settings(per_run)(make(sink)))()
            except BaseException as e:
                raise AssertionError(f"{name} property, hypothesis.seed({run_seed}): {e}") from e
            counts[name] += sink.examples - before
        runs += 1
    took = time.monotonic() - started
    figure("fuzz seconds", f"{took:.0f}")
    figure("fuzz examples", ", ".join(f"{name} {n}" for name, n in counts.items()))


def test_fuzz_the_encoder_with_arbitrary_objects(
    sink: Sink, figure: Callable[[str, object], None]
) -> None:
    _fuzz(0.0, 50, sink, figure)


@pytest.mark.stress
@pytest.mark.timeout(0)
def test_fuzz_the_encoder_with_arbitrary_objects_full(
    sink: Sink, figure: Callable[[str, object], None]
) -> None:
    _fuzz(float(os.environ.get("STRESS_FUZZ_SECONDS") or 600), 200, sink, figure)
