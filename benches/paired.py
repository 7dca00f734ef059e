"""Paired A/B comparison of ferrolog's caller cost between two builds.

    python benches/paired.py --a /path/to/baseline/.venv/bin/python --b .venv/bin/python

Each build is an interpreter whose environment imports its own ferrolog (a venv with an
editable or wheel install). Every round runs one fresh process per build, in alternating order
(A B, then B A, ...), each timing the same call shapes against a null sink; the result is the
median over rounds of the per-round ratio B/A, with its min-max, so that the machine's drift
between rounds cancels out. A single round proves nothing on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile

# Runs inside each build's interpreter: prints {case: ns per call}, the best of REPS repeats.
_CHILD = r"""
import json, sys, time
import ferrolog
from ferrolog import _native

CALLS, REPS = int(sys.argv[1]), int(sys.argv[2])
p = _native.Pipeline(sinks=[{"type": "null"}], capacity_bytes=16 << 20, overflow="block")
log = p.logger("bench", "info")


def plain(info=log.info):
    for i in range(CALLS):
        info("request handled", user_id=i, path="/api/items", latency_ms=12.5)


def bound(info=log.bind(service="api", region="eu-west-1", build=4211).info):
    for i in range(CALLS):
        info("request handled", user_id=i, path="/api/items", latency_ms=12.5)


def context(info=log.info):
    with ferrolog.bound_contextvars(request_id="r-8f14e45f", tenant="acme"):
        for i in range(CALLS):
            info("request handled", user_id=i, path="/api/items", latency_ms=12.5)


def disabled(debug=log.debug):
    for i in range(CALLS):
        debug("request handled", user_id=i, path="/api/items", latency_ms=12.5)


out = {}
for name, fn in [("plain_3_fields", plain), ("3_bound_3_call", bound),
                 ("2_contextvars", context), ("level_disabled", disabled)]:
    best = float("inf")
    for _ in range(REPS):
        t0 = time.perf_counter_ns()
        fn()
        best = min(best, (time.perf_counter_ns() - t0) / CALLS)
        p.flush(10.0)
    out[name] = best
p.close(10.0)
print(json.dumps(out))
"""


def _run(python: str, calls: int, reps: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as cwd:  # never import a source tree by accident
        done = subprocess.run(
            [python, "-c", _CHILD, str(calls), str(reps)],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        )
    result: dict[str, float] = json.loads(done.stdout)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--a", required=True, help="the baseline build's python")
    parser.add_argument("--b", required=True, help="the candidate build's python")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()

    ratios: dict[str, list[float]] = {}
    a_ns: dict[str, list[float]] = {}
    b_ns: dict[str, list[float]] = {}
    for r in range(args.rounds):
        order = [("a", args.a), ("b", args.b)]
        if r % 2:
            order.reverse()
        got = {tag: _run(py, args.calls, args.reps) for tag, py in order}
        for case in got["a"]:
            a_ns.setdefault(case, []).append(got["a"][case])
            b_ns.setdefault(case, []).append(got["b"][case])
            ratios.setdefault(case, []).append(got["b"][case] / got["a"][case])
    print(f"{args.rounds} paired rounds, {args.calls} calls x best of {args.reps} per process")
    print(f"{'case':<16} {'A ns (median)':>14} {'B ns (median)':>14} {'B/A median':>11} range")
    for case, rs in ratios.items():
        print(
            f"{case:<16} {statistics.median(a_ns[case]):>14.1f} "
            f"{statistics.median(b_ns[case]):>14.1f} {statistics.median(rs):>11.3f} "
            f"{min(rs):.3f}-{max(rs):.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
