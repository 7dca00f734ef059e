"""Deeply nested values are cut at depth 32 with a marker; the call never overflows the stack."""

from __future__ import annotations

from typing import Any

from conftest import FileLog


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
