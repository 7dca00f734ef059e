# ruff: noqa: RUF001  (the report prints multiplication signs on purpose)
"""Drive the service comparison: the app of app.py on uvicorn (127.0.0.1, one worker), loaded
by `wrk` at high and at moderate concurrency for a bounded time, once per logger.

Every line the server wrote is parsed back and checked against the server's own request
counter: 5 lines per request, each carrying its request id, the standard event typed.
Loopback only; every server is stopped (SIGINT, then SIGKILL after a deadline) before the
next one starts.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import peers  # noqa: E402

HOST = "127.0.0.1"  # loopback only, never anything else
EVENTS_PER_REQUEST = 5
CONCURRENCY = (64, 8)
WRK_THREADS = 2

#: logger key -> the modules it needs (the app's own imports)
SERVICE_LOGGERS: dict[str, tuple[str, ...]] = {
    "none": (),
    "ferrolog": ("ferrolog",),
    "structlog": ("structlog", "orjson"),
    "stdlib": (),
    "stdlib-queue": (),
    "loguru-enqueue": ("loguru",),
    "logust": ("logust",),
    "fapilog": ("fapilog",),
}
LABELS = {
    "none": "no logging",
    "ferrolog": "ferrolog (bound_contextvars)",
    "structlog": "structlog (contextvars, orjson, BytesLogger)",
    "stdlib": "stdlib logging + JSON formatter (filter)",
    "stdlib-queue": "stdlib QueueHandler/QueueListener (filter)",
    "loguru-enqueue": "loguru serialize, enqueue=True (contextualize)",
    "logust": "logust serialize (contextualize)",
    "fapilog": "fapilog lossless (request_id_var, async logger)",
}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def _get(url: str, timeout: float = 2.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        body: bytes = r.read()
        return body


def _wait_ready(port: int, proc: subprocess.Popen[bytes], deadline_s: float = 30.0) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} during start-up")
        try:
            _get(f"http://{HOST}:{port}/healthz", timeout=0.5)
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not become ready within 30 s")


_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(value: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value.strip())
    if not m:
        return float("nan")
    return float(m.group(1)) * _UNIT[m.group(2)]


def parse_wrk(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    out["rps"] = float(m.group(1)) if m else float("nan")
    for pct, key in (("50", "p50_ms"), ("99", "p99_ms")):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", text, re.MULTILINE)
        out[key] = _ms(m.group(1)) if m else float("nan")
    m = re.search(r"(\d+) requests in", text)
    out["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    out["socket_errors"] = sum(int(g) for g in m.groups()) if m else 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    out["non_2xx"] = int(m.group(1)) if m else 0
    return out


def run_wrk(wrk: str, port: int, conns: int, duration: float) -> dict[str, Any]:
    cmd = [
        wrk,
        f"-t{min(WRK_THREADS, conns)}",
        f"-c{conns}",
        f"-d{max(1, round(duration))}s",
        "--latency",
        "--timeout",
        "5s",
        f"http://{HOST}:{port}/api/items/42",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60, check=False)
    if proc.returncode != 0:
        return {"error": f"wrk exit {proc.returncode}: {proc.stderr.strip()[:200]}"}
    return parse_wrk(proc.stdout)


def _vm_hwm_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return float("nan")


def check_lines(files: list[Path], requests: int) -> dict[str, int]:
    """Lines per request id against the server's counter; every line parsed back."""
    per_rid: Counter[int] = Counter()
    res = {
        "requests": requests,
        "expected": requests * EVENTS_PER_REQUEST,
        "lines": 0,
        "garbled": 0,
        "no_request_id": 0,
        "unknown_request_id": 0,
        "wrong_typed": 0,
    }
    for f in files:
        with open(f, "rb") as fh:
            for raw in fh:
                line = raw.strip()
                if not line:
                    continue
                res["lines"] += 1
                try:
                    obj = json.loads(line)
                except ValueError:
                    res["garbled"] += 1
                    continue
                found: dict[str, list[Any]] = {}
                peers._collect(obj, frozenset(peers.REQUEST_ID_KEYS), found)
                rid = next(
                    (
                        v
                        for k in peers.REQUEST_ID_KEYS
                        for v in found.get(k, ())
                        if isinstance(v, str)
                    ),
                    None,
                )
                if rid is None or not rid.startswith("r-") or not rid[2:].isdigit():
                    res["no_request_id"] += 1
                    continue
                n = int(rid[2:])
                if not 1 <= n <= requests:
                    res["unknown_request_id"] += 1
                    continue
                per_rid[n] += 1
                if peers._message_present(obj):  # the standard event: check its types
                    uid, _ = peers.typed_fields(obj, exact=False)
                    if uid is None:
                        res["wrong_typed"] += 1
    res["lost"] = sum(
        max(0, EVENTS_PER_REQUEST - per_rid.get(n, 0)) for n in range(1, requests + 1)
    )
    res["duplicated"] = sum(max(0, c - EVENTS_PER_REQUEST) for c in per_rid.values())
    return res


