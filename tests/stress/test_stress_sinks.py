"""Slow and hung sinks beside a native file sink: a Python sink sleeping 100 ms per batch and
one whose call never returns. The file sink still gets every event at full speed (its events/s
with and without them is reported as a figure; only a generous sanity bound is asserted), the
callers are never held up, `close()` finishes within its deadline, and what the slow and hung
sinks could not take is counted in `sink_health()` and delivered to the fallback sink instead.

(tests/native/test_sink_isolation.py checks each behaviour once, with a few thousand events;
this is the same under sustained load, with both sinks at once, and the shutdown deadline.)"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from ferrolog import Pipeline

PAD = "p" * 80


class Slow:
    """Sleeps 100 ms per batch (well within its timeout): slow, never hung."""

    timeout = 30.0
    queue_bytes = 256 << 10

    def __init__(self) -> None:
        self.lines = 0

    def write_batch(self, batch: memoryview) -> None:
        time.sleep(0.1)
        self.lines += bytes(batch).count(b"\n")


class Fast:
    """Takes every batch at once: the cost of having a Python sink at all, for comparison."""

    def __init__(self) -> None:
        self.lines = 0

    def write_batch(self, batch: memoryview) -> None:
        self.lines += bytes(batch).count(b"\n")


class Hung:
    """Its first call never returns (until the test releases it, after the pipeline closed).
    Its timeout is longer than the close deadline, so the close has to give up on it."""

    timeout = 60.0

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()

    def write_batch(self, batch: memoryview) -> None:
        self.entered.set()
        self.release.wait()


def _indices(path: Path) -> list[int]:
    return [orjson.loads(line)["i"] for line in path.read_bytes().splitlines()]


def _burst(p: Pipeline, events: int, path: Path, size: int | None) -> tuple[float, int]:
    """Logs `events` events; the events/s at which the file sink at `path` wrote them (until
    it holds `size` bytes; None: until a flush returns) and the size it reached."""
    log = p.logger("load")
    started = time.perf_counter()
    for i in range(events):
        log.info("e", i=i, pad=PAD)
    if size is None:
        assert p.flush(120.0)
    else:
        deadline = time.monotonic() + 120.0
        while not path.exists() or path.stat().st_size < size:
            assert time.monotonic() < deadline, "the file sink did not get every event"
            time.sleep(0.001)
    return events / (time.perf_counter() - started), path.stat().st_size


def _run(events: int, tmp: Path, figure: Callable[[str, object], None]) -> None:
    # "block": nothing may be dropped, so the file sink must hold every event, and a sink that
    # held the writer back would show as a collapse of the rate.
    options: dict[str, Any] = {"overflow": "block", "block_timeout": 120.0, "batch_bytes": 16384}

    alone_path = tmp / "alone.log"
    alone = Pipeline(sinks=[{"type": "file", "path": str(alone_path)}], **options)
    try:
        alone_rate, size = _burst(alone, events, alone_path, None)
    finally:
        assert alone.close(30.0)
    assert _indices(alone_path) == list(range(events))

    # The same with a Python sink that keeps up: what any Python sink costs the file sink (the
    # runner thread takes the GIL for each batch), apart from slowness.
    fast, fast_path = Fast(), tmp / "fast.log"
    beside_fast = Pipeline(
        sinks=[fast, {"type": "file", "path": str(fast_path)}],
        fallback={"type": "file", "path": str(tmp / "fast-spare.log")},
        **options,
    )
    try:
        fast_rate, _ = _burst(beside_fast, events, fast_path, size)
    finally:
        assert beside_fast.close(30.0)
    # Even a fast Python sink's queue may overflow at this rate (rerouted to the fallback and
    # counted, by design): every event is either written to it or counted as missed.
    fast_health = next(h for h in beside_fast.sink_health() if h["name"] == "Fast")
    assert fast.lines + fast_health["missed"] == events, (fast.lines, fast_health)

    slow, hung = Slow(), Hung()
    native, spare = tmp / "native.log", tmp / "spare.log"
    p = Pipeline(
        sinks=[slow, hung, {"type": "file", "path": str(native)}],
        fallback={"type": "file", "path": str(spare)},
        **options,
    )
    try:
        # The lines have the same length in both runs (fixed-width timestamps).
        rate, _ = _burst(p, events, native, size)
        assert hung.entered.is_set()
        deadline = 3.0
        started = time.monotonic()
        closed = p.close(deadline)
        took = time.monotonic() - started
        stats = p.stats()  # as the close returned
        health = {h["name"]: h for h in p.sink_health()}
    finally:
        hung.release.set()

    assert _indices(native) == list(range(events)), "the file sink got every event, in order"
    assert took < deadline + 1.0, f"close took {took:.1f} s, its deadline was {deadline} s"
    assert not closed, "a sink that did not finish makes close() report False"
    # Every event failed on the hung sink: each one was written to the fallback sink while it
    # was open, or counted as dropped when the close gave up on the hung sink.
    assert stats["emitted"] == events == stats["written"] + stats["dropped"], stats
    spared = _indices(spare)
    assert len(spared) == len(set(spared)) == stats["written"] == stats["rerouted"], stats
    assert health["Hung"]["missed"] == events, health
    assert slow.lines + health["Slow"]["missed"] == events, (slow.lines, health)
    # Generous sanity bound: a sink that held the writer back would cap the file sink at
    # one 16 KiB batch per 100 ms, about 1.5 % of the rate alone on this machine.
    assert rate > alone_rate / 20, (rate, alone_rate)

    figure("slow/hung sinks events", events)
    figure("slow/hung sinks file sink alone", f"{alone_rate:,.0f} events/s")
    figure("slow/hung sinks file sink beside a fast Python sink", f"{fast_rate:,.0f} events/s")
    figure("slow/hung sinks file sink beside slow + hung", f"{rate:,.0f} events/s")
    figure(
        "slow/hung sinks close",
        f"{took:.2f} s (deadline {deadline:g} s); undelivered to Hung: "
        f"{health['Hung']['missed']}, to Slow: {health['Slow']['missed']} (Slow wrote "
        f"{slow.lines}); fallback got {stats['rerouted']}, dropped at close {stats['dropped']}",
    )


def test_slow_and_hung_sinks_leave_the_file_sink_at_full_speed(
    tmp_path: Path, figure: Callable[[str, object], None]
) -> None:
    _run(50_000, tmp_path, figure)


@pytest.mark.stress
def test_slow_and_hung_sinks_leave_the_file_sink_at_full_speed_full(
    tmp_path: Path, figure: Callable[[str, object], None]
) -> None:
    _run(2_000_000, tmp_path, figure)


class HungBriefly(Hung):
    timeout = 0.5


def test_batches_queued_behind_a_hung_call_do_not_hold_up_flush(tmp_path: Path) -> None:
    """Batches queued for a sink before its call was found hung are settled (to the fallback)
    with that call, not left waiting for it: a flush returns. (They were left in its queue
    until close, and every flush ran into its deadline.)"""
    hung, spare = HungBriefly(), tmp_path / "spare.log"
    p = Pipeline(sinks=[hung], fallback={"type": "file", "path": str(spare)}, batch_bytes=4096)
    log = p.logger("q")
    try:
        for i in range(5000):  # many batches, queued long before the call times out
            log.info("e", i=i, pad=PAD)
        assert p.flush(20.0)
        stats, health = p.stats(), p.sink_health()[0]
    finally:
        hung.release.set()
        p.close(5.0)
    assert stats["emitted"] == stats["written"] == 5000, stats
    assert health["missed"] == 5000, health
    assert sorted(_indices(spare)) == list(range(5000))


def test_close_gives_up_on_a_hung_sink_at_its_deadline_and_counts_the_rest(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A sink hung with a timeout longer than the close deadline: the close returns by its
    deadline with every event accounted for (written to the fallback or dropped), the sink's
    health counting them all as missed. (They were settled only after the sink's own
    timeout, long after close() returned: `emitted != written + dropped` until then.)"""
    hung, spare = Hung(), tmp_path / "spare.log"
    p = Pipeline(sinks=[hung], fallback={"type": "file", "path": str(spare)}, batch_bytes=4096)
    log = p.logger("c")
    try:
        log.info("e", i=0, pad=PAD)
        assert hung.entered.wait(10.0)
        for i in range(1, 3000):
            log.info("e", i=i, pad=PAD)
        started = time.monotonic()
        assert not p.close(1.0)
        took = time.monotonic() - started
        stats, health = p.stats(), p.sink_health()[0]
    finally:
        hung.release.set()
    assert took < 2.0
    assert stats["emitted"] == stats["written"] + stats["dropped"] == 3000, stats
    assert health["missed"] == 3000, health
    assert len(_indices(spare)) == stats["written"]
    assert "sink Hung did not finish in time at close; 3000 event(s)" in capfd.readouterr().err
