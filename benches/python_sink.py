"""End-to-end throughput with one async Python sink beside the native file sink.

    python benches/python_sink.py [--rounds 7] [--events 200000]

Each round runs two fresh processes in alternating order: a pipeline with only a native file
sink (the baseline), and the same pipeline plus one async Python sink (a coroutine
``write_batch`` that counts the lines of each batch, on its own worker thread and loop, with
``backpressure = True`` so that nothing is rerouted: a burst from a thread that holds the GIL
can outrun a Python sink, whose default is to overflow to the fallback sink). Both
log ``--events`` events under the ``block`` overflow policy (nothing dropped) and close; the
time is from the first log call until ``close()`` returned, so every event is written to the
file and handed to the Python sink. It prints events/s of each, and the median over rounds of
the per-round ratio with its min-max: the machine's drift between rounds cancels out.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile

_CHILD = r"""
import json, os, sys, time
from ferrolog import _native

events, with_python, path = int(sys.argv[1]), sys.argv[2] == "1", sys.argv[3]

class Counting:
    # Lossless: when its queue is full the pipeline waits for it (so `block` applies to the
    # callers) instead of rerouting what does not fit to the fallback sink.
    backpressure = True

    def __init__(self):
        self.lines = 0

    async def write_batch(self, batch):
        self.lines += bytes(batch).count(b"\n")

counting = Counting()
sinks = [{"type": "file", "path": path}]
if with_python:
    sinks.append(counting)
p = _native.Pipeline(sinks=sinks, capacity_bytes=8 << 20, overflow="block", block_timeout=60.0)
log = p.logger("bench", "info")
info = log.info
start = time.perf_counter()
for i in range(events):
    info("request handled", user_id=i, path="/api/items", latency_ms=12.5)
assert p.close(120.0)
took = time.perf_counter() - start
stats = p.stats()
assert stats["written"] == events, stats
if with_python:
    assert counting.lines == events, counting.lines
print(json.dumps({"events_per_s": events / took}))
"""


def _run(events: int, with_python: bool) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                _CHILD,
                str(events),
                "1" if with_python else "0",
                f"{tmp}/b.log",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    return float(json.loads(done.stdout)["events_per_s"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args()
    base, python, ratios = [], [], []
    for r in range(args.rounds):
        order = (False, True) if r % 2 == 0 else (True, False)
        got = {flag: _run(args.events, flag) for flag in order}
        base.append(got[False])
        python.append(got[True])
        ratios.append(got[True] / got[False])
    print(f"native file sink only:           {statistics.median(base):>12,.0f} events/s (median)")
    print(f"+ one async Python sink:         {statistics.median(python):>12,.0f} events/s (median)")
    print(
        f"ratio (with / without), median:  {statistics.median(ratios):.3f} "
        f"(min {min(ratios):.3f}, max {max(ratios):.3f}, {args.rounds} rounds)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
