"""Fixtures for the hot-path benchmarks (`make bench`).

The benchmarks talk to ``ferrolog._native.Pipeline`` directly so that nothing but the
native call is measured. Until the native logger is built into the extension, the tests that
need it skip with that reason; they run as soon as ``Pipeline`` exists.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hotpath_support import make_pipeline


@pytest.fixture
def null_pipeline() -> Iterator[Any]:
    """A pipeline writing to the null sink: the caller-side cost and nothing else."""
    pipe = make_pipeline([{"type": "null"}])
    try:
        yield pipe
    finally:
        pipe.close(10.0)


@pytest.fixture
def null_logger(null_pipeline: Any) -> Any:
    return null_pipeline.logger("bench", logging.INFO)


@pytest.fixture
def file_path(tmp_path: Path) -> Path:
    return tmp_path / "bench.jsonl"
