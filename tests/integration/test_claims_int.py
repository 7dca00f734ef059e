"""README claim: "int (any size)" is written as that number, even past CPython's 4300-digit
int/str conversion limit."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ferrolog import Container, Logger, Pipeline

VALUES = {
    "10**5000": 10**5000,
    "-(10**5000)+7": -(10**5000) + 7,
    "2**20000": 2**20_000,
    "10**4299": 10**4299,
    "2**63": 2**63,
}


def _parse_unlimited(text: str) -> object:
    """json.loads with the int/str digit limit lifted (for reading back only)."""
    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        return json.loads(text)
    finally:
        sys.set_int_max_str_digits(limit)


@pytest.mark.parametrize("name", VALUES)
def test_a_huge_int_is_logged_as_that_number(tmp_path: Path, name: str) -> None:
    """A huge int field (and one nested in a list) comes back as exactly the same int,
    logged while the interpreter's default digit limit is in force."""
    value = VALUES[name]
    assert sys.get_int_max_str_digits() == 4300  # the default the claim must survive
    path = tmp_path / "int.log"
    with Container.create_sync({"sinks": [{"type": "file", "path": str(path)}]}) as container:
        container.get_sync(Logger).info("big", n=value, nested=[value])
        assert container.get_sync(Pipeline).flush(10.0)
    event = _parse_unlimited(path.read_text())
    assert isinstance(event, dict)
    assert event["n"] == value, str(event["n"])[:80]
    assert event["nested"] == [value]
