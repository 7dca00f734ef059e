"""The integrations' examples, run as a user runs them: the stdlib and OpenTelemetry ones as
scripts, the FastAPI one as a real uvicorn server on a loopback port, each writing to a file
sink whose bytes are checked."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _env(log: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "FERROLOG_SINKS": json.dumps([{"type": "file", "path": str(log)}]),
        **extra,
    }


def _events(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_bytes().splitlines()]


def _run_example(name: str, log: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        env=_env(log),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return _events(log)


def test_stdlib_example(tmp_path: Path) -> None:
    """examples/stdlib_capture.py: library records arrive named, formatted, with their extra
    fields and exception; the quietened logger's record does not; the adapter's event does."""
    events = _run_example("stdlib_capture.py", tmp_path / "app.log")
    assert [(e["logger"], e["message"]) for e in events] == [
        ("sqlalchemy.engine", "SELECT * FROM items WHERE id = 3"),
        ("sqlalchemy.engine", "query failed"),
        ("app", "job nightly started"),
    ]
    assert events[0]["rows"] == 1
    assert events[1]["exception"]["type"] == "ConnectionError"
    assert events[2]["batch"] == 42


def test_otel_example(tmp_path: Path) -> None:
    """examples/otel_trace.py: events in spans carry the trace and span ids, others none."""
    pytest.importorskip("opentelemetry.sdk.trace", reason="needs opentelemetry-sdk (dev extra)")
    outside, cart, charge = _run_example("otel_trace.py", tmp_path / "app.log")
    assert "trace_id" not in outside
    assert cart["trace_id"] == charge["trace_id"]
    assert len(cart["trace_id"]) == 32
    assert cart["span_id"] != charge["span_id"]
    assert len(charge["span_id"]) == 16


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.mark.slow
def test_fastapi_example_under_uvicorn(tmp_path: Path) -> None:
    """examples/fastapi_app.py served by uvicorn on a loopback port: request events carry
    the request id (async, sync and background), one access event per request (none for
    /health), uvicorn's own records routed through ferrolog, all on disk after shutdown."""
    httpx = pytest.importorskip("httpx", reason="needs httpx (dev extra)")
    pytest.importorskip("fastapi", reason="needs fastapi (dev extra)")
    pytest.importorskip("uvicorn", reason="needs uvicorn (dev extra)")
    log = tmp_path / "app.log"
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "fastapi_app.py")],
        env=_env(log, PORT=str(port)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, server.communicate()[1].decode(errors="replace")
            try:
                if httpx.get(f"{base}/health", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "uvicorn did not start within 30 s"
            time.sleep(0.1)
        item = httpx.get(f"{base}/items/3", headers={"X-Request-ID": "uv-1"}, timeout=5.0)
        report = httpx.get(f"{base}/report", headers={"X-Request-ID": "uv-2"}, timeout=5.0)
        missing = httpx.get(f"{base}/nope", timeout=5.0)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            _, stderr = server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            _, stderr = server.communicate()
    assert server.returncode == 0, stderr.decode(errors="replace")
    assert item.json() == {"id": 3}
    assert item.headers["x-request-id"] == "uv-1"
    assert report.headers["x-request-id"] == "uv-2"
    assert missing.status_code == 404

    events = _events(log)
    by_message: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_message.setdefault(event["message"], []).append(event)
    assert by_message["item read"][0]["request_id"] == "uv-1"
    assert by_message["item audited"][0]["request_id"] == "uv-1"
    assert by_message["report built"][0]["request_id"] == "uv-2"
    assert by_message["item read"][0]["client"].startswith("127.0.0.1:")
    access = [e for e in events if e["logger"] == "app.access"]
    assert [(e["path"], e["status"]) for e in access] == [
        ("/items/3", 200),
        ("/report", 200),
        ("/nope", 404),
    ]
    assert access[0]["response_bytes"] == len(item.content)
    # uvicorn's own records, through the stdlib capture (log_config=None).
    uvicorn_events = [e for e in events if e["logger"].startswith("uvicorn")]
    assert any(e["message"] == "Application startup complete." for e in uvicorn_events)
    # Each event once.
    assert len(by_message["item read"]) == 1
