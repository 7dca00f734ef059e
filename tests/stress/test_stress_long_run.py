"""Long run: millions of events through one container with size rotation (and retention), in
a child process of its own. At checkpoints (after a flush) it reports its RSS (/proc/self/statm)
and its open file descriptors (/proc/self/fd): the descriptors never change, and the RSS after
warm-up (the first checkpoint) stays flat, within a generous bound. Every event is written,
none dropped, and the file rotated."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

pytestmark = [pytest.mark.needs_proc, pytest.mark.linux_only]

CHECKPOINTS = 10
#: RSS growth allowed from the first checkpoint to any later one (allocator noise, not a leak:
#: a leak of even 8 bytes per event is 80 MB over the full run).
RSS_SLACK = 24 << 20

# A request-shaped workload: a bound logger per 100 events, request context per 1000, fields of
# several types. The ring blocks when full, so every event must be written.
CHILD = r"""
import json, os, sys, time
from ferrolog import Container, Logger, Pipeline, bound_contextvars
path = sys.argv[1]
events, checkpoints, max_bytes = (int(a) for a in sys.argv[2:5])
settings = {
    "level": "info",
    "sinks": [{"type": "file", "path": path, "max_bytes": max_bytes, "backups": 2}],
    "ring": {"overflow": "block", "block_timeout": 60},
}
page = os.sysconf("SC_PAGE_SIZE")
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * page
def fds():
    return sorted(os.listdir("/proc/self/fd"))
every = events // checkpoints
with Container.create_sync(settings) as container:
    log = container.get_sync(Logger)
    pipeline = container.get_sync(Pipeline)
    started = time.monotonic()
    i = 0
    while i < events:
        with bound_contextvars(trace=i // 1000):
            for _ in range(10):
                req = log.bind(request_id=f"r-{i}", user=i % 97)
                for _ in range(100):
                    req.info("handled", i=i, latency_ms=i * 0.5, ok=True, tags=["a", "b"])
                    i += 1
                if i % every == 0:
                    assert pipeline.flush(120.0)
                    print(json.dumps({"events": i, "rss": rss(), "fds": fds(),
                                      "seconds": time.monotonic() - started}), flush=True)
    stats = pipeline.stats()
print(json.dumps({"stats": stats}), flush=True)
"""


def _run(events: int, max_bytes: int, tmp: Path, figure: Callable[[str, object], None]) -> None:
    assert events % (CHECKPOINTS * 1000) == 0
    path = tmp / "long.log"
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(events), str(CHECKPOINTS), str(max_bytes)],
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    *points, last = [orjson.loads(line) for line in out.stdout.splitlines()]
    assert len(points) == CHECKPOINTS, out.stdout
    stats = last["stats"]
    assert stats["emitted"] == stats["written"] == events, stats
    assert stats["dropped"] == stats["errors"] == 0, stats
    assert (tmp / "long.log.1").exists(), "the file should have rotated"
    assert not (tmp / "long.log.3").exists(), "retention keeps 2 backups"

    warm = points[0]
    for p in points:
        assert p["fds"] == warm["fds"], f"descriptors changed at {p['events']}: {p['fds']}"
        assert p["rss"] - warm["rss"] <= RSS_SLACK, f"RSS grew at {p['events']}: {points}"
    mib = [f"{p['events'] // 1000}k: {p['rss'] / 2**20:.1f}" for p in points]
    figure(f"long run {events:,} events", f"{events / points[-1]['seconds']:,.0f} events/s")
    figure("long run RSS MiB at checkpoints", ", ".join(mib))
    figure(
        "long run RSS growth after warm-up", f"{(points[-1]['rss'] - warm['rss']) / 2**20:+.1f} MiB"
    )
    figure("long run open descriptors", f"{len(warm['fds'])} at every checkpoint")


def test_long_run_keeps_descriptors_and_memory_flat(
    tmp_path: Path, figure: Callable[[str, object], None]
) -> None:
    _run(200_000, 4 << 20, tmp_path, figure)


@pytest.mark.stress
def test_long_run_keeps_descriptors_and_memory_flat_full(
    tmp_path: Path, figure: Callable[[str, object], None]
) -> None:
    _run(10_000_000, 64 << 20, tmp_path, figure)
