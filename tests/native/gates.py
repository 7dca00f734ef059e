"""A Python sink that holds its batches until released: a stalled sink on demand."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ferrolog import Logger, Pipeline
from ferrolog._native import Ready, YieldOnce

#: Longest any test waits for a condition it expects; a failure, never a pace.
DEADLINE = 30.0


class GateSink:
    """Blocks in `write_batch` until `release()`; records what it wrote and its lifecycle."""

    # Stall the whole pipeline while gated (a Python sink is otherwise isolated: its own
    # queue overflows to the fallback sink), and never count as hung.
    backpressure = True
    timeout = 300.0
    queue_bytes = 0  # one batch at a time

    def __init__(self) -> None:
        self.open = threading.Event()
        self.entered = threading.Event()
        self.lines: list[bytes] = []
        self.calls: list[str] = []

    def release(self) -> None:
        self.open.set()

    def write_batch(self, batch: memoryview) -> None:
        self.entered.set()
        self.open.wait(DEADLINE)
        self.lines.extend(bytes(batch).splitlines())

    def flush(self) -> None:
        self.calls.append("flush")

    def stop(self) -> None:
        self.calls.append("stop")


def wait_for(cond: Callable[[], bool], what: str) -> None:
    """Wait until `cond()` holds; fail naming `what` after DEADLINE seconds."""
    deadline = time.monotonic() + DEADLINE
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.001)


#: Batches the writer takes before a stalled Python sink (with backpressure and a one-batch
#: queue) stops it: the sink's worker holds one and queues one, the runner holds one while it
#: waits for room, the channel queues four (PY_SINK_BATCHES in rust/py/src/channel.rs), the
#: writer holds one.
STALLED_BATCHES = 1 + 1 + 1 + 4 + 1


def fill_ring(pipeline: Pipeline, log: Logger) -> int:
    """Log until the ring is full for good behind a stalled sink; returns how many events
    were logged (every probe that found the ring full is dropped and counted).
    """
    calls = 0
    deadline = time.monotonic() + DEADLINE
    while True:
        assert time.monotonic() < deadline, "the ring never filled"
        # Read before probing: once the writer has taken its last batch it takes no more, so a
        # probe that fails after that finds the ring full for good.
        stalled = pipeline.stats()["batches"] >= STALLED_BATCHES
        aw = log.ainfo("fill", pad="x" * 200)
        calls += 1
        if isinstance(aw, (Ready, YieldOnce)):  # pushed (a YieldOnce gives the loop a turn)
            continue
        aw.close()  # type: ignore[attr-defined]
        if stalled:
            return calls
        # The writer has not stalled yet and frees the ring again: probe once more.
        time.sleep(0.001)
