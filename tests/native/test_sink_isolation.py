"""A Python sink is isolated: a slow, hung, failing or unstartable sink never slows the
native sinks, the other Python sinks or the callers, and its events go to the fallback sink."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

import pytest

from ferrolog import Pipeline


class Memory:
    """Keeps every line; records the threads and loops its calls ran on."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.threads: set[str] = set()

    def write_batch(self, batch: memoryview) -> None:
        self.threads.add(threading.current_thread().name)
        self.lines.extend(bytes(batch).splitlines())


class Hung:
    """Blocks in write_batch until released; its timeout is short."""

    timeout = 0.2

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()
        self.calls = 0

    def write_batch(self, batch: memoryview) -> None:
        self.calls += 1
        self.entered.set()
        self.release.wait(30.0)


class Slow:
    """Takes a while per batch, but less than its timeout."""

    timeout = 10.0
    queue_bytes = 16384

    def __init__(self) -> None:
        self.lines = 0

    def write_batch(self, batch: memoryview) -> None:
        time.sleep(0.02)
        self.lines += bytes(batch).count(b"\n")


def _indices(path: Path) -> list[int]:
    return sorted(json.loads(line)["i"] for line in path.read_text().splitlines())


def _health(p: Pipeline, name: str) -> dict[str, object]:
    return next(h for h in p.sink_health() if h["name"] == name)


def test_a_hung_sink_is_given_up_after_its_timeout_and_the_others_get_everything(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    hung, memory = Hung(), Memory()
    native, spare = tmp_path / "native.log", tmp_path / "spare.log"
    p = Pipeline(
        sinks=[hung, memory, {"type": "file", "path": str(native)}],
        fallback={"type": "file", "path": str(spare)},
        batch_bytes=4096,
    )
    log = p.logger("iso")
    try:
        for i in range(3000):
            log.info("e", i=i)
            if i % 500 == 0:
                assert p.flush(10.0), "a hung sink must not hold up flush past its timeout"
        assert p.flush(10.0)
        stats = p.stats()
        health = _health(p, "Hung")
    finally:
        hung.release.set()
        p.close(10.0)
    assert _indices(native) == list(range(3000))
    assert sorted(json.loads(line)["i"] for line in memory.lines) == list(range(3000))
    assert stats["emitted"] == stats["written"] == 3000
    assert stats["dropped"] == 0
    assert health["timeouts"] >= 1
    assert health["failing"] is True
    assert health["missed"] == 3000, "every event the hung sink missed was accounted for"
    assert _indices(spare) == list(range(3000)), "and went to the fallback"
    err = capfd.readouterr().err
    assert err.count("sink Hung: a call did not return within 0.2 s") == 1, err


def test_a_slow_sinks_overflow_is_counted_and_rerouted(tmp_path: Path) -> None:
    slow, memory = Slow(), Memory()
    spare = tmp_path / "spare.log"
    p = Pipeline(
        sinks=[slow, memory],
        fallback={"type": "file", "path": str(spare)},
        batch_bytes=4096,
        linger=0.0,
    )
    log = p.logger("slow")
    started = time.monotonic()
    for i in range(2000):
        log.info("e", i=i, pad="x" * 200)
    logging_took = time.monotonic() - started
    assert p.close(60.0)
    stats = p.stats()
    (slow_health, _) = p.sink_health()
    assert stats["emitted"] == stats["written"] == 2000
    assert len(memory.lines) == 2000, "the fast sink got everything"
    assert slow_health["overflow"] > 0
    missed = slow_health["missed"]
    assert slow.lines + missed == 2000
    assert len(spare.read_text().splitlines()) == missed
    assert stats["rerouted"] == missed
    # Not a timing claim: the callers never waited for the slow sink's 20 ms per batch.
    assert logging_took < 0.02 * stats["batches"]


def test_each_async_sink_runs_on_its_own_loop_thread() -> None:
    class AsyncSink:
        def __init__(self) -> None:
            self.loops: set[int] = set()
            self.threads: set[str] = set()
            self.lines = 0

        async def write_batch(self, batch: memoryview) -> None:
            await asyncio.sleep(0)
            self.loops.add(id(asyncio.get_running_loop()))
            self.threads.add(threading.current_thread().name)
            self.lines += bytes(batch).count(b"\n")

    a, b = AsyncSink(), AsyncSink()
    p = Pipeline(sinks=[a, b])
    log = p.logger("a")
    for i in range(500):
        log.info("e", i=i)
    assert p.close(10.0)
    assert a.lines == b.lines == 500
    assert len(a.loops) == len(b.loops) == 1
    assert a.loops != b.loops
    assert a.threads.isdisjoint(b.threads)
    assert threading.current_thread().name not in a.threads | b.threads


async def test_a_sink_that_asks_for_it_runs_on_the_applications_loop() -> None:
    class LoopBound:
        use_app_loop = True

        def __init__(self) -> None:
            self.loops: set[int] = set()
            self.batches = 0
            self.lines = 0

        async def write_batch(self, batch: memoryview) -> None:
            self.loops.add(id(asyncio.get_running_loop()))
            self.batches += 1
            self.lines += bytes(batch).count(b"\n")

    sink = LoopBound()
    p = Pipeline(sinks=[sink], batch_bytes=4096)
    log = p.logger("app")
    for i in range(1000):
        log.info("e", i=i)
    assert await asyncio.to_thread(p.close, 10.0)
    assert sink.loops == {id(asyncio.get_running_loop())}
    assert sink.lines == 1000
    assert sink.batches < 1000, "woken once per batch, not per event"


def test_a_sink_whose_start_fails_is_excluded_and_reported(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    class NoStart:
        def __init__(self) -> None:
            self.writes = 0

        def start(self) -> None:
            raise ConnectionRefusedError("collector down")

        def write_batch(self, batch: memoryview) -> None:
            self.writes += 1

    broken, memory = NoStart(), Memory()
    spare = tmp_path / "spare.log"
    p = Pipeline(sinks=[broken, memory], fallback={"type": "file", "path": str(spare)})
    log = p.logger("s")
    for i in range(100):
        log.info("e", i=i)
    assert p.close(10.0)
    assert broken.writes == 0
    assert len(memory.lines) == 100
    assert _indices(spare) == list(range(100))
    health = _health(p, "NoStart")
    assert health["state"] == "not started"
    assert health["missed"] == 100
    err = capfd.readouterr().err
    assert err.count("sink NoStart: start() failed") == 1
    assert "collector down" in err


def test_close_with_a_hung_sink_reports_what_it_could_not_deliver(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    class HungLong(Hung):
        timeout = 1.0

    hung = HungLong()
    spare = tmp_path / "spare.log"
    p = Pipeline(sinks=[hung], fallback={"type": "file", "path": str(spare)}, linger=0.0)
    log = p.logger("close")
    log.info("e", i=0)
    assert hung.entered.wait(10.0)
    for i in range(1, 50):
        log.info("e", i=i)
    started = time.monotonic()
    try:
        p.close(10.0)
        took = time.monotonic() - started
    finally:
        hung.release.set()
    stats = p.stats()
    assert stats["emitted"] == stats["written"] + stats["dropped"] == 50
    assert _indices(spare) == list(range(50)), "everything the hung sink held went to the fallback"
    assert took < 10.0
    err = capfd.readouterr().err
    assert "sink HungLong: a call did not return within 1 s" in err
