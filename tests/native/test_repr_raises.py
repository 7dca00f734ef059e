"""A value whose `__repr__` (or `__str__`, `isoformat`, ...) raises never breaks the log call."""

from __future__ import annotations

import datetime as dt

from conftest import FileLog


class Broken:
    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")


class BrokenDate(dt.date):
    def isoformat(self) -> str:
        raise ValueError("nope")


def test_raising_repr_becomes_a_marker(file_log: FileLog) -> None:
    """The value is replaced by `<unrepresentable Type>` and the other fields are kept."""
    file_log.logger.info("m", bad=Broken(), good=1)
    ev = file_log.one()
    assert ev["bad"] == "<unrepresentable Broken>"
    assert ev["good"] == 1


def test_raising_isoformat_falls_back(file_log: FileLog) -> None:
    """A date subclass whose isoformat raises is still written."""
    file_log.logger.info("m", when=BrokenDate(2026, 1, 1))
    assert file_log.one()["when"] == "BrokenDate(2026, 1, 1)"


def test_raising_key_str(file_log: FileLog) -> None:
    """A dict key whose str() and repr() raise still yields a valid line."""
    file_log.logger.info("m", d={Broken(): 1})
    assert file_log.one()["d"] == {"<unrepresentable Broken>": 1}
