"""Regressions for hostile inputs the property tests found: each writes one valid JSON line
with unique keys, and never raises or crashes the interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ferrolog import Container, Logger, Pipeline


class Lines:
    def __init__(self, log: Logger, pipeline: Pipeline, path: Path) -> None:
        self.log, self.pipeline, self.path = log, pipeline, path

    def one(self) -> tuple[dict[str, Any], list[str]]:
        """The only line so far, parsed strictly, and its top-level keys (duplicates kept)."""
        assert self.pipeline.flush(10.0)
        raw = self.path.read_bytes()
        assert raw.count(b"\n") == 1, raw[:300]
        keys: list[str] = []

        def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
            keys[:] = [k for k, _ in pairs]
            return dict(pairs)

        event = json.loads(raw.decode("utf-8", "strict"), object_pairs_hook=hook)
        return event, keys


@pytest.fixture
def lines(tmp_path: Path) -> Iterator[Lines]:
    path = tmp_path / "hostile.log"
    with Container.create_sync({"sinks": [{"type": "file", "path": str(path)}]}) as container:
        yield Lines(container.get_sync(Logger), container.get_sync(Pipeline), path)


def _unique(keys: list[str]) -> None:
    assert len(keys) == len(set(keys)), f"duplicate keys: {keys}"


def test_enum_values_that_cycle_do_not_crash_the_interpreter() -> None:
    """Two enum members whose values refer to each other are cut like any cycle; the process
    neither overflows its stack nor dies (run in a subprocess: today it segfaults)."""
    code = textwrap.dedent(
        """
        import enum, json
        from ferrolog import _native
        class E(enum.Enum):
            A = 1
            B = 2
        E.A._value_ = E.B
        E.B._value_ = E.A
        print(json.loads(_native.encode({"e": E.A})))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, f"exit status {out.returncode}: {out.stderr[-500:]}"


@pytest.mark.parametrize("digits", [4301, 70_000])
def test_a_huge_int_dict_key_gives_valid_json(lines: Lines, digits: int) -> None:
    """A dict key that is an int past the 4300-digit str() limit, or past the event cap,
    still gives a valid JSON line (no marker string nested inside the key's quotes)."""
    lines.log.info("m", d={10 ** (digits - 1): 1})
    event, _ = lines.one()
    (key,) = event["d"]
    assert isinstance(key, str)


class LyingInt(int):
    def __str__(self) -> str:
        return "not a number"


def test_an_int_subclass_with_its_own_str_gives_valid_json(lines: Lines) -> None:
    """An int subclass beyond 64 bits whose __str__ returns text is written as its number."""
    lines.log.info("m", n=LyingInt(2**64))
    event, _ = lines.one()
    assert event["n"] == 2**64


def test_a_surrogate_field_name_on_a_capped_clashing_event_does_not_raise(lines: Lines) -> None:
    """An 8-character field name holding a lone surrogate, on an event cut at the size cap
    whose other field clashes with a bound one, neither raises (today: SystemError "returned
    a result with an exception set", from a UnicodeEncodeError left pending) nor loses the line.
    """
    lines.log.bind(a=1).info("x" * 70_000, a=2, **{"bbbbbbb\ud800": None})
    event, _ = lines.one()
    assert event["_truncated"] is True


def test_field_dot_name_and_reserved_name_do_not_collide(lines: Lines) -> None:
    """Fields `message` and `field.message` are two values: both kept, under distinct keys."""
    lines.log.bind(message=1).info("m", **{"field.message": 2})
    event, keys = lines.one()
    _unique(keys)
    assert sorted(v for k, v in event.items() if k.startswith("field.")) == [1, 2]


def test_a_stack_field_and_stack_info_do_not_collide(lines: Lines) -> None:
    """A field named `stack` with stack_info=True: the field and the stack both survive."""
    lines.log.info("m", stack="mine", stack_info=True)
    event, keys = lines.one()
    _unique(keys)
    assert "mine" in event.values()
    assert any(str(v).startswith("Stack (most recent call last)") for v in event.values())


def test_a_truncated_field_does_not_hide_the_truncation_marker(lines: Lines) -> None:
    """A user field named `_truncated` on an event that is cut: the marker stays readable."""
    lines.log.info("m", _truncated="mine", big="x" * 70_000)
    event, keys = lines.one()
    _unique(keys)
    assert event["_truncated"] is True


@pytest.mark.parametrize("char", ["\x00", "\x1f", '"', "\\"])
def test_text_that_escaping_multiplies_stays_within_the_cap(lines: Lines, char: str) -> None:
    """60 KiB of a character JSON escapes to 2 or 6 bytes gives one line within the 64 KiB
    event cap, cut and marked (today: an over-long line, or a dropped event)."""
    lines.log.info("m", text=char * 60 * 1024)
    assert lines.pipeline.flush(10.0)
    assert len(lines.path.read_bytes()) <= 64 * 1024 + 1
    event, _ = lines.one()
    assert event["_truncated"] is True
    assert set(event["text"].removesuffix("…<truncated>")) == {char}
