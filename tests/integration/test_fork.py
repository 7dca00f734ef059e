"""After os.fork() the child neither writes the parent's backlog nor deadlocks, and logs."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from ferrolog import Pipeline

pytestmark = pytest.mark.needs_fork


def _wait(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork with threads, on purpose
def test_fork_during_a_burst(tmp_path: Path) -> None:
    """A child forked while other threads are logging writes only its own events."""
    path = tmp_path / "fork.log"
    p = Pipeline(sinks=[{"type": "file", "path": str(path)}], capacity_bytes=1 << 16)
    log = p.logger("fork")
    stop = threading.Event()

    def burst() -> None:
        i = 0
        while not stop.is_set():
            log.info("parent", i=i)
            i += 1

    threads = [threading.Thread(target=burst) for _ in range(2)]
    for t in threads:
        t.start()
    pids = []
    for child in range(3):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            code = 1
            try:
                clog = p.logger("child")
                for i in range(100):
                    clog.info("child", child=child, i=i)
                ok = p.flush(10.0)
                stats = p.stats()
                code = 0 if ok and stats["emitted"] == stats["written"] == 100 else 2
            finally:
                os._exit(code)
        pids.append(pid)
    codes = [_wait(pid) for pid in pids]
    stop.set()
    for t in threads:
        t.join(30.0)
        assert not t.is_alive(), "a logging thread did not stop"
    assert p.flush(10.0)
    p.close(5.0)
    assert codes == [0, 0, 0]
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    children = [ev for ev in lines if ev["message"] == "child"]
    assert len(children) == 300
    for child in range(3):
        assert [ev["i"] for ev in children if ev["child"] == child] == list(range(100))
    parents = [ev for ev in lines if ev["message"] == "parent"]
    stats = p.stats()
    assert stats["written"] == len(parents)  # the parent's counters are its own


class _AppendToFile:
    """A Python sink appending each batch to a file (visible across processes)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write_batch(self, batch: memoryview) -> None:
        with self.path.open("ab") as f:
            f.write(bytes(batch))


def test_python_sinks_work_in_a_forked_child(tmp_path: Path) -> None:
    """A pipeline with a Python sink gets a new runner thread in the child and keeps logging."""
    path = tmp_path / "py-sink.log"
    p = Pipeline(sinks=[_AppendToFile(path)])
    log = p.logger("fork")
    log.info("before fork")
    assert p.flush(10.0)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            for i in range(50):
                log.info("child", i=i)
            ok = p.close(10.0)
            stats = p.stats()
            code = 0 if ok and stats["written"] == 50 else 2
        finally:
            os._exit(code)
    assert _wait(pid) == 0
    log.info("parent after fork")
    assert p.close(10.0)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [e["i"] for e in lines if e["message"] == "child"] == list(range(50))
    assert [e["message"] for e in lines if e["message"] != "child"] == [
        "before fork",
        "parent after fork",
    ]
