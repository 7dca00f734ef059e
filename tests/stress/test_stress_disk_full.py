"""Disk full: a child process whose file sink hits RLIMIT_FSIZE (SIGXFSZ ignored, so the write
fails with EFBIG as on a full disk). The errors are counted, the fallback sink (a second file)
gets the events, the application's own work is unaffected, and once the limit is raised again
the primary sink is retried (after PROBE_FIRST = 1 s, then with backoff) and gets the events
again. Every event is in exactly one of the two files and no line is torn."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.linux_only]

# The primary file's size before the child starts; the limit sits a little above the primary's
# size, and RLIMIT_FSIZE binds the fallback file too, so the prefill keeps the fallback (which
# grows by ~30 KiB a cycle) far below it.
PREFILL = 1 << 20

# The child: `cycles` times, lowers the soft RLIMIT_FSIZE to a little above the primary's size
# (not at a line boundary), logs until the sink reports failing, logs 100 more (these must go to
# the fallback), raises the limit and logs until the sink has recovered, then logs 50 more (these
# must reach the primary). Its own work (a running sum) goes on throughout and is printed with
# the stats as one JSON line at the end.
CHILD = r"""
import json, os, random, resource, signal, sys, time
from ferrolog import Pipeline
primary, spare, cycles, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(seed)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
_soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
p = Pipeline(sinks=[{"type": "file", "path": primary}],
             fallback={"type": "file", "path": spare}, batch_bytes=4096)
log = p.logger("disk")
state = {"seq": 0, "work": 0}
phases = {"fallback": [], "recovered": []}
recoveries = []

def event(phase):
    log.info("event", seq=state["seq"], phase=phase, pad="y" * 80)
    state["work"] += state["seq"]  # the application's own work
    state["seq"] += 1

def failing():
    return p.sink_health()[0]["failing"]

def until(cond, phase, what):
    deadline = time.monotonic() + 120.0
    while not cond():
        if time.monotonic() > deadline:
            sys.exit(f"child: timed out waiting for {what}")
        event(phase)
        assert p.flush(30.0)
        time.sleep(0.02)

for cycle in range(cycles):
    limit = os.path.getsize(primary) + rng.randrange(1000, 3000)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    until(failing, "filling", "the primary to fail")
    for _ in range(100):
        phases["fallback"].append(state["seq"])
        event("fallback")
    assert p.flush(30.0)
    assert failing(), "recovered while the limit was still low"
    resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
    raised = time.monotonic()
    until(lambda: not failing(), "probing", "the primary to recover")
    recoveries.append(time.monotonic() - raised)
    for _ in range(50):
        phases["recovered"].append(state["seq"])
        event("recovered")
    assert p.flush(30.0)

stats, health = p.stats(), p.sink_health()[0]
assert p.close(30.0)
print(json.dumps({"seq": state["seq"], "work": state["work"], "stats": stats,
                  "health": health, "phases": phases, "recoveries": recoveries}))
"""


def _events(path: Path) -> list[dict[str, Any]]:
    # Every line must parse: a torn line (a partial write left behind) would fail here.
    lines = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    return [e for e in lines if "filler" not in e]


def _run(cycles: int, tmp: Path, figure: Callable[[str, object], None]) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    if hard != resource.RLIM_INFINITY and hard < PREFILL + (64 << 20):
        pytest.skip(f"RLIMIT_FSIZE's hard limit ({hard}) is too low to raise the soft one")
    primary, spare = tmp / "app.log", tmp / "spare.log"
    filler = b'{"filler":true}\n'
    primary.write_bytes(filler * (PREFILL // len(filler)))
    seed = int.from_bytes(os.urandom(4), "little")
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(primary), str(spare), str(cycles), str(seed)],
        capture_output=True,
        text=True,
        timeout=300 + 60 * cycles,
        check=False,
    )
    assert done.returncode == 0, (seed, done.stdout, done.stderr)
    report = json.loads(done.stdout)
    n, stats, health = report["seq"], report["stats"], report["health"]

    assert report["work"] == n * (n - 1) // 2, "the application's own work was affected"
    assert stats["emitted"] == stats["written"] == n, stats
    assert stats["dropped"] == 0, stats
    in_primary = [e["seq"] for e in _events(primary)]
    in_spare = [e["seq"] for e in _events(spare)]
    assert sorted(in_primary + in_spare) == list(range(n)), "an event lost or duplicated"
    assert set(report["phases"]["fallback"]) <= set(in_spare), "failing: not in the fallback"
    assert set(report["phases"]["recovered"]) <= set(in_primary), "recovered: not in the primary"
    assert stats["rerouted"] == len(in_spare)
    assert health["rerouted"] == len(in_spare)
    assert health["failovers"] == cycles
    assert health["errors"] >= cycles
    assert not health["failing"]
    reports = [line for line in done.stderr.splitlines() if line.startswith("ferrolog: ")]
    assert sum("failed" in r and "File too large" in r for r in reports) == cycles, reports
    assert sum("recovered" in r for r in reports) == cycles, reports

    figure("disk-full cycles", cycles)
    figure("disk-full events (primary / fallback)", f"{len(in_primary)} / {len(in_spare)}")
    figure("disk-full sink errors counted", health["errors"])
    worst = max(report["recoveries"])
    figure("disk-full worst recovery after the limit was raised", f"{worst:.2f} s")


def test_a_full_file_fails_over_and_recovers(
    tmp_path: Path, figure: Callable[[str, object], None]
) -> None:
    _run(1, tmp_path, figure)


@pytest.mark.stress
def test_a_full_file_fails_over_and_recovers_full(
    tmp_path: Path, figure: Callable[[str, object], None]
) -> None:
    _run(8, tmp_path, figure)