def run_one(key: str, wrk: str, duration: float, workdir: Path, rep: int = 0) -> dict[str, Any]:
    port = _free_port()
    log_file = workdir / f"{key}-{rep}.jsonl"
    env = dict(os.environ, BENCH_LOGGER=key, BENCH_LOG_FILE=str(log_file), PYTHONHASHSEED="0")
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "app:app",
        "--app-dir",
        str(HERE),
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        "1",
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    if importlib.util.find_spec("uvloop"):
        cmd += ["--loop", "uvloop"]
    if importlib.util.find_spec("httptools"):
        cmd += ["--http", "httptools"]
    err_path = workdir / f"{key}-{rep}.server.err"
    result: dict[str, Any] = {"label": LABELS.get(key, key)}
    with open(err_path, "wb") as err:
        proc = subprocess.Popen(
            cmd, env=env, cwd=workdir, stdin=subprocess.DEVNULL, stdout=err, stderr=err
        )
        try:
            _wait_ready(port, proc)
            run_wrk(wrk, port, 8, 1.0)  # warm-up: first-use caches, connection set-up
            for conns in CONCURRENCY:
                result[f"c{conns}"] = run_wrk(wrk, port, conns, duration)
            result["requests_server"] = json.loads(_get(f"http://{HOST}:{port}/_count"))["requests"]
            result["rss_mib"] = _vm_hwm_mib(proc.pid)
        except (RuntimeError, OSError, subprocess.TimeoutExpired, ValueError) as exc:
            result["error"] = str(exc)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)  # graceful: lifespan shutdown flushes
                try:
                    proc.wait(timeout=180)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                    result.setdefault("error", "server did not stop within 180 s; killed")
    tail = err_path.read_text(errors="replace").strip().splitlines()[-3:]
    if "error" in result and tail:
        result["error"] += " | " + " | ".join(tail)
    if key != "none" and "requests_server" in result:
        count_file = Path(str(log_file) + ".count")
        requests = int(count_file.read_text()) if count_file.exists() else result["requests_server"]
        files = [log_file] if log_file.exists() else []
        d = log_file.with_suffix(".d")
        if d.is_dir():
            files += sorted(p for p in d.iterdir() if p.is_file())
        result["check"] = check_lines(files, requests)
    return result


def _ensure_wrk() -> tuple[str | None, str | None]:
    wrk = shutil.which("wrk")
    if wrk:
        return wrk, None
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "wrk"],
            env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
            capture_output=True,
            check=False,
            timeout=600,
        )
        wrk = shutil.which("wrk")
        if wrk:
            return wrk, None
    return None, (
        "Service comparison skipped: `wrk` is not installed (as root, `make bench-compare` "
        "installs it with apt-get; otherwise install it with your package manager)."
    )


