"""Fork while another thread holds a pipeline's attention: the child neither deadlocks nor is
left without a writer, and logs normally; the parent is unaffected.

Each child logs to a file pipeline (and, where it can, to the busy one), checks what reached
the disk and exits with a code; the parent waits for it with a deadline.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from gates import DEADLINE, GateSink, fill_ring, wait_for

from ferrolog import Pipeline

pytestmark = [
    pytest.mark.needs_fork,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # fork with threads
]


def _wait_child(pid: int) -> int:
    """The child's exit code; a child still running at the deadline is killed and fails."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.005)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail("the forked child hung (deadlock)")


def _fork(child: Callable[[], bool]) -> int:
    """Fork; the child runs `child()` and exits 0 if it returned True."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            code = 0 if child() else 2
        finally:
            os._exit(code)
    return _wait_child(pid)


def _logs_to_a_file(path: Path) -> Callable[[], bool]:
    """In the child: a pipeline created before the fork writes 50 events to `path`."""
    p = Pipeline(sinks=[{"type": "file", "path": str(path)}])

    def child() -> bool:
        log = p.logger("child")
        for i in range(50):
            log.info("child", i=i)
        if not p.flush(DEADLINE):
            return False
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        return [ev["i"] for ev in lines] == list(range(50)) and p.close(DEADLINE)

    return child


class SlowStop(GateSink):
    """A sink whose stop() waits for the gate: close() stays inside it until released."""

    def __init__(self) -> None:
        super().__init__()
        self.stopping = threading.Event()

    def write_batch(self, batch: memoryview) -> None:
        self.lines.extend(bytes(batch).splitlines())

    def stop(self) -> None:
        self.stopping.set()
        self.open.wait(DEADLINE)


def test_fork_while_another_thread_is_in_close(tmp_path: Path) -> None:
    """A child forked while a thread is inside close() on a slow sink logs and exits."""
    sink = SlowStop()
    busy = Pipeline(sinks=[sink])
    busy.logger("p").info("before")
    child = _logs_to_a_file(tmp_path / "child.log")
    closer = threading.Thread(target=busy.close, args=(DEADLINE,))
    closer.start()
    assert sink.stopping.wait(DEADLINE)
    # In the child the pipeline being closed is closed, with no writer to wait for: its
    # close() returns at once (a wait would outlast the parent's deadline for the child).
    assert _fork(lambda: child() and busy.close(2 * DEADLINE)) == 0
    sink.release()
    closer.join(DEADLINE)
    assert not closer.is_alive()
    assert [json.loads(line)["message"] for line in sink.lines] == ["before"]


def test_fork_while_another_thread_creates_pipelines(tmp_path: Path) -> None:
    """Children forked while a thread creates and drops pipelines in a loop all log and exit."""
    stop = threading.Event()
    made = [0]

    def churn() -> None:
        while not stop.is_set():
            Pipeline(sinks=[{"type": "null"}]).logger("x").info("m")
            made[0] += 1

    t = threading.Thread(target=churn)
    t.start()
    try:
        wait_for(lambda: made[0] > 0, "the churning thread to start")
        codes = [_fork(_logs_to_a_file(tmp_path / f"child{i}.log")) for i in range(3)]
    finally:
        stop.set()
        t.join(DEADLINE)
    assert codes == [0, 0, 0]


def test_fork_while_another_thread_is_blocked_in_flush(tmp_path: Path) -> None:
    """A child forked while a thread waits in flush() on a stalled sink gets its own writer:
    once it frees the sink, its events are written; the parent's flush is unaffected."""
    gate = GateSink()
    busy = Pipeline(sinks=[gate])
    log = busy.logger("p")
    log.info("stuck")
    assert gate.entered.wait(DEADLINE)
    result: list[bool] = []
    flusher = threading.Thread(target=lambda: result.append(busy.flush(DEADLINE)))
    flusher.start()
    child_file = _logs_to_a_file(tmp_path / "child.log")

    def child() -> bool:
        gate.release()  # the child's copy of the sink
        log.info("from the child")
        return busy.flush(DEADLINE) and busy.stats()["written"] == 1 and child_file()

    assert _fork(child) == 0
    gate.release()
    flusher.join(DEADLINE)
    assert result == [True]
    assert busy.close(DEADLINE)
    assert [json.loads(line)["message"] for line in gate.lines] == ["stuck"]


def test_fork_while_another_thread_is_blocked_in_a_block_overflow_push(tmp_path: Path) -> None:
    """A child forked while a producer waits for space under `block` starts with an empty ring
    and a writer of its own, and logs normally."""
    gate = GateSink()
    busy = Pipeline(sinks=[gate], capacity_bytes=4096, overflow="block", block_timeout=60.0)
    log = busy.logger("p")
    calls = fill_ring(busy, log)
    emitted = busy.stats()["emitted"]
    producer = threading.Thread(target=log.info, args=("blocked",))
    producer.start()
    wait_for(lambda: busy.stats()["emitted"] == emitted + 1, "the producer to block")
    child_file = _logs_to_a_file(tmp_path / "child.log")

    def child() -> bool:
        gate.release()
        for i in range(20):
            log.info("from the child", i=i)
        stats = busy.stats()
        return (
            busy.flush(DEADLINE)
            and busy.stats()["written"] == 20
            and stats["emitted"] == 20
            and child_file()
        )

    assert _fork(child) == 0
    gate.release()
    producer.join(DEADLINE)
    assert busy.flush(DEADLINE)
    stats = busy.stats()
    assert stats["emitted"] == calls + 1 == stats["written"] + stats["dropped"]
    busy.close(DEADLINE)


_FORK_DURING_LAZY_INIT = r"""
import importlib.abc, os, sys, threading, time
from ferrolog import Pipeline

assert "ferrolog._exceptions" not in sys.modules
entered, release = threading.Event(), threading.Event()


class SlowImport(importlib.abc.MetaPathFinder):
    # Holds the first import of the exception helper until `release`: the extension's
    # first structured exception initialises a lazy cell around exactly this import.
    def find_spec(self, name, path, target=None):
        if name == "ferrolog._exceptions" and not release.is_set():
            entered.set()
            release.wait(30)
        return None


sys.meta_path.insert(0, SlowImport())
p = Pipeline(sinks=[{"type": "null"}])
log = p.logger("t")


def first_exception():
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("first")


t = threading.Thread(target=first_exception)
t.start()
assert entered.wait(30)
threading.Timer(0.5, release.set).start()
pid = os.fork()
if pid == 0:
    try:
        log.exception("in the child")  # the same lazy cell
        code = 0 if p.flush(10) else 3
    finally:
        os._exit(code)
deadline = time.monotonic() + 30
while True:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    if time.monotonic() > deadline:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        print("the child hung")
        sys.exit(1)
    time.sleep(0.01)
t.join(30)
assert not t.is_alive()
assert p.flush(10)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def test_fork_while_another_thread_initialises_a_lazy_helper() -> None:
    """A fork that lands while another thread is initialising one of the extension's lazy
    helpers (here: the first structured exception, whose helper import is held) does not
    leave the child waiting for that helper forever: the fork waits for the initialiser."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", _FORK_DURING_LAZY_INIT],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, (out.stdout, out.stderr[-3000:])
