"""Deeply nested values are cut at depth 32 with a marker; the call never overflows the stack."""

from __future__ import annotations

import enum
import itertools
import json
from typing import Any

from conftest import FileLog
from ferrolog import _native


def _nest(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def test_depth_ten_thousand_is_cut(file_log: FileLog) -> None:
    """A list nested 10,000 deep is written 32 levels deep, then `<max depth>`."""
    file_log.logger.info("m", deep=_nest(10_000))
    value = file_log.one()["deep"]
    depth = 0
    while isinstance(value, list):
        value = value[0]
        depth += 1
    assert depth == 32
    assert value == "<max depth>"


def test_deep_dicts_too(file_log: FileLog) -> None:
    """Nested dicts are cut the same way."""
    d: dict[str, Any] = {}
    for _ in range(100):
        d = {"d": d}
    file_log.logger.info("m", d=d)
    value = file_log.one()["d"]
    depth = 0
    while isinstance(value, dict):
        value = value["d"]
        depth += 1
    assert depth == 32
    assert value == "<max depth>"


def test_enum_values_that_cycle_are_cut() -> None:
    """Enum members whose values refer back to them give `<cycle>`, not unbounded recursion
    (in-process: before the guard this crashed the interpreter)."""

    class E(enum.Enum):
        A = 1
        B = 2

    E.A._value_ = E.B
    E.B._value_ = E.A
    assert json.loads(_native.encode({"a": E.A, "b": [E.B]})) == {"a": "<cycle>", "b": ["<cycle>"]}


def test_a_long_chain_of_enum_values_is_cut_at_max_depth() -> None:
    """A chain of 40 enum members, each the value of the one before, counts toward the depth
    limit like nested containers."""
    E = enum.Enum("E", [f"M{i}" for i in range(40)])  # type: ignore[misc]
    members = list(E)
    for here, there in itertools.pairwise(members):
        here._value_ = there
    assert json.loads(_native.encode(members[0])) == "<max depth>"
    assert json.loads(_native.encode(members[-5])) == 40  # M39, the last, kept its own
