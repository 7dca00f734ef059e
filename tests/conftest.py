"""Shared fixtures: pipelines writing to a temporary file, and reading the lines back."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ferrolog import Logger, Pipeline


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
