"""Shared by the hot-path benchmarks: the native pipeline, or a skip saying it is missing."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

#: Calls per benchmark round. The timed function runs this many log calls, so the reported
#: time per round in µs reads directly as ns per call.
CALLS = 1_000
#: Ring size for the benchmark pipelines: large enough that a null sink never makes the
#: caller wait.
RING_BYTES = 16 << 20


def native() -> Any:
    try:
        native = importlib.import_module("ferrolog._native")
    except ImportError as exc:  # extension not built
        pytest.skip(f"ferrolog._native not importable: {exc}")
    if not hasattr(native, "Pipeline"):
        pytest.skip("ferrolog._native.Pipeline is not built yet (native logger not landed)")
    return native


def make_pipeline(sinks: list[dict[str, Any]], overflow: str = "block") -> Any:
    native_mod = native()
    return native_mod.Pipeline(sinks=sinks, capacity_bytes=RING_BYTES, overflow=overflow)
