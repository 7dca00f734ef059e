"""README claim: `stack_info=True` adds the caller's stack; `stacklevel` skips frames as in
stdlib. Both loggers are called on the same source line, so their stacks must be the same."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ferrolog import Container, Logger, Pipeline, SyncContainer

FRAME = re.compile(r'^  File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<function>.+)$', re.M)


class StdlibStack(logging.Handler):
    """Keeps the `stack_info` text of every record it handles."""

    def __init__(self) -> None:
        super().__init__()
        self.stacks: list[str | None] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.stacks.append(record.stack_info)


@pytest.fixture
def both(tmp_path: Path) -> Iterator[tuple[SyncContainer, Path, logging.Logger, StdlibStack]]:
    path = tmp_path / "stack.log"
    std = logging.getLogger("ferrolog-stacklevel-test")
    handler = StdlibStack()
    std.addHandler(handler)
    std.propagate = False
    std.setLevel(logging.DEBUG)
    with Container.create_sync({"sinks": [{"type": "file", "path": str(path)}]}) as container:
        yield container, path, std, handler
    std.removeHandler(handler)


def _frames(stack: str) -> list[tuple[str, int, str]]:
    return [(m["file"], int(m["line"]), m["function"]) for m in FRAME.finditer(stack)]


def _log_both(log: Logger, std: logging.Logger, stacklevel: int) -> None:
    # One line, so both see the same caller line at every level.
    log.info("m", stack_info=True, stacklevel=stacklevel); std.info("m", stack_info=True, stacklevel=stacklevel)  # noqa: E501, E702  # fmt: skip


def _helper(log: Logger, std: logging.Logger, stacklevel: int) -> None:
    _log_both(log, std, stacklevel)


def _outer(log: Logger, std: logging.Logger, stacklevel: int) -> None:
    _helper(log, std, stacklevel)


@pytest.mark.parametrize("stacklevel", [1, 2, 3])
def test_stack_info_and_stacklevel_match_stdlib(
    both: tuple[SyncContainer, Path, logging.Logger, StdlibStack], stacklevel: int
) -> None:
    """The `stack` written for stack_info=True ends at the frame stdlib's ends at, for
    stacklevel 1 (the log call's own function), 2 and 3 (its callers)."""
    container, path, std, handler = both
    log = container.get_sync(Logger)
    _outer(log, std, stacklevel)
    assert container.get_sync(Pipeline).flush(10.0)
    (event,) = [json.loads(line) for line in path.read_text().splitlines()]
    ours, theirs = _frames(event["stack"]), _frames(handler.stacks[-1] or "")
    innermost = {1: "_log_both", 2: "_helper", 3: "_outer"}[stacklevel]
    assert ours[-1][2] == innermost
    if sys.version_info >= (3, 11):  # 3.10's stdlib counted its own frames (bpo-45171)
        assert theirs[-1][2] == innermost  # the check of the check: stdlib's semantics
        assert ours == theirs
    assert event["stack"].startswith("Stack (most recent call last):\n")


def test_no_stack_without_stack_info(
    both: tuple[SyncContainer, Path, logging.Logger, StdlibStack],
) -> None:
    """Without stack_info=True no stack is written, whatever stacklevel says."""
    container, path, _, _ = both
    container.get_sync(Logger).info("m", stacklevel=2)
    assert container.get_sync(Pipeline).flush(10.0)
    (event,) = [json.loads(line) for line in path.read_text().splitlines()]
    assert "stack" not in event
