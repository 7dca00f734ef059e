# ruff: noqa: RUF001  (the report prints en dashes and multiplication signs on purpose)
"""ferrolog against the loggers people would pick instead, measured the same way.

    python benches/compare.py            # full run: 200,000 events, 5 repetitions, service 10 s
    python benches/compare.py --quick    # 20,000 events, 2 repetitions, service 3 s

Every measurement runs in a fresh subprocess (``--child``); the libraries are interleaved
(the order rotates each repetition). Per library it reports medians with min-max of: caller
cost per event, end-to-end events/s (from the first call until the library says the file is
complete), CPU time per event (getrusage, all threads), peak RSS growth, and how long an
asyncio burst of 1,000 events holds the event loop; it parses every output line back and
counts lost, duplicated, garbled and wrong-typed lines. Then, when `wrk` is available, the
service-level comparison of benches/service/. Results go to bench-results/latest.{md,json,png}.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as _dt
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import peers  # noqa: E402

BURST = 1_000
BURSTS = 5


# --------------------------------------------------------------------------- child side


def _cpu(ru: resource.struct_rusage) -> float:
    return ru.ru_utime + ru.ru_stime


def _maxrss_mib(ru: resource.struct_rusage) -> float:
    # Linux reports KiB, macOS bytes.
    return ru.ru_maxrss / (1 << 20) if sys.platform == "darwin" else ru.ru_maxrss / 1024


def child_loop(key: str, events: int, workdir: Path) -> dict[str, Any]:
    peer = peers.PEER_BY_KEY[key]
    path = workdir / f"{key}.jsonl"
    session = peer.open(path)
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    session.loop(0, events)
    t1 = time.perf_counter()
    session.finish()
    t2 = time.perf_counter()
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    check = peers.check_files(session.files(), events)
    return {
        "caller_us": (t1 - t0) / events * 1e6,
        "e2e_eps": events / (t2 - t0),
        "cpu_us": (_cpu(ru1) - _cpu(ru0)) / events * 1e6,
        "rss_mib": max(0.0, _maxrss_mib(ru1) - _maxrss_mib(ru0)),
        "check": asdict(check),
        "stats": dict(session.stats()) if session.stats else {},
    }


async def _burst_main(key: str, workdir: Path) -> dict[str, Any]:
    peer = peers.PEER_BY_KEY[key]
    assert peer.aopen is not None
    path = workdir / f"{key}.burst.jsonl"
    session = await peer.aopen(path)
    gaps: list[tuple[float, float]] = []
    measuring = False
    running = True

    async def ticker() -> None:
        # Yields to the loop on every turn, so the gap between two of its turns is how long
        # something else held the loop (a timer-based ticker cannot see below ~1 ms).
        last = time.perf_counter()
        while running:
            await asyncio.sleep(0)
            now = time.perf_counter()
            if measuring and now - last > 20e-6:
                gaps.append((last, now))
            last = now

    task = asyncio.create_task(ticker())
    # one warm-up burst (first-use caches, thread start-up) not reported
    await session.aloop(0, BURST)
    await asyncio.sleep(0.05)
    durations: list[float] = []
    windows: list[tuple[float, float]] = []
    measuring = True
    for b in range(1, BURSTS + 1):
        await asyncio.sleep(0.02)
        t = time.perf_counter()
        await session.aloop(b * BURST, (b + 1) * BURST)
        t_end = time.perf_counter()
        durations.append(t_end - t)
        windows.append((t, t_end))
    await asyncio.sleep(0.02)
    measuring = False
    running = False
    await task
    await session.afinish()
    # per burst: the longest stretch without a ticker turn that overlaps the burst
    held = [max((e - s for s, e in gaps if s < w1 and e > w0), default=0.0) for w0, w1 in windows]
    check = peers.check_files(session.files(), (BURSTS + 1) * BURST)
    return {
        "burst_ms": statistics.median(durations) * 1e3,
        "burst_max_ms": max(durations) * 1e3,
        "held_ms": statistics.median(held) * 1e3,
        "check": asdict(check),
        "stats": dict(session.stats()) if session.stats else {},
    }


def child_main(args: argparse.Namespace) -> int:
    workdir = Path(args.dir)
    if args.child == "loop":
        out = child_loop(args.lib, args.events, workdir)
    else:
        out = asyncio.run(_burst_main(args.lib, workdir))
    Path(args.result).write_text(json.dumps(out))
    return 0


# --------------------------------------------------------------------------- parent side


def run_child(mode: str, key: str, events: int, timeout: float) -> dict[str, Any]:
    tmp_root = ROOT / "bench-results" / "tmp"
    tmp_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=tmp_root) as d:
        result = Path(d) / "result.json"
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            mode,
            "--lib",
            key,
            "--events",
            str(events),
            "--dir",
            d,
            "--result",
            str(result),
        ]
        try:
            proc = subprocess.run(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=timeout,
                cwd=d,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout:.0f} s"}
        if proc.returncode != 0 or not result.exists():
            tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
            return {"error": f"exit {proc.returncode}: " + " | ".join(tail)}
        data: dict[str, Any] = json.loads(result.read_text())
        return data


def _med(values: Sequence[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def aggregate(runs: list[dict[str, Any]], keys: Sequence[str]) -> dict[str, Any]:
    ok = [r for r in runs if "error" not in r]
    out: dict[str, Any] = {"runs": len(runs), "errors": [r["error"] for r in runs if "error" in r]}
    for k in keys:
        vals = [float(r[k]) for r in ok if k in r]
        if vals:
            out[k] = _med(vals)
    checks = [r["check"] for r in ok]
    if checks:
        out["check"] = {
            f: [c[f] for c in checks] for f in ("lines", "ok", "lost", "garbled", "wrong_type")
        } | {"duplicates": [c["duplicates"] for c in checks]}
        out["examples"] = [e for c in checks for e in c["examples"]][:2]
    out["stats"] = [r.get("stats", {}) for r in ok]
    return out


def _fmt_range(
    t: tuple[float, float, float] | None, fmt: str, scale: float = 1.0, unit: str = ""
) -> str:
    if t is None:
        return "—"
    m, lo, hi = (v * scale for v in t)
    return f"{format(m, fmt)}{unit} ({format(lo, fmt)}–{format(hi, fmt)})"


def _si(v: float) -> str:
    if v >= 1e6:
        return f"{v / 1e6:.2f} M"
    if v >= 1e3:
        return f"{v / 1e3:.0f} k"
    return f"{v:.0f}"


def _fmt_eps(t: tuple[float, float, float] | None) -> str:
    if t is None:
        return "—"
    m, lo, hi = t
    return f"{_si(m)} ({_si(lo)}–{_si(hi)})"


def _fmt_check(agg: dict[str, Any], expected: int) -> str:
    c = agg.get("check")
    if not c:
        return "—"
    parts: list[str] = []
    lost, garbled, wrong, dup = c["lost"], c["garbled"], c["wrong_type"], c["duplicates"]
    dropped = [int(s.get("dropped", 0)) for s in agg.get("stats", [])]
    if not any(lost) and not any(garbled) and not any(wrong) and not any(dup):
        return f"all {expected:,} × {len(lost)} runs"
    if any(lost):
        parts.append(f"lost {min(lost):,}–{max(lost):,}/run")
        uncounted = [max(0, lo - d) for lo, d in zip(lost, dropped, strict=False)]
        if any(dropped) and not any(uncounted):
            parts.append("every loss counted as dropped by the library")
        elif any(dropped):
            parts.append(f"counted as dropped {min(dropped):,}–{max(dropped):,}")
            parts.append(f"not counted {min(uncounted):,}–{max(uncounted):,}")
        else:
            parts.append("none counted as dropped")
    if any(garbled):
        parts.append(f"garbled {min(garbled):,}–{max(garbled):,}")
    if any(wrong):
        parts.append(f"wrong-typed/missing fields {min(wrong):,}–{max(wrong):,}")
    if any(dup):
        parts.append(f"duplicated {min(dup):,}–{max(dup):,}")
    return "; ".join(parts)


def _git_rev() -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def render_markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        "# ferrolog vs. the peers",
        "",
        f"- date: {report['date']} (ferrolog commit {report['commit']})",
        f"- machine: {m['cpu']}, {m['cores']} cores, {m['memory']}, {m['os']}",
        f"- {m['python']}; " + ", ".join(f"{k} {v}" for k, v in sorted(report["versions"].items())),
        f'- workload: INFO "request handled" with user_id (int), path (str), latency_ms (float), '
        f"one JSON line each to a local file; {report['events']:,} events per run in a tight loop, "
        f"{report['reps']} interleaved runs per library, each in a fresh process; "
        "median (min–max)",
        "",
        "| library | caller µs/event | end-to-end events/s | CPU µs/event | peak RSS growth | "
        "asyncio burst of 1,000: loop held | correct lines (parsed back) |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, row in report["results"].items():
        loop, burst = row["loop"], row["burst"]
        label = row["label"]
        if loop.get("errors") and not loop.get("check"):
            lines.append(f"| {label} | error: {loop['errors'][0]} | | | | | |")
            continue
        held = burst.get("held_ms")
        calls = burst.get("burst_ms")
        held_s = _fmt_range(held, ".2f", unit=" ms") if held else "—"
        if calls:
            held_s += f"; the calls took {calls[0]:.2f} ms"
        lines.append(
            "| "
            + " | ".join(
                [
                    label,
                    _fmt_range(loop.get("caller_us"), ".2f"),
                    _fmt_eps(loop.get("e2e_eps")),
                    _fmt_range(loop.get("cpu_us"), ".2f"),
                    _fmt_range(loop.get("rss_mib"), ".1f", unit=" MiB"),
                    held_s,
                    _fmt_check(loop, report["events"]),
                ]
            )
            + " |"
        )
        _ = key
    lines.append("")
    if report["skipped"]:
        lines.append("Skipped: " + "; ".join(f"{k}: {v}" for k, v in report["skipped"].items()))
        lines.append("")
    errs = {
        k: r["loop"]["errors"] + r["burst"]["errors"]
        for k, r in report["results"].items()
        if r["loop"]["errors"] or r["burst"]["errors"]
    }
    if errs:
        lines.append("Runs that failed: " + "; ".join(f"{k}: {v[0]}" for k, v in errs.items()))
        lines.append("")
    lines += [
        "The asyncio burst: 1,000 calls from a coroutine (the awaited form where the library "
        "offers one). Loop held: the longest stretch, overlapping the burst, in which a concurrent "
        "task that yields on every turn did not get to run; median (min–max) of the per-run "
        "medians over 5 bursts after a warm-up burst.",
        "",
        "## Configurations",
        "",
    ]
    for key, row in report["results"].items():
        lines.append(f"- **{row['label']}** (`{key}`): {row['config']}")
    lines.append("")
    lines += _inproc_and_lowrate_markdown(report)
    svc = report.get("service")
    if svc:
        from service import run as service_run

        lines += service_run.render_markdown(svc)
    elif report.get("service_note"):
        lines += ["## Service", "", report["service_note"], ""]
    lines += [
        "## Reproduce",
        "",
        "```sh",
        f"make bench-compare            # this run: {report['argv']}",
        "make bench-compare ARGS=--quick   # 20,000 events, 2 runs, one 3 s service run each",
        "python benches/compare.py --help  # every option",
        "```",
        "",
    ]
    return "\n".join(lines)


def _inproc_and_lowrate_markdown(report: dict[str, Any]) -> list[str]:
    """The in-process service table (the stable figure) and the low-rate table."""
    lines: list[str] = []
    inproc_report = report.get("inproc")
    if inproc_report and "error" not in inproc_report:
        from service import inproc

        lines += inproc.render_markdown(inproc_report)
    elif inproc_report:
        lines += ["## Service, in process", "", f"Not run: {inproc_report['error']}", ""]
    low = report.get("lowrate")
    if low and "error" not in low:
        import lowrate

        lines += lowrate.render_markdown(low)
    elif low:
        lines += ["## Low rate", "", f"Not run: {low['error']}", ""]
    return lines


def render_readme_section(report: dict[str, Any]) -> str:
    """The short README section: chart, medians table, service summary, how to reproduce."""
    m = report["machine"]
    lines = [
        "## Performance",
        "",
        "![ferrolog against the peers: caller cost, end-to-end throughput, event-loop hold]"
        "(bench-results/latest.png)",
        "",
        f'{report["events"]:,} events of INFO "request handled" (`user_id` int, `path` str, '
        f"`latency_ms` float) as JSON lines to a local file; median of {report['reps']} "
        f"interleaved runs, each in a fresh process. {m['python']} on {m['cpu']} "
        f"({m['cores']} cores), {report['date']}. Every line was parsed back and checked.",
        "",
        "| library | caller µs/event | end-to-end events/s | asyncio burst of 1,000 holds the "
        "loop | correct lines |",
        "|---|---|---|---|---|",
    ]
    for row in report["results"].values():
        loop, burst = row["loop"], row["burst"]
        if not loop.get("caller_us"):
            continue
        held = burst.get("held_ms")
        lines.append(
            f"| {row['label']} | {loop['caller_us'][0]:.2f} | {_si(loop['e2e_eps'][0])} | "
            + (f"{held[0]:.2f} ms" if held else "—")
            + f" | {_fmt_check(loop, report['events'])} |"
        )
    lines.append("")
    # Subsections of the README's "Performance" section.
    lines += [
        "#" + line if line.startswith("## ") else line
        for line in _inproc_and_lowrate_markdown(report)
    ]
    svc = (report.get("service") or {}).get("results") or {}
    base = svc.get("none", {})
    if svc and base.get("c64"):
        lines += [
            "### End to end under `wrk`",
            "",
            "End to end under `wrk` (FastAPI on uvicorn, one worker, 5 events per request with a "
            f"request id in context, loopback, {report['service']['duration_s']:.0f} s per "
            f"run, median of {report['service'].get('reps', 1)} [min–max]). Throughput on these "
            "shared machines swings by ±25 % between identical runs, so this table cannot show "
            "a 5 % effect; the in-process table above can.",
            "",
            "| logger | req/s at 64 conns [min–max] | p99 at 8 conns | lines lost / without "
            "request id |",
            "|---|---|---|---|",
        ]
        for key, r in svc.items():
            c64, c8 = r.get("c64", {}), r.get("c8", {})
            if "rps" not in c64 or "p99_ms" not in c8:
                continue
            rel = (
                f" ({(c64['rps'] - base['c64']['rps']) / base['c64']['rps'] * 100:+.0f} %)"
                if key != "none"
                else ""
            )
            chk = r.get("check")
            lost = f"{chk['lost']:,} / {chk['no_request_id']:,}" if chk else "—"
            spread = f" [{c64['rps_min']:,.0f}–{c64['rps_max']:,.0f}]" if "rps_min" in c64 else ""
            lines.append(
                f"| {r.get('label', key)} | {c64['rps']:,.0f}{rel}{spread} | "
                f"{c8['p99_ms']:.2f} ms | {lost} |"
            )
    lines += [
        "",
        "Full table (min–max, CPU per event, memory, configurations): "
        "[bench-results/latest.md](bench-results/latest.md). Reproduce:",
        "",
        "```sh",
        "make bench-compare                 # full run as above (installs the `bench` extra, and",
        "                                   # wrk via apt-get when run as root)",
        "make bench-compare ARGS=--quick    # 20,000 events, 2 runs, 3 s per service run",
        "make bench                         # pytest-benchmark suites, short in-process",
        "                                   # service and low-rate runs",
        "python benches/service/inproc.py   # the in-process service table alone",
        "python benches/lowrate.py --syscalls  # the low-rate table alone",
        "```",
        "",
    ]
    return "\n".join(lines)


def render_png(report: dict[str, Any], path: Path) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        return f"matplotlib missing, no chart ({exc})"
    rows = [(r["label"], r) for r in report["results"].values() if r["loop"].get("caller_us")]
    if not rows:
        return "no results to chart"
    panels = [
        ("caller µs per event (lower is better)", "loop", "caller_us", 1.0),
        ("end-to-end events/s (higher is better)", "loop", "e2e_eps", 1.0),
        ("asyncio burst of 1,000: ms the loop is held (lower is better)", "burst", "held_ms", 1.0),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(17, 0.5 * len(rows) + 2.2))
    labels = [lab for lab, _ in rows]
    ypos = list(range(len(rows)))
    for ax, (title, part, metric, scale) in zip(axes, panels, strict=True):
        meds, lo, hi, colors = [], [], [], []
        for lab, r in rows:
            t = r[part].get(metric)
            m, a, b = (v * scale for v in t) if t else (float("nan"),) * 3
            meds.append(m)
            lo.append(max(0.0, m - a))
            hi.append(max(0.0, b - m))
            colors.append("#d35400" if lab.startswith("ferrolog") else "#5d6d7e")
        ax.barh(ypos, meds, xerr=[lo, hi], color=colors, capsize=3)
        ax.set_xscale("log")
        ax.set_title(title, fontsize=10)
        ax.set_yticks(ypos)
        ax.set_yticklabels(labels if ax is axes[0] else [""] * len(labels), fontsize=9)
        ax.invert_yaxis()
        ax.grid(axis="x", which="both", alpha=0.3)
        for y, m, up in zip(ypos, meds, hi, strict=True):
            if m == m:  # not NaN
                ax.annotate(
                    _si(m) if metric == "e2e_eps" else f"{m:.2f}",
                    (m + up, y),  # right of the error bar
                    xytext=(5, 0),
                    textcoords="offset points",
                    va="center",
                    fontsize=8,
                )
        ax.set_xlim(right=ax.get_xlim()[1] * 2.5)  # room for the labels
    m = report["machine"]
    fig.suptitle(
        f"ferrolog vs. peers — {report['events']:,} events × {report['reps']} runs, median "
        f"(min–max) — {m['python']}, {m['cores']} cores, {report['date']}",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--events", type=int, default=None, help="events per run (200,000)")
    ap.add_argument("--reps", type=int, default=None, help="runs per library (5, min 1)")
    ap.add_argument(
        "--quick", action="store_true", help="20,000 events, 2 runs, one 3 s service run each"
    )
    ap.add_argument("--only", default="", help="comma-separated peer keys to run")
    ap.add_argument("--skip", default="", help="comma-separated peer keys to leave out")
    ap.add_argument("--no-service", action="store_true", help="skip the service comparison")
    ap.add_argument("--service-duration", type=float, default=None, help="s per wrk run (10)")
    ap.add_argument("--service-reps", type=int, default=None, help="runs per service app (3)")
    ap.add_argument("--out", default=str(ROOT / "bench-results"), help="results folder")
    ap.add_argument("--timeout", type=float, default=900.0, help="s per child process")
    ap.add_argument("--list", action="store_true", help="list the peers and exit")
    ap.add_argument(
        "--render", metavar="JSON", help="only re-render latest.{md,png} from a latest.json"
    )
    ap.add_argument("--child", choices=("loop", "burst"), help=argparse.SUPPRESS)
    ap.add_argument("--lib", help=argparse.SUPPRESS)
    ap.add_argument("--dir", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        args.events = args.events or 200_000
        return child_main(args)

    events = args.events or (20_000 if args.quick else 200_000)
    reps = max(1, args.reps or (2 if args.quick else 5))
    duration = args.service_duration or (3.0 if args.quick else 10.0)
    service_reps = max(1, args.service_reps or (1 if args.quick else 3))
    only = {k for k in args.only.split(",") if k}
    skip = {k for k in args.skip.split(",") if k}
    if args.render:
        report = json.loads(Path(args.render).read_text())
        write_outputs(report, Path(args.out))
        return 0
    if args.list:
        for p in peers.PEERS:
            print(f"{p.key:20} {p.label:45} {p.unavailable() or 'available'}")
        return 0

    selected = [p for p in peers.PEERS if (not only or p.key in only) and p.key not in skip]
    skipped: dict[str, str] = {}
    runnable = []
    for p in selected:
        why = p.unavailable()
        if why:
            skipped[p.key] = why
            print(f"skip {p.key}: {why}", flush=True)
        else:
            runnable.append(p)

    raw: dict[str, dict[str, list[dict[str, Any]]]] = {
        p.key: {"loop": [], "burst": []} for p in runnable
    }
    started = time.monotonic()
    for rep in range(reps):
        k = rep % max(1, len(runnable))
        order = runnable[k:] + runnable[:k]
        for p in order:
            for mode in ("loop", "burst"):
                r = run_child(mode, p.key, events, args.timeout)
                raw[p.key][mode].append(r)
                if "error" in r:
                    msg = f"ERROR {r['error']}"
                elif mode == "loop":
                    c = r["check"]
                    msg = (
                        f"caller {r['caller_us']:.2f} µs, {_si(r['e2e_eps'])} ev/s, cpu "
                        f"{r['cpu_us']:.2f} µs, rss +{r['rss_mib']:.1f} MiB, lost {c['lost']}, "
                        f"garbled {c['garbled']}, wrong {c['wrong_type']}"
                    )
                else:
                    msg = f"burst {r['burst_ms']:.2f} ms, loop held {r['held_ms']:.2f} ms"
                print(
                    f"[{time.monotonic() - started:6.0f}s] rep {rep + 1}/{reps} {p.key:19} "
                    f"{mode:5} {msg}",
                    flush=True,
                )

    versions: dict[str, str] = {}
    for p in runnable:
        versions.update(p.versions())
    results: dict[str, Any] = {}
    for p in runnable:
        results[p.key] = {
            "label": p.label
            + (f" {versions.get(p.dists[0], '')}" if p.dists and p.key != "floor" else ""),
            "config": p.config,
            "loop": aggregate(raw[p.key]["loop"], ("caller_us", "e2e_eps", "cpu_us", "rss_mib")),
            "burst": aggregate(raw[p.key]["burst"], ("burst_ms", "burst_max_ms", "held_ms")),
        }
    report: dict[str, Any] = {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": _git_rev(),
        "machine": peers.machine_info(),
        "versions": versions,
        "events": events,
        "reps": reps,
        "argv": " ".join(["compare.py", *(argv if argv is not None else sys.argv[1:])])
        + f" ({events:,} events, {reps} runs, service {duration:.0f} s x {service_reps})",
        "results": results,
        "skipped": skipped,
        "raw": raw,
    }

    if args.no_service:
        report["service_note"] = "Service comparison not run (--no-service)."
    else:
        report["inproc"] = _subprocess_report(
            [str(HERE / "service" / "inproc.py"), *(["--quick"] if args.quick else [])]
        )
        report["lowrate"] = _subprocess_report(
            [
                str(HERE / "lowrate.py"),
                "--syscalls",
                *(["--runs", "1", "--seconds", "2"] if args.quick else []),
            ]
        )
        from service import run as service_run

        svc_keys = [k for k in service_run.SERVICE_LOGGERS if not only or k in only or k == "none"]
        svc_keys = [k for k in svc_keys if k not in skip]
        svc, note = service_run.run_all(svc_keys, duration=duration, reps=service_reps)
        report["service"] = svc
        if note:
            report["service_note"] = note

    write_outputs(report, Path(args.out))
    return 0


def _subprocess_report(cmd: list[str]) -> dict[str, Any]:
    """Run a benchmark script of benches/ in a fresh process with ``--json``: its report, or
    ``{"error": ...}`` (the rest of the comparison still runs)."""
    with tempfile.TemporaryDirectory(prefix="ferrolog-bench-") as tmp:
        out = Path(tmp) / "report.json"
        proc = subprocess.run(
            [sys.executable, *cmd, "--json", str(out)], capture_output=True, text=True, check=False
        )
        print(proc.stdout, end="", flush=True)
        if proc.returncode != 0 or not out.exists():
            return {"error": f"{Path(cmd[0]).name} exit {proc.returncode}: {proc.stderr[-300:]}"}
        loaded: dict[str, Any] = json.loads(out.read_text())
        return loaded


def write_outputs(report: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(report, indent=1, default=str))
    (out / "latest.md").write_text(render_markdown(report))
    (out / "README-section.md").write_text(render_readme_section(report))
    chart_note = render_png(report, out / "latest.png")
    if chart_note:
        print(chart_note)
    with contextlib.suppress(OSError):
        shutil.rmtree(out / "tmp")
    print((out / "latest.md").read_text())
    print(f"wrote {out / 'latest.md'}, {out / 'latest.png'}, {out / 'README-section.md'}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
