"""Crash: a child process logging sequence-numbered events to a file sink is killed with
SIGKILL at a random moment. The file must hold a gap-free prefix 0..k of the sequence (nothing
missing, nothing duplicated) with at most one torn final line, and the events lost (those the
child had logged minus the prefix) must fit in the ring plus one batch."""

from __future__ import annotations

import mmap
import random
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from conftest import STRESS_SEED

pytestmark = [pytest.mark.needs_fork, pytest.mark.linux_only]

RING = 64 << 10
BATCH = 16 << 10
PAD = "x" * 120  # ~200-byte lines: the ring holds a few hundred events

# The child: logs seq 0, 1, 2, ... with overflow="block" (so nothing is dropped and the file
# can be gap-free), and after each call returns stores seq + 1 in a shared 8-byte counter (a
# MAP_SHARED page survives SIGKILL). It prints "ready" once the pipeline is up.
CHILD = r"""
import mmap, os, struct, sys
from ferrolog import Pipeline
log_path, counter_path, ring, batch, pad = sys.argv[1:6]
p = Pipeline(sinks=[{"type": "file", "path": log_path}], capacity_bytes=int(ring),
             batch_bytes=int(batch), overflow="block", block_timeout=600.0)
log = p.logger("crash")
fd = os.open(counter_path, os.O_RDWR)
counter = mmap.mmap(fd, 8)
print("ready", flush=True)
seq = 0
while True:
    log.info("event", seq=seq, pad=pad)
    seq += 1
    counter[0:8] = struct.pack("<q", seq)
"""


def _trial(tmp: Path, rng: random.Random) -> tuple[int, int, int]:
    """One child, killed at a random moment: (logged, prefix, loss bound in events)."""
    log_path, counter_path = tmp / "app.log", tmp / "counter"
    log_path.unlink(missing_ok=True)
    counter_path.write_bytes(b"\0" * 8)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(log_path), str(counter_path), str(RING), str(BATCH), PAD],
        stdout=subprocess.PIPE,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == b"ready\n"
        time.sleep(rng.uniform(0.0, 0.2))
        child.send_signal(signal.SIGKILL)
        assert child.wait(60) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(60)
        if child.stdout is not None:
            child.stdout.close()
    with open(counter_path, "rb") as f, mmap.mmap(f.fileno(), 8, access=mmap.ACCESS_READ) as m:
        (logged,) = struct.unpack("<q", m[0:8])

    data = log_path.read_bytes() if log_path.exists() else b""
    *complete, tail = data.split(b"\n")  # tail: b"" or the one torn final line
    seqs = [orjson.loads(line)["seq"] for line in complete]  # every complete line parses
    assert seqs == list(range(len(seqs))), "not a gap-free, duplicate-free prefix"
    if tail:
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(tail)  # a torn line, not a complete event without its newline
    prefix = len(seqs)
    # The kill may land between a log call's return and the counter's update: one more event
    # than the counter says may have been accepted.
    assert prefix <= logged + 1, (prefix, logged)
    line = min((len(x) + 1 for x in complete), default=200)
    bound = (RING + BATCH) // line + 1
    assert logged - prefix <= bound, f"lost {logged - prefix} events, more than ring + batch"
    return logged, prefix, bound


def _run(trials: int, tmp: Path, figure: Callable[[str, object], None]) -> None:
    seed = STRESS_SEED or random.randrange(1 << 30)
    rng = random.Random(seed)
    worst, worst_bound, total_logged = 0, 0, 0
    for n in range(trials):
        try:
            logged, prefix, bound = _trial(tmp, rng)
        except AssertionError as e:
            raise AssertionError(f"trial {n} (STRESS_SEED={seed}): {e}") from e
        total_logged += logged
        if logged - prefix >= worst:
            worst, worst_bound = max(logged - prefix, 0), bound
    figure("crash trials", trials)
    figure("crash events logged (all trials)", total_logged)
    figure("crash worst loss", f"{worst} events (bound: ring + batch = {worst_bound} events)")


def test_sigkill_leaves_a_gap_free_prefix(
    tmp_path: Path, figure: Callable[[str, object], None]
) -> None:
    _run(10, tmp_path, figure)


@pytest.mark.stress
def test_sigkill_leaves_a_gap_free_prefix_full(
    tmp_path: Path, figure: Callable[[str, object], None]
) -> None:
    _run(60, tmp_path, figure)
