"""Sinks written in Python get whole batches of NDJSON lines on a runner thread."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

from ferrolog import Pipeline


class Memory:
    """An in-memory sink recording each batch and the lifecycle calls."""

    def __init__(self) -> None:
        self.batches: list[bytes] = []
        self.calls: list[str] = []
        self.threads: set[str] = set()

    def start(self) -> None:
        self.calls.append("start")

    def write_batch(self, batch: memoryview) -> None:
        self.threads.add(threading.current_thread().name)
        self.batches.append(bytes(batch))

    def flush(self) -> None:
        self.calls.append("flush")

    def stop(self) -> None:
        self.calls.append("stop")

    def events(self) -> list[dict[str, object]]:
        return [json.loads(line) for b in self.batches for line in b.splitlines()]


def test_python_sink_receives_every_line_in_batches() -> None:
    """A Python sink sees all events, batched, on its own thread; start and stop are called."""
    sink = Memory()
    p = Pipeline(sinks=[sink])
    log = p.logger("py")
    for i in range(2000):
        log.info("e", i=i)
    assert p.close(10.0)
    assert [ev["i"] for ev in sink.events()] == list(range(2000))
    assert len(sink.batches) < 2000
    assert all(b.endswith(b"\n") for b in sink.batches)
    assert sink.calls[0] == "start"
    assert sink.calls[-1] == "stop"
    assert sink.threads
    assert threading.current_thread().name not in sink.threads
    stats = p.stats()
    assert stats["written"] == stats["emitted"] == 2000


def test_coroutine_sink_methods_are_awaited() -> None:
    """write_batch may be a coroutine function."""

    class AsyncSink:
        def __init__(self) -> None:
            self.lines: list[bytes] = []

        async def write_batch(self, batch: memoryview) -> None:
            await asyncio.sleep(0)
            self.lines.extend(bytes(batch).splitlines())

    sink = AsyncSink()
    p = Pipeline(sinks=[sink, {"type": "null"}])
    log = p.logger("a")
    for i in range(100):
        log.info("e", i=i)
    assert p.close(10.0)
    assert len(sink.lines) == 100


def test_a_failing_python_sink_counts_errors_and_drops() -> None:
    """A sink that raises has its batches counted dropped and errors counted; nothing hangs."""

    class Failing:
        def write_batch(self, batch: memoryview) -> None:
            raise OSError("disk on fire")

    p = Pipeline(sinks=[Failing()])
    log = p.logger("f")
    for i in range(10):
        log.info("e", i=i)
    assert p.flush(10.0)
    stats = p.stats()
    assert stats["errors"] >= 1
    assert stats["dropped"] == 10
    assert stats["written"] == 0
    p.close(5.0)


def test_close_stops_the_runner_thread() -> None:
    """After close() no runner or sink worker thread is left behind."""
    before = threading.active_count()
    p = Pipeline(sinks=[Memory(), Memory()])
    p.logger("x").info("one")
    assert threading.active_count() == before + 3  # the runner, one worker per sink
    p.close(5.0)
    assert threading.active_count() == before


@pytest.mark.needs_proc
def test_a_forgotten_pipeline_is_closed_when_collected() -> None:
    """Dropping the last reference to an unclosed pipeline drains it and ends its threads."""
    import gc
    import os
    import time

    def os_threads() -> set[str]:
        return set(os.listdir("/proc/self/task"))

    before = threading.active_count()
    before_os = os_threads()
    sink = Memory()
    p = Pipeline(sinks=[sink])
    log = p.logger("gone")
    for i in range(500):
        log.info("e", i=i)
    # The pipeline's own threads (native writer, sink runner), told apart by their ids from
    # threads of earlier tests that may still be exiting.
    started = os_threads() - before_os
    assert started, "the pipeline started no OS thread"
    del p, log
    gc.collect()
    deadline = time.monotonic() + 5
    while (
        started & os_threads() or threading.active_count() > before
    ) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert threading.active_count() == before
    assert not started & os_threads()  # the native writer thread is gone too
    assert [ev["i"] for ev in sink.events()] == list(range(500))
    assert sink.calls[-1] == "stop"
