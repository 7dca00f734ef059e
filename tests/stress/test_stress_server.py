"""A real pre-fork server: gunicorn with uvicorn workers serving tests/stress/gunicorn_app.py,
the container created in each worker (`per-worker`) or in the master before the fork
(`prefork`, with `--preload`). Under load (wrk for 30 s in the full run; a Python client's 200
requests in the short one), then a graceful stop (SIGTERM to the master): every request handled
has exactly its two lines, `work done` and the access event `request handled`, with its request
id, and the number of request ids is the server-side count (the sum of each worker's `worker
done` counter), which matches the client's count."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest

pytestmark = [pytest.mark.needs_fork, pytest.mark.linux_only]

pytest.importorskip("gunicorn", reason="needs gunicorn (the `stress` extra)")
pytest.importorskip("uvicorn_worker", reason="needs uvicorn-worker (the `stress` extra)")
httpx = pytest.importorskip("httpx")

HERE = Path(__file__).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def _server(mode: str, workers: int, log: Path, tmp: Path) -> Iterator[str]:
    """gunicorn serving the app at the yielded base URL, stopped with SIGTERM afterwards."""
    port = _free_port()
    env = {**os.environ, "STRESS_SERVER_LOG": str(log), "STRESS_SERVER_MODE": mode}
    cmd = [sys.executable, "-m", "gunicorn", "--workers", str(workers)]
    cmd += ["--worker-class", "uvicorn_worker.UvicornWorker", "--bind", f"127.0.0.1:{port}"]
    cmd += ["--chdir", str(HERE), "--log-level", "warning", "--graceful-timeout", "30"]
    cmd += [*(["--preload"] if mode == "prefork" else []), "gunicorn_app:app"]
    errors = tmp / f"gunicorn-{mode}.err"
    with errors.open("wb") as err:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60.0
        while True:
            assert proc.poll() is None, errors.read_text()
            assert time.monotonic() < deadline, "gunicorn did not come up"
            try:
                if httpx.get(f"{base}/health", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        time.sleep(0.5)  # let the other workers finish booting
        yield base
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(90) == 0, errors.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Traceback" not in errors.read_text(), errors.read_text()


def _check(log: Path, workers: int) -> tuple[int, int]:
    """Every request id has exactly one `work done` and one `request handled` line: (requests
    by the server's own count, lines)."""
    events = [orjson.loads(line) for line in log.read_bytes().splitlines()]
    done = [e for e in events if e["message"] == "worker done"]
    assert len({e["pid"] for e in done}) == len(done) == workers, done
    handled = sum(e["handled"] for e in done)
    lines: dict[str, list[str]] = defaultdict(list)
    for e in events:
        if e["message"] in ("work done", "request handled"):
            lines[e["request_id"]].append(e["message"])
            assert e["message"] != "request handled" or e["status"] == 200, e
    bad = {
        rid: got for rid, got in lines.items() if sorted(got) != ["request handled", "work done"]
    }
    assert not bad, (
        f"{len(bad)} requests without exactly their two lines, e.g. {list(bad.items())[:3]}"
    )
    assert len(lines) == handled, (len(lines), handled)
    return handled, len(events)


def _python_client(base: str, requests: int) -> int:
    """`requests` GET /work from 8 threads over keep-alive connections: how many got 200."""
    with httpx.Client(base_url=base, timeout=30.0) as client:

        def one(_: int) -> int:
            return int(client.get("/work").status_code == 200)

        with ThreadPoolExecutor(8) as pool:
            return sum(pool.map(one, range(requests)))


def _wrk(base: str, seconds: int, connections: int) -> dict[str, Any]:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", f"{base}/work"],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    ).stdout
    found = re.search(r"(\d+) requests in", out)
    assert found is not None, out
    assert "Non-2xx" not in out, out
    rate = re.search(r"Requests/sec:\s*([\d.]+)", out)
    return {"requests": int(found.group(1)), "rate": rate.group(1) if rate else "?", "out": out}


@pytest.mark.parametrize("mode", ["per-worker", "prefork"])
def test_gunicorn_uvicorn_workers_log_every_request_once(
    mode: str, tmp_path: Path, figure: Callable[[str, object], None]
) -> None:
    log = tmp_path / "server.log"
    with _server(mode, 2, log, tmp_path) as base:
        ok = _python_client(base, 200)
    assert ok == 200
    handled, lines = _check(log, 2)
    assert handled == 200
    figure(f"gunicorn ({mode}, 2 workers, Python client) requests / lines", f"{handled} / {lines}")


@pytest.mark.stress
@pytest.mark.parametrize("mode", ["per-worker", "prefork"])
def test_gunicorn_uvicorn_workers_under_wrk_log_every_request_once(
    mode: str, tmp_path: Path, figure: Callable[[str, object], None]
) -> None:
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (make stress installs it with apt-get when root)")
    log, connections, seconds = tmp_path / "server.log", 32, 30
    with _server(mode, 4, log, tmp_path) as base:
        wrk = _wrk(base, seconds, connections)
    handled, lines = _check(log, 4)
    # wrk counts the responses it read before its time was up; the server may have handled a
    # request per connection more, whose response wrk no longer read.
    assert wrk["requests"] <= handled <= wrk["requests"] + connections, (wrk, handled)
    figure(
        f"gunicorn ({mode}, 4 uvicorn workers, wrk {seconds} s, {connections} connections)",
        f"wrk {wrk['requests']} requests ({wrk['rate']} req/s); server handled {handled}, "
        f"{lines} lines, each request's 2 lines present once with its request id",
    )
