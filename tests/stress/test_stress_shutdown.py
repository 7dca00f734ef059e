"""Shutdown during a burst, with `ring.overflow = "block"`: threads keep logging while the
container is closed (async `aclose()`, `create_sync` + `close()`), or the interpreter exits
while they are still at it. Nothing accepted is lost: every call that returned before the close
began is in the file, each thread's lines are a gap-free prefix of its calls, calls made after
the close are counted as dropped (never raised), and emitted == calls == written + dropped."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from ferrolog import Container, Logger, Pipeline

THREADS = 4


def _settings(path: Path) -> dict[str, Any]:
    return {
        "level": "info",
        "sinks": [{"type": "file", "path": str(path)}],
        # A small ring: it is full while the burst runs, so the close has a backlog to drain.
        "ring": {"overflow": "block", "block_timeout": 60, "capacity_bytes": 16384},
    }


class Burst:
    """THREADS threads logging (t, i) until stopped; `done[t]` is how many calls returned."""

    def __init__(self, log: Logger) -> None:
        self.done = [0] * THREADS
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.threads = [
            threading.Thread(target=self._run, args=(log, t), daemon=True) for t in range(THREADS)
        ]
        for th in self.threads:
            th.start()

    def _run(self, log: Logger, t: int) -> None:
        try:
            i = 0
            while not self.stop.is_set():
                log.info("burst", t=t, i=i, pad="b" * 100)
                i += 1
                self.done[t] = i
        except BaseException as e:  # a log call must never raise, even after the close
            self.errors.append(e)

    def underway(self) -> list[int]:
        """Wait until every thread has made calls, then snapshot what has returned."""
        deadline = time.monotonic() + 60.0
        while min(self.done) < 500 and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.done)

    def finish(self) -> int:
        self.stop.set()
        for th in self.threads:
            th.join(120.0)
            assert not th.is_alive()
        assert not self.errors, self.errors
        return sum(self.done)


def _check(path: Path, before_close: list[int], calls: int, stats: dict[str, int]) -> int:
    per_thread: list[list[int]] = [[] for _ in range(THREADS)]
    for raw in path.read_bytes().splitlines():
        event = orjson.loads(raw)
        per_thread[event["t"]].append(event["i"])
    for t, seen in enumerate(per_thread):
        assert seen == list(range(len(seen))), f"thread {t}: not a gap-free prefix"
        assert len(seen) >= before_close[t], f"thread {t}: an event accepted before close lost"
    lines = sum(len(seen) for seen in per_thread)
    assert stats["emitted"] == calls, (stats, calls)
    assert stats["emitted"] == stats["written"] + stats["dropped"], stats
    assert stats["written"] == lines, (stats, lines)
    return lines


async def _async_once(path: Path) -> tuple[int, int]:
    container = await Container.create(_settings(path))
    log = await container.get(Logger)
    pipeline = await container.get(Pipeline)
    burst = Burst(log)
    before = burst.underway()
    await container.aclose()
    calls = burst.finish()
    return _check(path, before, calls, pipeline.stats()), calls


def _sync_once(path: Path) -> tuple[int, int]:
    container = Container.create_sync(_settings(path))
    log = container.get_sync(Logger)
    pipeline = container.get_sync(Pipeline)
    burst = Burst(log)
    before = burst.underway()
    container.close()
    calls = burst.finish()
    return _check(path, before, calls, pipeline.stats()), calls


EXIT_EVENTS = 5000

# The main thread returns while THREADS non-daemon threads are mid-burst: the interpreter waits
# for them, then its exit closes the (never closed) container.
EXIT_CHILD = """
import threading, sys
from ferrolog import Container, Logger
settings = {settings!r}
log = Container.create_sync(settings).get_sync(Logger)
def run(t):
    for i in range({events}):
        log.info("burst", t=t, i=i, pad="b" * 100)
for t in range({threads}):
    threading.Thread(target=run, args=(t,)).start()
"""


def _exit_once(path: Path) -> tuple[int, int]:
    code = EXIT_CHILD.format(settings=_settings(path), events=EXIT_EVENTS, threads=THREADS)
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr, out.stderr
    per_thread: list[list[int]] = [[] for _ in range(THREADS)]
    for raw in path.read_bytes().splitlines():
        event = orjson.loads(raw)
        per_thread[event["t"]].append(event["i"])
    for t, seen in enumerate(per_thread):
        assert seen == list(range(EXIT_EVENTS)), f"thread {t}: events lost at exit"
    return THREADS * EXIT_EVENTS, THREADS * EXIT_EVENTS


async def _run(rounds: int, tmp: Path, figure: Callable[[str, object], None]) -> None:
    for how, once in (("aclose", None), ("create_sync close", _sync_once), ("exit", _exit_once)):
        lines = calls = 0
        for r in range(rounds):
            path = tmp / f"{how.replace(' ', '-')}-{r}.log"
            got = await _async_once(path) if once is None else once(path)
            lines, calls = lines + got[0], calls + got[1]
        figure(f"shutdown ({how}) rounds", rounds)
        figure(f"shutdown ({how}) calls / lines written", f"{calls} / {lines}")


async def test_shutdown_during_a_burst_loses_nothing_accepted(
    tmp_path: Path, figure: Callable[[str, object], None]
) -> None:
    await _run(1, tmp_path, figure)


@pytest.mark.stress
async def test_shutdown_during_a_burst_loses_nothing_accepted_full(
    tmp_path: Path, figure: Callable[[str, object], None]
) -> None:
    await _run(15, tmp_path, figure)
