# ruff: noqa: RUF001  (the report prints multiplication signs and goes to stdout)
"""The service benchmark that holds still: the app of app.py driven in-process through ASGI.

No network, no server, no second process: every contender's app is built and started once,
then driven by one coroutine calling ``await app(scope, receive, send)`` for
``GET /api/items/{id}``, the contenders alternated burst by burst (the order reshuffled each
round, seeded). For each burst it takes, per request:

- **server thread**: ``time.thread_time_ns()`` over the burst — the request's own CPU,
  the log calls included;
- **process**: ``time.process_time_ns()`` over the burst and the backend's flush that
  follows it (``Pipeline.flush``, which blocks without spinning, or the file's flush) — all
  threads, ferrolog's writer thread included, so what was logged is paid for in the burst
  that logged it.

Each burst's cost is divided by the no-logging burst of the same round, and the report gives,
per contender, the median of those paired ratios with their interquartile range: drift and
noise common to the round (another process on the core, frequency changes) cancel out, and
the spread says how much to trust the median.

    python benches/service/inproc.py                 # full: 60 rounds x 300 requests
    python benches/service/inproc.py --quick         # 15 rounds x 200 requests
    python benches/service/inproc.py --only ferrolog,structlog --rounds 40 --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import app as service  # noqa: E402

#: contender key -> (label, backend factory, modules it needs)
CONTENDERS: dict[str, tuple[str, Callable[[], service.Backend], tuple[str, ...]]] = {
    "none": ("no logging", service.NoLogging, ()),
    "ferrolog": (
        "ferrolog, file sink, request id via bound_contextvars",
        lambda: service.Ferrolog("file"),
        ("ferrolog",),
    ),
    "ferrolog-null": (
        "ferrolog, null sink (caller side only, no writes)",
        lambda: service.Ferrolog("null"),
        ("ferrolog",),
    ),
    "ferrolog-off": (
        "ferrolog, level warning: the 5 calls made and filtered (the calls' own cost)",
        lambda: service.Ferrolog("null", level="warning"),
        ("ferrolog",),
    ),
    "ferrolog-ring256k": (
        "ferrolog, file sink, a 256 KiB ring",
        lambda: service.Ferrolog("file", ring_bytes=256 << 10),
        ("ferrolog",),
    ),
    "ferrolog-bind": (
        "ferrolog, bound_contextvars per request, no events",
        lambda: service.Ferrolog("file", events=False),
        ("ferrolog",),
    ),
    "ferrolog-mw": (
        "ferrolog, file sink, context bound by RequestContextMiddleware",
        lambda: service.Ferrolog("file", middleware=True),
        ("ferrolog", "fastapi"),
    ),
    "ferrolog-mw-access": (
        "ferrolog, RequestContextMiddleware with its access event (6 events)",
        lambda: service.Ferrolog("file", middleware=True, access_log=True),
        ("ferrolog", "fastapi"),
    ),
    "floor-bind": (
        "floor: the request id in a bare ContextVar (set, reset), no events",
        lambda: service.Floor(events=False),
        ("ferrolog",),
    ),
    "floor": (
        "floor: a bare ContextVar, and 5 calls a level filter drops at once",
        service.Floor,
        ("ferrolog",),
    ),
    "structlog": (
        "structlog (contextvars, orjson, BytesLogger)",
        service.Structlog,
        ("structlog", "orjson"),
    ),
    "logust": (
        "logust serialize (contextualize)",
        service.Logust,
        ("logust",),
    ),
}
#: What `make bench` runs (short) and the acceptance rows of issue 18.
DEFAULT = (
    "none",
    "floor-bind",
    "floor",
    "ferrolog",
    "ferrolog-null",
    "ferrolog-off",
    "ferrolog-bind",
    "ferrolog-mw",
    "structlog",
    "logust",
)


@dataclass
class Samples:
    server: list[float] = field(default_factory=list)  # ns per request, per burst
    process: list[float] = field(default_factory=list)


def _scope(item_id: int) -> dict[str, Any]:
    path = f"/api/items/{item_id}"
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"bench"), (b"user-agent", b"inproc"), (b"accept", b"*/*")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


class _Driver:
    """Sends requests into one app and checks every response is a 200."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.status = 0
        self.errors = 0

    async def _send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]

    async def burst(self, n: int) -> None:
        app, send = self.app, self._send
        for i in range(n):
            self.status = 0
            await app(_scope(40 + (i & 7)), _receive, send)
            if self.status != 200:
                self.errors += 1


@dataclass
class Contender:
    key: str
    label: str
    backend: service.Backend
    driver: _Driver
    samples: Samples = field(default_factory=Samples)


async def _burst(c: Contender, n: int) -> tuple[float, float]:
    """(server-thread ns, process ns) per request for one burst of `n` requests."""
    t0 = time.thread_time_ns()
    p0 = time.process_time_ns()
    await c.driver.burst(n)
    t1 = time.thread_time_ns()
    c.backend.flush()
    p1 = time.process_time_ns()
    return (t1 - t0) / n, (p1 - p0) / n


