"""Logging at a low, steady rate from an asyncio app: what one event costs its caller and the
writer thread when events come one at a time (a service at rest, a worker), not in a loop.

An asyncio task logs one event every 1/rate seconds (``loop.call_at`` deadlines, so the rate
holds) for ``--seconds``; the same task without the log call is the baseline. Per event:

- **caller**: each log call's own duration (``perf_counter_ns`` around it, median over the
  run), less the clock pair's; at these rates every call starts with cold caches;
- **writer CPU**: the rest of the process's CPU (the writer thread; an asyncio app has no
  other thread) against the baseline's;
- **caller syscalls** (``--syscalls``, needs strace): the loop thread's system calls against
  the baseline's, counted by ``strace -f -c``-style tracing of a child run. No syscall per
  event on the caller means the writer is never woken by a producer at these rates.

    python benches/lowrate.py                      # 100 and 1,000 events/s, 4 s each, 3 runs
    python benches/lowrate.py --rates 100 --seconds 2 --runs 1 --syscalls
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

MARK = "lowrate-measure"


async def _drive(
    rate: float, seconds: float, log: Any, calls: list[int] | None = None
) -> tuple[int, int, int]:
    """Log (or not, when `log` is None) at `rate` for `seconds`: (events, thread ns, process ns).
    With `calls`, each call's own duration (``perf_counter_ns`` around it; around nothing
    without `log`, which measures the clock pair) is appended to it."""
    loop = asyncio.get_running_loop()
    period = 1.0 / rate
    n = int(rate * seconds)
    clock = time.perf_counter_ns
    t0, p0 = time.thread_time_ns(), time.process_time_ns()
    start = loop.time()
    for i in range(n):
        fut = loop.create_future()
        loop.call_at(start + i * period, fut.set_result, None)
        await fut
        if calls is None:
            if log is not None:
                log.info("tick", seq=i, rate=rate, queue_depth=3, ok=True)
            continue
        a = clock()
        if log is not None:
            log.info("tick", seq=i, rate=rate, queue_depth=3, ok=True)
        calls.append(clock() - a)
    return n, time.thread_time_ns() - t0, time.process_time_ns() - p0


async def _measure(rate: float, seconds: float, path: Path, with_log: bool) -> dict[str, float]:
    import ferrolog

    async with ferrolog.Container.create({"sinks": [{"type": "file", "path": str(path)}]}) as c:
        log = await c.get(ferrolog.Logger)
        await _drive(rate, min(0.5, seconds), log if with_log else None)  # warm up
        await log.flush()
        calls: list[int] = []
        n, thread_ns, process_ns = await _drive(rate, seconds, log if with_log else None, calls)
        pipe = await c.get(ferrolog.Pipeline)
        pipe.flush(10.0)
        stats = log.stats()
    return {
        "events": n,
        "call_ns": statistics.median(calls),
        "thread_ns": thread_ns,
        "other_ns": process_ns - thread_ns,
        "written": stats.get("written", 0),
        "dropped": stats.get("dropped", 0),
    }


def run_cpu(rates: list[float], seconds: float, runs: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="ferrolog-lowrate-") as tmp:
        for rate in rates:
            caller, writer = [], []
            for r in range(runs):  # baseline and logging alternate, run by run
                base = asyncio.run(_measure(rate, seconds, Path(tmp, f"b{r}.jsonl"), False))
                logd = asyncio.run(_measure(rate, seconds, Path(tmp, f"l{r}.jsonl"), True))
                n = logd["events"]
                # The call's own time (median over the run's calls) less the clock pair's.
                caller.append(logd["call_ns"] - base["call_ns"])
                writer.append((logd["other_ns"] - base["other_ns"]) / n)
                if logd["dropped"]:
                    print(f"lowrate: {logd['dropped']} events dropped at {rate}/s", file=sys.stderr)
            out[str(rate)] = {
                "caller_us": statistics.median(caller) / 1e3,
                "caller_range": [min(caller) / 1e3, max(caller) / 1e3],
                "writer_us": statistics.median(writer) / 1e3,
                "writer_range": [min(writer) / 1e3, max(writer) / 1e3],
            }
    return out


def _child(rate: float, seconds: float, with_log: bool) -> None:
    """Run under strace: prints the loop thread's tid, then the marker around the measurement."""
    import ferrolog

    async def main() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp, "x.jsonl")
            async with ferrolog.Container.create(
                {"sinks": [{"type": "file", "path": str(path)}]}
            ) as c:
                log = await c.get(ferrolog.Logger)
                await _drive(rate, 0.3, log if with_log else None)
                await log.flush()
                _mark("begin")
                n, _, _ = await _drive(rate, seconds, log if with_log else None)
                _mark("end")
                print(json.dumps({"tid": threading.get_native_id(), "events": n}))

    asyncio.run(main())


