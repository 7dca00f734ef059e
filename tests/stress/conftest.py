"""The fault-injection suite (issue #19): crash, disk full, concurrent threads.

Each test has a short variant, run by `make test`, and a long one marked `stress`, skipped
unless FERROLOG_STRESS=1 (`make stress` sets it). Tests report their figures through the
`figure` fixture; they are printed at the end of the run, one line per figure."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

STRESS = os.environ.get("FERROLOG_STRESS") == "1"

_FIGURES: list[str] = []


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if STRESS:
        return
    skip = pytest.mark.skip(
        reason="a long fault-injection run: set FERROLOG_STRESS=1 (make stress)"
    )
    for item in items:
        if item.get_closest_marker("stress") is not None:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _FIGURES:
        terminalreporter.section("ferrolog fault-injection figures")
        for line in _FIGURES:
            terminalreporter.write_line(line)


@pytest.fixture
def figure(request: pytest.FixtureRequest) -> Callable[[str, object], None]:
    """`figure(name, value)`: one line of the run's report, named after the test's variant."""
    variant = "full" if request.node.get_closest_marker("stress") is not None else "short"

    def report(name: str, value: object) -> None:
        _FIGURES.append(f"{variant} {name}: {value}")

    return report
