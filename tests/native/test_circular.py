"""Cycles in logged values are cut with a marker instead of recursing forever."""

from __future__ import annotations

from typing import Any

from conftest import FileLog


def test_self_referencing_dict(file_log: FileLog) -> None:
    """A dict containing itself is written once, with `<cycle>` where it recurs."""
    d: dict[str, Any] = {"a": 1}
    d["self"] = d
    file_log.logger.info("m", d=d)
    assert file_log.one()["d"] == {"a": 1, "self": "<cycle>"}


def test_mutual_list_cycle(file_log: FileLog) -> None:
    """Two lists containing each other end in a cycle marker."""
    a: list[Any] = [1]
    b: list[Any] = [2, a]
    a.append(b)
    file_log.logger.info("m", a=a)
    assert file_log.one()["a"] == [1, [2, "<cycle>"]]


def test_shared_but_acyclic_values_are_not_cycles(file_log: FileLog) -> None:
    """The same object appearing twice side by side is written twice in full."""
    shared = {"k": [1, 2]}
    file_log.logger.info("m", pair=[shared, shared])
    assert file_log.one()["pair"] == [shared, shared]
