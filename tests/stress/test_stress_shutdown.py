"""Shutdown during a burst, with `ring.overflow = "block"`: threads keep logging while the
container is closed (async `aclose()`, `create_sync` + `close()`), or the interpreter exits
while they are still at it, or the application's SIGTERM handler closes the container (or
calls `sys.exit`, leaving the close to interpreter exit) in the middle of the burst.
Nothing accepted is lost: every call that returned before the close began is in the file,
each thread's lines are a gap-free prefix of its calls, calls made after the close are counted
as dropped (never raised), and emitted == calls == written + dropped."""

from __future__ import annotations

import json
import random
import signal
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

from conftest import STRESS_SEED
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


def _check(
    path: Path, before_close: list[int], calls: int, stats: dict[str, int], settled: bool = True
) -> int:
    """Each thread's lines are a gap-free prefix holding at least the calls that returned
    before the close; with `settled` (no thread still logging when `stats` were taken), the
    counters account for every call."""
    per_thread: list[list[int]] = [[] for _ in range(THREADS)]
    for raw in path.read_bytes().splitlines():
        event = orjson.loads(raw)
        per_thread[event["t"]].append(event["i"])
    for t, seen in enumerate(per_thread):
        assert seen == list(range(len(seen))), f"thread {t}: not a gap-free prefix"
        assert len(seen) >= before_close[t], f"thread {t}: an event accepted before close lost"
    lines = sum(len(seen) for seen in per_thread)
    assert stats["written"] == lines, (stats, lines)
    if settled:
        assert stats["emitted"] == calls, (stats, calls)
        assert stats["emitted"] == stats["written"] + stats["dropped"], stats
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


# The application installs a SIGTERM handler, starts THREADS daemon threads logging (t, i) and
# waits. On SIGTERM the handler snapshots how many calls had returned ("before"), then either
# closes the container while the threads keep logging ("close") or calls sys.exit with the
# threads still mid-burst ("exit": interpreter exit closes the never-closed container). An
# atexit hook registered before ferrolog is imported runs after ferrolog's own (atexit is
# LIFO), so it reports the counters as they are once the pipeline is closed.
SIGTERM_CHILD = """
import atexit, json, signal, sys, threading, time
report = {{}}
def at_exit():
    report["stats"] = pipeline.stats()
    print(json.dumps(report), flush=True)
atexit.register(at_exit)  # before ferrolog's own hook, so it runs after it
from ferrolog import Container, Logger, Pipeline
mode = sys.argv[1]
container = Container.create_sync({settings!r})
log = container.get_sync(Logger)
pipeline = container.get_sync(Pipeline)
done = [0] * {threads}
stop = threading.Event()
def run(t):
    i = 0
    while not stop.is_set():
        log.info("burst", t=t, i=i, pad="b" * 100)
        i += 1
        done[t] = i
threads = [threading.Thread(target=run, args=(t,), daemon=True) for t in range({threads})]
def on_sigterm(signum, frame):
    report["before"] = list(done)
    if mode == "close":
        container.close()
        stop.set()
        for th in threads:
            th.join()
        report["calls"] = sum(done)
    sys.exit(0)
signal.signal(signal.SIGTERM, on_sigterm)
for th in threads:
    th.start()
print("ready", flush=True)
while True:
    time.sleep(1)
"""


def _sigterm_once(path: Path, mode: str, rng: random.Random) -> tuple[int, int]:
    """One child, sent SIGTERM at a random moment of its burst (once the file holds about
    500 events per thread): (lines written, calls that had returned when the handler ran)."""
    code = SIGTERM_CHILD.format(settings=_settings(path), threads=THREADS)
    child = subprocess.Popen(
        [sys.executable, "-c", code, mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "ready\n"
        deadline = time.monotonic() + 60.0
        while not path.exists() or path.stat().st_size < THREADS * 500 * 150:
            assert time.monotonic() < deadline, "the burst did not start"
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.1))
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0, err
    assert "Traceback" not in err, err
    report = json.loads(out)
    before, stats = report["before"], report["stats"]
    if mode == "close":  # the threads were stopped after the close: every call is counted
        lines = _check(path, before, report["calls"], stats)
    else:  # interpreter exit with the threads still logging: nothing accepted before is lost
        lines = _check(path, before, stats["emitted"], stats, settled=False)
    return lines, sum(before)


async def _run(rounds: int, tmp: Path, figure: Callable[[str, object], None]) -> None:
    rng = random.Random(STRESS_SEED or None)
    for mode in ("close", "exit"):
        lines = accepted = 0
        for r in range(rounds):
            got = _sigterm_once(tmp / f"sigterm-{mode}-{r}.log", mode, rng)
            lines, accepted = lines + got[0], accepted + got[1]
        figure(f"shutdown (SIGTERM handler, {mode}) rounds", rounds)
        figure(
            f"shutdown (SIGTERM handler, {mode}) calls returned before SIGTERM / lines written",
            f"{accepted} / {lines}",
        )
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
