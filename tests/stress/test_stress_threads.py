"""Threads: 16 threads log at once, each through its own `bind()`-ed logger and inside its own
`bound_contextvars`, with its id in the call's fields too. No line may be garbled (every line
parses as JSON), no field may leak from one thread's event into another's (the bound id, the
context variable's id and the call's id of every event agree), each thread's events keep their
order, and after close every call is accounted for: calls == emitted == written + dropped."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from ferrolog import Pipeline, bound_contextvars

THREADS = 16


def _run(seconds: float, tmp: Path, figure: Callable[[str, object], None]) -> None:
    path = tmp / "threads.log"
    # A small ring, so the drop path is exercised too (drops are counted, never garbled).
    p = Pipeline(sinks=[{"type": "file", "path": str(path)}], capacity_bytes=16 << 10)
    base = p.logger("threads")
    start = threading.Barrier(THREADS + 1)
    stop = threading.Event()
    calls = [0] * THREADS
    errors: list[BaseException] = []

    def worker(t: int) -> None:
        try:
            log = base.bind(tid=t, name=f"thread-{t}")
            start.wait(60.0)
            with bound_contextvars(ctx_tid=t, ctx_name=f"ctx-{t}"):
                n = 0
                while not stop.is_set():
                    log.info("event", call_tid=t, n=n, payload="z" * (t * 7))
                    n += 1
                    if n % 10 == 0:
                        time.sleep(0.001)  # bounds the file's size over a 30 s run
                calls[t] = n
        except BaseException as e:
            errors.append(e)
            raise

    threads = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(THREADS)]
    for th in threads:
        th.start()
    start.wait(60.0)
    time.sleep(seconds)
    stop.set()
    for th in threads:
        th.join(60.0)
        assert not th.is_alive()
    assert not errors, errors
    assert p.close(60.0)
    stats = p.stats()

    last = [-1] * THREADS
    written = 0
    with path.open("rb") as f:
        for raw in f:
            event = orjson.loads(raw)  # a garbled line fails here
            t = event["tid"]
            assert event["ctx_tid"] == t, event
            assert event["call_tid"] == t, event
            assert event["name"] == f"thread-{t}", event
            assert event["ctx_name"] == f"ctx-{t}", event
            assert event["payload"] == "z" * (t * 7), event
            assert event["n"] > last[t], ("a thread's events out of order or duplicated", event)
            last[t] = event["n"]
            written += 1
    total = sum(calls)
    assert stats["emitted"] == stats["written"] + stats["dropped"], stats
    assert stats["emitted"] == total, (stats, total)
    assert stats["written"] == written, (stats, written)

    figure("threads", THREADS)
    figure("threads seconds", seconds)
    figure("threads calls", total)
    figure("threads written / dropped", f"{stats['written']} / {stats['dropped']}")


def test_sixteen_threads_never_mix_their_fields(
    tmp_path: Path, figure: Callable[[str, object], None]
) -> None:
    _run(2.0, tmp_path, figure)


@pytest.mark.stress
def test_sixteen_threads_never_mix_their_fields_full(
    tmp_path: Path, figure: Callable[[str, object], None]
) -> None:
    _run(30.0, tmp_path, figure)
