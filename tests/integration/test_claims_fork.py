"""README claim: after os.fork() the child starts with an empty ring and its own writer thread,
even when the fork lands while another thread is blocked in `flush` or in a `block` push."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ferrolog import Pipeline

pytestmark = [
    pytest.mark.needs_fork,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # fork with threads, on purpose
]


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.001)


def _exit_code(pid: int, timeout: float = 30.0) -> int:
    """The child's exit code; a child still running after `timeout` is killed and fails."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            stacks = _native_stacks(pid)
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail(
                f"forked child {pid} hung (killed after {timeout} s); its threads:\n{stacks}"
            )
        time.sleep(0.005)


def _native_stacks(pid: int) -> str:
    """Every thread's native stack of a hung process, when gdb is there to read them."""
    if shutil.which("gdb") is None:
        return "(gdb not installed: no stacks)"
    done = subprocess.run(
        ["gdb", "-p", str(pid), "-batch", "-ex", "thread apply all bt 30"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.stdout[-20_000:]


class GatedFileSink:
    """Appends batches to a file; in the parent, holds every batch until `gate` is set."""

    # Stall the whole pipeline while gated (a Python sink is otherwise isolated: its own
    # queue overflows to the fallback sink), and never count as hung.
    backpressure = True
    timeout = 300.0
    queue_bytes = 0  # one batch at a time

    def __init__(self, path: Path) -> None:
        self.path = path
        self.parent = os.getpid()
        self.gate = threading.Event()
        self.entered = threading.Event()

    def write_batch(self, batch: memoryview) -> None:
        if os.getpid() == self.parent:
            self.entered.set()
            assert self.gate.wait(60.0)
        with self.path.open("ab") as f:
            f.write(bytes(batch))


def _at_line(thread: threading.Thread, line: int) -> bool:
    """Whether `thread` is executing `line` (i.e. inside the call made on that line)."""
    frame = sys._current_frames().get(thread.ident or -1)
    return frame is not None and frame.f_lineno == line


@pytest.mark.parametrize("blocked_in", ["flush", "push"])
def test_fork_while_a_thread_is_blocked(tmp_path: Path, blocked_in: str) -> None:
    """A child forked while a parent thread waits in flush() or in a full-ring `block` push
    logs and flushes its own events within a deadline and exits 0; the parent's counters
    then account for exactly the parent's events."""
    path = tmp_path / "fork.log"
    sink = GatedFileSink(path)
    p = Pipeline(
        sinks=[sink], capacity_bytes=8192, batch_bytes=4096, overflow="block", block_timeout=60.0
    )
    log = p.logger("parent")
    try:
        parent_events = 1 if blocked_in == "flush" else 2000
        results: list[bool] = []

        def flusher() -> None:
            log.info("parent", i=0)
            results.append(p.flush(60.0))  # FLUSH_LINE

        def producer() -> None:
            for i in range(parent_events):
                log.info("parent", i=i, pad="p" * 64)  # PUSH_LINE

        source = Path(__file__).read_text().splitlines()
        marker = "# FLUSH_LINE" if blocked_in == "flush" else "# PUSH_LINE"
        line = next(n for n, text in enumerate(source, 1) if text.rstrip().endswith(marker))
        thread = threading.Thread(target=flusher if blocked_in == "flush" else producer)
        thread.start()
        try:
            assert sink.entered.wait(30.0)
            if blocked_in == "push":
                _wait_for(lambda: p.stats()["high_water"] > 8192 - 512, "a full ring")
            _wait_for(lambda: _at_line(thread, line), f"the thread to block in {blocked_in}")
            pid = os.fork()
            if pid == 0:  # pragma: no cover - runs in the child
                code = 1
                try:
                    child = p.logger("child")
                    for i in range(100):
                        child.info("child", i=i)
                    ok = p.flush(10.0)
                    stats = p.stats()
                    code = 0 if ok and stats["emitted"] == stats["written"] == 100 else 2
                finally:
                    os._exit(code)
            assert _exit_code(pid) == 0
        finally:
            sink.gate.set()
            thread.join(60.0)
        assert not thread.is_alive()
        assert p.flush(30.0)
        assert results == ([True] if blocked_in == "flush" else [])
        stats = p.stats()
        assert stats["emitted"] == stats["written"] == parent_events
        assert stats["dropped"] == 0
    finally:
        sink.gate.set()
        p.close(10.0)
    events = [json.loads(line) for line in path.read_text().splitlines()]
    assert [e["i"] for e in events if e["message"] == "child"] == list(range(100))
    assert [e["i"] for e in events if e["message"] == "parent"] == list(range(parent_events))