def _quantiles(xs: list[float]) -> tuple[float, float, float]:
    if len(xs) < 2:
        x = xs[0] if xs else float("nan")
        return x, x, x
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], statistics.median(xs), q[2]


async def run(
    keys: list[str], rounds: int, burst: int, warmup: int, seed: int, workdir: Path
) -> dict[str, Any]:
    contenders: list[Contender] = []
    for key in keys:
        label, factory, _ = CONTENDERS[key]
        backend = factory()
        backend.log_file = str(workdir / f"{key}.jsonl")
        await backend.start()
        app = service.make_app(backend, lifespan_managed=False)
        app.state.ferrolog = getattr(backend, "container", None)
        contenders.append(Contender(key, label, backend, _Driver(app)))
    try:
        for c in contenders:  # warm up: imports, routing caches, key caches, the ring
            await c.driver.burst(warmup)
            c.backend.flush()
        rng = random.Random(seed)
        order = list(contenders)
        gc.collect()
        for _ in range(rounds):
            rng.shuffle(order)
            for c in order:
                server, process = await _burst(c, burst)
                c.samples.server.append(server)
                c.samples.process.append(process)
    finally:
        for c in contenders:
            await c.backend.stop()
    base = next(c for c in contenders if c.key == "none")
    results: dict[str, Any] = {}
    for c in contenders:
        row: dict[str, Any] = {
            "label": c.label,
            "errors": c.driver.errors,
            "server_us": statistics.median(c.samples.server) / 1e3,
            "process_us": statistics.median(c.samples.process) / 1e3,
        }
        if c is not base:
            for kind in ("server", "process"):
                mine: list[float] = getattr(c.samples, kind)
                theirs: list[float] = getattr(base.samples, kind)
                ratios = [100.0 * (m / b - 1.0) for m, b in zip(mine, theirs, strict=True)]
                q1, med, q3 = _quantiles(ratios)
                row[f"{kind}_pct"] = {"median": med, "q1": q1, "q3": q3}
        results[c.key] = row
    return {
        "rounds": rounds,
        "burst": burst,
        "events_per_request": service.EVENTS_PER_REQUEST,
        "python": sys.version.split()[0],
        "results": results,
    }


def render_markdown(report: dict[str, Any]) -> list[str]:
    res = report["results"]
    lines = [
        "## Service, in process (ASGI, no network)",
        "",
        f"FastAPI app of benches/service/app.py, {report['events_per_request']} events and a "
        f"request id per request, {report['rounds']} rounds × {report['burst']} requests per "
        "contender, alternated burst by burst. CPU per request against no logging in the same "
        "round: median of the paired ratios [interquartile range].",
        "",
        "| contender | server thread µs/req | process µs/req | server thread vs none | "
        "process (writer incl.) vs none |",
        "|---|---|---|---|---|",
    ]

    def pct(row: dict[str, Any], kind: str) -> str:
        p = row.get(f"{kind}_pct")
        if p is None:
            return "—"
        return f"{p['median']:+.1f} % [{p['q1']:+.1f} … {p['q3']:+.1f}]"

    for row in res.values():
        lines.append(
            f"| {row['label']} | {row['server_us']:.1f} | {row['process_us']:.1f} | "
            f"{pct(row, 'server')} | {pct(row, 'process')} |"
        )
    lines += [
        "",
        "Reproduce: `python benches/service/inproc.py` (full) or `--quick`.",
        "",
    ]
    return lines


def available(keys: list[str]) -> tuple[list[str], list[str]]:
    import importlib.util

    ok, missing = [], []
    for k in keys:
        mods = CONTENDERS[k][2]
        (ok if all(importlib.util.find_spec(m) for m in mods) else missing).append(k)
    return ok, missing


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="15 rounds x 200 requests")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--burst", type=int, default=None, help="requests per burst (300)")
    ap.add_argument("--only", default=None, help=f"comma-separated, of: {', '.join(CONTENDERS)}")
    ap.add_argument("--all", action="store_true", help="every contender, not just the default")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", type=Path, default=None, help="also write the report here")
    args = ap.parse_args(argv)
    keys = list(CONTENDERS) if args.all else list(DEFAULT)
    if args.only:
        keys = [k.strip() for k in args.only.split(",") if k.strip()]
        unknown = [k for k in keys if k not in CONTENDERS]
        if unknown:
            ap.error(f"--only: unknown contender(s) {unknown}; known: {', '.join(CONTENDERS)}")
    if "none" not in keys:
        keys.insert(0, "none")
    keys, missing = available(keys)
    for k in missing:
        print(f"inproc: {k} skipped (needs {', '.join(CONTENDERS[k][2])})", file=sys.stderr)
    rounds = args.rounds or (15 if args.quick else 60)
    burst = args.burst or (200 if args.quick else 300)
    with tempfile.TemporaryDirectory(prefix="ferrolog-inproc-") as tmp:
        report = asyncio.run(
            run(keys, rounds, burst, warmup=burst, seed=args.seed, workdir=Path(tmp))
        )
    print("\n".join(render_markdown(report)))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    bad = {k: r["errors"] for k, r in report["results"].items() if r["errors"]}
    if bad:
        print(f"inproc: non-200 responses: {bad}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
