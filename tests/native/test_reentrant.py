"""Logging from inside encoding (a `__repr__` that logs) works and loses nothing."""

from __future__ import annotations

from conftest import FileLog
from ferrolog import Logger


class Chatty:
    def __init__(self, log: Logger) -> None:
        self.log = log

    def __repr__(self) -> str:
        self.log.info("from repr", depth=1)
        return "Chatty()"


def test_repr_that_logs(file_log: FileLog) -> None:
    """Both the inner and the outer event are written whole."""
    file_log.logger.info("outer", obj=Chatty(file_log.logger))
    lines = file_log.lines()
    assert sorted(ev["message"] for ev in lines) == ["from repr", "outer"]
    outer = next(ev for ev in lines if ev["message"] == "outer")
    assert outer["obj"] == "Chatty()"
    stats = file_log.stats()
    assert stats["emitted"] == stats["written"] == 2


def test_repr_that_mutates_the_dict_being_encoded(file_log: FileLog) -> None:
    """A value that clears its own container mid-encoding does not crash the process."""
    d: dict[str, object] = {}

    class Mutator:
        def __repr__(self) -> str:
            d.clear()
            return "M"

    d.update(a=Mutator(), b=2)
    file_log.logger.info("m", d=d)
    assert file_log.one()["message"] == "m"


def test_list_shrinking_during_encoding(file_log: FileLog) -> None:
    """A list emptied by one of its items' repr is written up to where it ended."""
    items: list[object] = []

    class Shrinker:
        def __repr__(self) -> str:
            items.clear()
            return "S"

    items.extend([Shrinker(), 1, 2, 3])
    file_log.logger.info("m", items=items)
    assert file_log.one()["items"] == ["S"]
