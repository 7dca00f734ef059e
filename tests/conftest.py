"""Shared fixtures (pipelines writing to a temporary file), Hypothesis profiles, and the
skipping of tests that need a facility this platform lacks."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from ferrolog import Logger, Pipeline

# "ci": the same examples on every run (a red CI run is reproducible locally with
# HYPOTHESIS_PROFILE=ci), no example database, the reproduction blob printed on failure, and
# one bug shrunk per test (shrinking several distinct bugs of the hostile-value properties
# takes minutes). "dev": fresh random examples each run, every distinct bug reported,
# failures remembered in the local database.
# Neither has a deadline: a busy 2-core machine makes per-example timing meaningless.
_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large]
settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    print_blob=True,
    report_multiple_bugs=False,
    deadline=None,
    max_examples=100,
    suppress_health_check=_SLOW_OK,
)
settings.register_profile("dev", deadline=None, max_examples=100, suppress_health_check=_SLOW_OK)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)

# Facilities some tests need, by marker: the marker says why a test is skipped elsewhere.
_FACILITIES: dict[str, tuple[bool, str]] = {
    "needs_proc": (os.path.isdir("/proc/self/task"), "needs /proc/self (Linux procfs)"),
    "needs_dev_full": (os.path.exists("/dev/full"), "needs /dev/full (ENOSPC on every write)"),
    "needs_fork": (hasattr(os, "fork"), "needs os.fork"),
    "linux_only": (sys.platform.startswith("linux"), "needs Linux-only facilities"),
}


# The long fault-injection runs of tests/stress (issue #19), marked `stress`: only with
# STRESS=1 (`make stress`). Their short variants run everywhere. STRESS_SEED replays the
# crash test's random kill moments. (Not FERROLOG_*: every such variable must name a setting.)
_STRESS = os.environ.get("STRESS") == "1"
STRESS_SEED = int(os.environ.get("STRESS_SEED") or 0)
_STRESS_SKIP = "a long fault-injection run: set STRESS=1 (make stress)"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip, with the reason, every test marked as needing a facility this platform lacks,
    and the `stress` tests unless STRESS=1."""
    for item in items:
        for marker, (available, reason) in _FACILITIES.items():
            if not available and item.get_closest_marker(marker) is not None:
                item.add_marker(pytest.mark.skip(reason=f"{reason}; not on {sys.platform}"))
        if not _STRESS and item.get_closest_marker("stress") is not None:
            item.add_marker(pytest.mark.skip(reason=_STRESS_SKIP))


# The figures the fault-injection tests report through `figure`, printed at the end of the run.
_FIGURES: list[str] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _FIGURES:
        terminalreporter.section("ferrolog fault-injection figures")
        for line in _FIGURES:
            terminalreporter.write_line(line)


@pytest.fixture
def figure(request: pytest.FixtureRequest) -> Callable[[str, object], None]:
    """`figure(name, value)`: one line of the run's final report, prefixed with the test's
    variant (`full` for a `stress` test, `short` otherwise)."""
    variant = "full" if request.node.get_closest_marker("stress") is not None else "short"

    def report(name: str, value: object) -> None:
        _FIGURES.append(f"{variant} {name}: {value}")

    return report


class FileLog:
    """A pipeline writing to one file, with helpers to read what reached the disk."""

    def __init__(self, path: Path, **options: Any) -> None:
        self.path = path
        self.pipeline = Pipeline(sinks=[{"type": "file", "path": str(path)}], **options)
        self.logger: Logger = self.pipeline.logger("test", "trace")

    def lines(self) -> list[dict[str, Any]]:
        """Flush, then parse every line on disk (each must be valid JSON)."""
        assert self.pipeline.flush(10.0)
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text("utf-8").splitlines()]

    def one(self) -> dict[str, Any]:
        lines = self.lines()
        assert len(lines) == 1, lines
        return lines[0]

    def stats(self) -> dict[str, int]:
        return dict(self.pipeline.stats())


@pytest.fixture
def file_log(tmp_path: Path) -> Iterator[FileLog]:
    """A pipeline to `tmp_path/app.log` at TRACE level, closed after the test."""
    log = FileLog(tmp_path / "app.log")
    yield log
    log.pipeline.close(5.0)


@pytest.fixture
def make_file_log(tmp_path: Path) -> Iterator[Callable[..., FileLog]]:
    """A factory of file pipelines with options; all are closed after the test."""
    made: list[FileLog] = []

    def make(name: str = "app.log", **options: Any) -> FileLog:
        log = FileLog(tmp_path / name, **options)
        made.append(log)
        return log

    yield make
    for log in made:
        log.pipeline.close(5.0)
