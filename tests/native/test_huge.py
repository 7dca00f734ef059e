"""Oversized events are truncated to the cap with a marker, never rejected or split."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import pytest

from conftest import FileLog


def test_ten_megabyte_string_is_truncated(file_log: FileLog) -> None:
    """A 10 MB field yields one line within the 64 KiB cap, marked `_truncated`."""
    file_log.logger.info("big", blob="x" * 10_000_000, after="kept?")
    raw = file_log.path.read_bytes() if file_log.pipeline.flush(5) else b""
    assert raw.count(b"\n") == 1
    assert len(raw) <= 64 * 1024
    ev = file_log.one()
    assert ev["_truncated"] is True
    assert ev["message"] == "big"
    assert ev["blob"].startswith("xxxx")
    assert ev["blob"].endswith("…<truncated>")


def test_huge_container_is_cut(file_log: FileLog) -> None:
    """A list of a million items stops at the cap and stays valid JSON."""
    file_log.logger.info("big", items=list(range(1_000_000)))
    ev = file_log.one()
    assert ev["_truncated"] is True
    assert ev["items"][:3] == [0, 1, 2]


def test_cap_is_configurable(make_file_log: Callable[..., FileLog]) -> None:
    """`max_event_bytes` sets the cap."""
    log = make_file_log(max_event_bytes=1024)
    log.logger.info("m", s="y" * 5000)
    raw = log.path.read_bytes() if log.pipeline.flush(5) else b""
    assert len(raw) <= 1024
    assert log.one()["_truncated"] is True


def _exact_ints(line: str) -> dict[str, Any]:
    # json.loads would refuse ints past sys.get_int_max_str_digits(): compare the digits.
    return dict(json.loads(line, parse_int=lambda digits: ("int", digits)))


@pytest.mark.parametrize(
    "n",
    [10**5000, -(10**20_000) + 7, 2**100_000 - 1, 10**60_000],
    ids=["1e5000", "-1e20000+7", "2**100000-1", "1e60000"],
)
def test_ints_of_any_size_are_written_exactly(file_log: FileLog, n: int) -> None:
    """An int of any size that fits in the event is written as its exact decimal digits,
    whatever Python's int-to-str digit limit.
    """
    file_log.logger.info("m", n=n, ok=1)
    assert file_log.pipeline.flush(10)
    ev = _exact_ints(file_log.path.read_text("utf-8"))
    with_limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        assert ev["n"] == ("int", str(n))
    finally:
        sys.set_int_max_str_digits(with_limit)
    assert ev["ok"] == ("int", "1")
    assert "_truncated" not in ev


def test_an_int_beyond_the_cap_is_marked_truncated(file_log: FileLog) -> None:
    """An int with more digits than the event can hold becomes a marker naming its size, and
    the event is marked truncated and stays within the cap."""
    n = 10**70_000
    file_log.logger.info("m", n=n, ok=1)
    raw = file_log.path.read_bytes() if file_log.pipeline.flush(10) else b""
    assert len(raw) <= 64 * 1024
    ev = file_log.one()
    assert ev["n"] == f"<int of {n.bit_length()} bits>"
    assert ev["_truncated"] is True


def test_an_int_subclass_is_written_as_its_digits(file_log: FileLog) -> None:
    """A huge int subclass with its own __str__ is still written as a number."""

    class Weird(int):
        def __str__(self) -> str:
            return "not a number"

    file_log.logger.info("m", n=Weird(10**30))
    assert file_log.one()["n"] == 10**30