def merge_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median of the load figures over the repetitions; line checks summed over them."""
    import statistics

    out: dict[str, Any] = {"label": runs[0]["label"], "reps": len(runs)}
    for c in CONCURRENCY:
        ws = [r[f"c{c}"] for r in runs if "rps" in r.get(f"c{c}", {})]
        if ws:
            out[f"c{c}"] = {
                k: statistics.median(w[k] for w in ws) for k in ("rps", "p50_ms", "p99_ms")
            } | {"rps_min": min(w["rps"] for w in ws), "rps_max": max(w["rps"] for w in ws)}
    rss = [r["rss_mib"] for r in runs if "rss_mib" in r]
    if rss:
        out["rss_mib"] = max(rss)
    checks = [r["check"] for r in runs if "check" in r]
    if checks:
        out["check"] = {k: sum(c[k] for c in checks) for k in checks[0]}
    errors = [r["error"] for r in runs if "error" in r]
    if errors:
        out["error"] = errors[0]
    return out


def run_all(keys: list[str], duration: float, reps: int = 1) -> tuple[dict[str, Any], str | None]:
    wrk, note = _ensure_wrk()
    if wrk is None:
        print(note, flush=True)
        return {}, note
    missing = [m for m in ("fastapi", "uvicorn") if importlib.util.find_spec(m) is None]
    if missing:
        note = f"Service comparison skipped: {', '.join(missing)} not installed."
        print(note, flush=True)
        return {}, note
    notes: list[str] = []
    runnable: list[str] = []
    for key in keys:
        why = None
        for mod in SERVICE_LOGGERS.get(key, ()):
            if importlib.util.find_spec(mod) is None:
                why = f"{mod} not installed"
        if key == "ferrolog" and why is None:
            import ferrolog

            if not hasattr(ferrolog, "Pipeline") or not hasattr(ferrolog, "bound_contextvars"):
                why = "ferrolog's native logger is not built yet"
        if why:
            notes.append(f"{key}: {why}")
            print(f"service: skip {key}: {why}", flush=True)
        else:
            runnable.append(key)
    results: dict[str, Any] = {
        "duration_s": duration,
        "reps": reps,
        "results": {},
        "runs": {k: [] for k in runnable},
        "skipped": notes,
    }
    tmp_root = HERE.parent.parent / "bench-results" / "tmp"
    tmp_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=tmp_root) as d:
        for rep in range(reps):
            k = rep % max(1, len(runnable))
            for key in runnable[k:] + runnable[:k]:  # interleaved, order rotates
                t = time.monotonic()
                r = run_one(key, wrk, duration, Path(d), rep)
                results["runs"][key].append(r)
                summary = ", ".join(
                    f"c{c}: {r[f'c{c}'].get('rps', 0):.0f} req/s "
                    f"p99 {r[f'c{c}'].get('p99_ms', 0):.1f} ms"
                    for c in CONCURRENCY
                    if f"c{c}" in r
                )
                chk = r.get("check", {})
                print(
                    f"service rep {rep + 1}/{reps} {key:15} {summary}; lost "
                    f"{chk.get('lost', '-')}, no id {chk.get('no_request_id', '-')} "
                    f"[{time.monotonic() - t:.0f}s]"
                    + (f" ERROR {r['error']}" if "error" in r else ""),
                    flush=True,
                )
    for key in runnable:
        results["results"][key] = merge_runs(results["runs"][key])
    return results, None


def _pct(v: float, base: float) -> str:
    if not base or v != v or base != base:
        return ""
    return f" ({(v - base) / base * 100:+.0f} %)"


def render_markdown(svc: dict[str, Any]) -> list[str]:
    res = svc.get("results", {})
    if not res:
        return []
    base = res.get("none", {})
    head = [
        "## Service: FastAPI on uvicorn, 5 events per request",
        "",
        f"One uvicorn worker on 127.0.0.1 (uvloop, httptools), `wrk -t2 --latency` for "
        f"{svc['duration_s']:.0f} s at each concurrency, {svc.get('reps', 1)} interleaved "
        "run(s) per logger (median, [min–max] of req/s); each request binds its request id in "
        "context and logs 5 INFO events with typed fields. Lines are checked against the "
        "server's own request counter (summed over the runs). Percentages are relative to the "
        "same app with no logging.",
        "",
        "| logger | 64 conns: req/s | p50 | p99 | 8 conns: req/s | p50 | p99 | server peak RSS "
        "| lines lost / without request id |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    rows: list[str] = []
    for key, r in res.items():
        cells = [r.get("label", key)]
        for c in CONCURRENCY:
            w = r.get(f"c{c}", {})
            b = base.get(f"c{c}", {})
            if "rps" not in w:
                cells += ["error", "", ""]
                continue
            rng = (
                f" [{w['rps_min']:,.0f}–{w['rps_max']:,.0f}]"
                if "rps_min" in w and r.get("reps", 1) > 1
                else ""
            )
            rel = _pct(w["rps"], b.get("rps", 0)) if key != "none" else ""
            cells.append(f"{w['rps']:,.0f}{rel}{rng}")
            cells.append(f"{w['p50_ms']:.2f} ms")
            p99 = f"{w['p99_ms']:.2f} ms"
            if key != "none" and b.get("p99_ms"):
                p99 += f" (×{w['p99_ms'] / b['p99_ms']:.1f})"
            cells.append(p99)
        cells.append(f"{r.get('rss_mib', float('nan')):.0f} MiB")
        chk = r.get("check")
        if key == "none":
            cells.append("—")
        elif chk:
            extra = []
            if chk["garbled"]:
                extra.append(f"{chk['garbled']} garbled")
            if chk["wrong_typed"]:
                extra.append(f"{chk['wrong_typed']} wrong-typed")
            if chk["duplicated"]:
                extra.append(f"{chk['duplicated']} duplicated")
            cells.append(
                f"{chk['lost']:,} / {chk['no_request_id']:,} of {chk['expected']:,}"
                + (f" ({', '.join(extra)})" if extra else "")
            )
        else:
            cells.append(r.get("error", "—"))
        rows.append("| " + " | ".join(cells) + " |")
    out = head + rows + [""]
    if svc.get("skipped"):
        out += ["Not run: " + "; ".join(svc["skipped"]), ""]
    return out


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--only", default="")
    ap.add_argument("--reps", type=int, default=1)
    a = ap.parse_args()
    ks = [k for k in SERVICE_LOGGERS if not a.only or k in a.only.split(",") or k == "none"]
    svc_results, svc_note = run_all(ks, a.duration, a.reps)
    print(svc_note or "\n".join(render_markdown(svc_results)))
    with contextlib.suppress(OSError):
        shutil.rmtree(HERE.parent.parent / "bench-results" / "tmp")
