"""Run with `pytest examples/pytest_logs`: the `logs` fixture comes with ferrolog."""

from __future__ import annotations

from checkout import charge

from ferrolog.testing import CapturedLogs


def test_a_charge_is_logged(logs: CapturedLogs) -> None:
    charge(7, 12.5)
    event = logs.assert_logged("charged", level="info", order=7)
    assert event["amount"] == 12.5


def test_a_refusal_is_a_warning(logs: CapturedLogs) -> None:
    charge(8, 0)
    logs.assert_logged("refused", level="warning", order=8)
    logs.assert_not_logged("charged")
