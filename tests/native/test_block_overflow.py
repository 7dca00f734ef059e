"""The `block` overflow policy: one timeout, honoured with the GIL released."""

from __future__ import annotations

import threading

from gates import GateSink, fill_ring, wait_for

from ferrolog import Pipeline


def test_block_drops_and_counts_after_its_timeout() -> None:
    """Under a stalled sink a blocked call gives up after `block_timeout`, counted dropped."""
    gate = GateSink()
    p = Pipeline(sinks=[gate], capacity_bytes=4096, overflow="block", block_timeout=0.05)
    log = p.logger("b")
    try:
        calls = fill_ring(p, log)
        dropped = p.stats()["dropped"]
        log.info("gives up")  # returns after the timeout: the sink is still stalled
        calls += 1
        assert p.stats()["dropped"] == dropped + 1
        assert p.stats()["emitted"] == calls
        gate.release()
        assert p.flush(10.0)
        stats = p.stats()
        assert stats["emitted"] == stats["written"] + stats["dropped"] == calls
        assert not any(b"gives up" in line for line in gate.lines)
    finally:
        gate.release()
        p.close(10.0)


def test_block_waits_with_the_gil_released() -> None:
    """While a producer waits for space, other Python threads run; then its event is written."""
    gate = GateSink()
    p = Pipeline(sinks=[gate], capacity_bytes=4096, overflow="block", block_timeout=60.0)
    log = p.logger("b")
    returned = threading.Event()
    try:
        calls = fill_ring(p, log)
        emitted = p.stats()["emitted"]

        def producer() -> None:
            log.info("blocked producer")
            returned.set()

        t = threading.Thread(target=producer)
        t.start()
        # A blocking push counts its event emitted when it starts waiting. Seeing that from
        # this thread, while the producer has not returned, means the wait let go of the GIL.
        wait_for(lambda: p.stats()["emitted"] == emitted + 1, "the producer to block")
        assert not returned.is_set()
        gate.release()
        t.join(30)
        assert returned.is_set()
        assert p.flush(10.0)
        stats = p.stats()
        assert stats["emitted"] == calls + 1 == stats["written"] + stats["dropped"]
        assert sum(b"blocked producer" in line for line in gate.lines) == 1
    finally:
        gate.release()
        p.close(10.0)
