"""After os.fork() the child neither writes the parent's backlog nor deadlocks, and logs."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from ferrolog import Pipeline


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
        t.join()
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
