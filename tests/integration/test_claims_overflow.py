"""README claim: overflow "block" waits for ring space with the GIL released."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ferrolog import Pipeline

EVENTS = 3000  # about 400 KB: far more than the ring, the batch in the sink and those queued


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.001)


class GatedSink:
    """A Python sink that holds its first batch until `gate` is set; counts what it got."""

    # Stall the whole pipeline while gated (a Python sink is otherwise isolated: its own
    # queue overflows to the fallback sink), and never count as hung.
    backpressure = True
    timeout = 300.0
    queue_bytes = 0  # one batch at a time

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.lines = 0

    def write_batch(self, batch: memoryview) -> None:
        self.entered.set()
        assert self.gate.wait(60.0)
        self.lines += bytes(batch).count(b"\n")


def test_a_producer_blocked_on_a_full_ring_lets_other_threads_run() -> None:
    """While a producer waits in a `block` push behind a stalled sink, another Python thread
    keeps running (its counter advances), so the wait holds no GIL; nothing is dropped."""
    sink = GatedSink()
    p = Pipeline(
        sinks=[sink], capacity_bytes=8192, batch_bytes=4096, overflow="block", block_timeout=60.0
    )
    log = p.logger("block")
    try:
        done = threading.Event()

        def produce() -> None:
            for i in range(EVENTS):
                log.info("event", i=i, pad="p" * 64)
            done.set()

        counter = [0]
        stop = threading.Event()

        def count() -> None:
            while not stop.is_set():
                counter[0] += 1

        producer = threading.Thread(target=produce)
        counter_thread = threading.Thread(target=count)
        producer.start()
        try:
            assert sink.entered.wait(30.0)
            # The ring fills up behind the stalled sink; then the producer must be waiting.
            _wait_for(lambda: p.stats()["high_water"] > 8192 - 512, "a full ring")
            emitted = p.stats()["emitted"]
            assert emitted < EVENTS
            assert not done.is_set()
            counter_thread.start()
            start = counter[0]
            _wait_for(lambda: counter[0] >= start + 100_000, "the counter thread to run")
            assert not done.is_set()  # the producer was still blocked all along
            assert p.stats()["dropped"] == 0
        finally:
            stop.set()
            sink.gate.set()
            producer.join(60.0)
            if counter_thread.ident is not None:
                counter_thread.join(10.0)
        assert not producer.is_alive()
        assert not counter_thread.is_alive()
        assert p.flush(30.0)
        stats = p.stats()
        assert stats["emitted"] == stats["written"] == sink.lines == EVENTS
        assert stats["dropped"] == 0
    finally:
        sink.gate.set()
        p.close(10.0)
