"""Worker processes of tests/stress/test_stress_multiprocess.py, all appending to ONE rotating
file: `python mp_writer.py MODE PATH WORKERS SECONDS RATE MAX_BYTES COMPRESS`.

MODE `prefork` (gunicorn style): the container is created in this process, which logs, then
forks WORKERS children that log through the inherited logger. MODE `spawn`: WORKERS processes
started by multiprocessing's spawn method, each creating its own container. Every worker logs
`{"w": worker, "seq": 0, 1, 2, ...}` for SECONDS (at most RATE events/s), closes its container
and prints one JSON line `{"w": worker, "count": n}` on stdout.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import time
from typing import Any

from ferrolog import Container, Logger

PAD = "m" * 64


def settings(path: str, max_bytes: int, compress: bool) -> dict[str, Any]:
    return {
        "level": "info",
        # Enough backups that retention deletes nothing: every line must still be there.
        "sinks": [
            {
                "type": "file",
                "path": path,
                "max_bytes": max_bytes,
                "backups": 1000,
                "compress": compress,
            }
        ],
        "ring": {"overflow": "block", "block_timeout": 60},
    }


def work(log: Logger, worker: int, seconds: float, rate: int) -> int:
    """Logs worker's sequence for `seconds`, in chunks, at most `rate` events/s: how many."""
    chunk = max(rate // 200, 1)
    seq = 0
    start = time.monotonic()
    while (elapsed := time.monotonic() - start) < seconds:
        if seq >= elapsed * rate + chunk:
            time.sleep(0.002)
            continue
        for _ in range(chunk):
            log.info("mp", w=worker, seq=seq, pad=PAD)
            seq += 1
    return seq


def _report(worker: int, count: int) -> None:
    sys.stdout.write(json.dumps({"w": worker, "count": count}) + "\n")
    sys.stdout.flush()


def prefork(path: str, workers: int, seconds: float, rate: int, max_bytes: int, gz: bool) -> None:
    container = Container.create_sync(settings(path, max_bytes, gz))
    log = container.get_sync(Logger)
    log.info("master up", w=-1, seq=0)  # the master's writer thread is running at the fork
    children = []
    for w in range(workers):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                count = work(log, w, seconds, rate)
                container.close()
                _report(w, count)
                code = 0
            finally:
                os._exit(code)
        children.append(pid)
    failed = [pid for pid in children if os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) != 0]
    container.close()
    if failed:
        sys.exit(f"workers {failed} failed")


def spawned(path: str, worker: int, seconds: float, rate: int, max_bytes: int, gz: bool) -> None:
    with Container.create_sync(settings(path, max_bytes, gz)) as container:
        count = work(container.get_sync(Logger), worker, seconds, rate)
    _report(worker, count)


def spawn(path: str, workers: int, seconds: float, rate: int, max_bytes: int, gz: bool) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=spawned, args=(path, w, seconds, rate, max_bytes, gz))
        for w in range(workers)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    failed = [proc.pid for proc in procs if proc.exitcode != 0]
    if failed:
        sys.exit(f"workers {failed} failed")


if __name__ == "__main__":
    mode, path, workers, seconds, rate, max_bytes, gz = sys.argv[1:8]
    run = prefork if mode == "prefork" else spawn
    run(path, int(workers), float(seconds), int(rate), int(max_bytes), gz == "1")