def _mark(what: str) -> None:
    with contextlib.suppress(OSError):
        os.stat(f"/nonexistent-{MARK}-{what}")


def run_syscalls(rates: list[float], seconds: float) -> dict[str, Any] | str:
    strace = shutil.which("strace")
    if strace is None:
        return "strace not found: caller syscalls not counted (apt-get install strace)"
    out: dict[str, Any] = {}
    for rate in rates:
        counts = {}
        for with_log in (False, True):
            with tempfile.NamedTemporaryFile(suffix=".strace") as trace:
                cmd = [
                    strace, "-f", "-qq", "-o", trace.name,
                    sys.executable, __file__, "--child", str(rate), str(seconds),
                    "1" if with_log else "0",
                ]  # fmt: skip
                proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
                info = json.loads(proc.stdout.strip().splitlines()[-1])
                tid = str(info["tid"])
                inside, calls = False, {}
                for line in Path(trace.name).read_text().splitlines():
                    if MARK + "-begin" in line:
                        inside = True
                        continue
                    if MARK + "-end" in line:
                        break
                    m = re.match(r"(\d+)\s+(\w+)\(", line)
                    if inside and m and m.group(1) == tid:
                        calls[m.group(2)] = calls.get(m.group(2), 0) + 1
                counts[with_log] = (info["events"], calls)
        n = counts[True][0]
        names = set(counts[True][1]) | set(counts[False][1])
        per_event = {
            k: (counts[True][1].get(k, 0) - counts[False][1].get(k, 0)) / n for k in sorted(names)
        }
        out[str(rate)] = {
            "per_event": {k: v for k, v in per_event.items() if abs(v) >= 0.005},
            "total_per_event": sum(per_event.values()),
        }
    return out


def render_markdown(report: dict[str, Any]) -> list[str]:
    lines = [
        "## Low rate: one asyncio task logging at a steady rate (file sink)",
        "",
        f"One event per 1/rate s for {report.get('seconds', 4):.0f} s against the same task "
        f"without the log call; median [min … max] of {report.get('runs', 3)} alternated runs. "
        "Caller: each call's own time (median over the run, less the clock's); writer: the "
        "rest of the process's CPU per event beyond the baseline's; syscalls: the loop "
        "thread's system calls per event beyond the baseline's (strace).",
        "",
        "| events/s | caller per event | writer CPU per event | caller syscalls per event |",
        "|---|---|---|---|",
    ]
    sc = report.get("syscalls")
    for rate, row in report["cpu"].items():
        calls = "not counted"
        if isinstance(sc, dict):
            s = sc[rate]
            detail = ", ".join(f"{k} {v:+.2f}" for k, v in s["per_event"].items())
            calls = f"{s['total_per_event']:+.2f}" + (f" ({detail})" if detail else "")
        lines.append(
            f"| {float(rate):,.0f} | {row['caller_us']:.2f} µs "
            f"[{row['caller_range'][0]:.2f} … {row['caller_range'][1]:.2f}] | "
            f"{row['writer_us']:.2f} µs [{row['writer_range'][0]:.2f} … "
            f"{row['writer_range'][1]:.2f}] | {calls} |"
        )
    if isinstance(sc, str):
        lines += ["", sc]
    lines += ["", "Reproduce: `python benches/lowrate.py --syscalls`", ""]
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rates", default="100,1000", help="events per second, comma-separated")
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--syscalls", action="store_true", help="also count caller syscalls (strace)")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.child:
        _child(float(args.child[0]), float(args.child[1]), args.child[2] == "1")
        return 0
    rates = [float(r) for r in args.rates.split(",") if r.strip()]
    report: dict[str, Any] = {"cpu": run_cpu(rates, args.seconds, args.runs)}
    if args.syscalls:
        report["syscalls"] = run_syscalls(rates, min(args.seconds, 2.0))
    report["seconds"] = args.seconds
    report["runs"] = args.runs
    print("\n".join(render_markdown(report)))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
