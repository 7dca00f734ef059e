"""Interpreter exit flushes what is queued, without hanging at finalization."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path


def _run(code: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_exit_during_a_burst_loses_nothing_under_block(tmp_path: Path) -> None:
    """200,000 events logged right before exit are all on disk afterwards, in order, intact."""
    path = tmp_path / "exit.log"
    out = _run(
        f"""
        from ferrolog import Pipeline
        p = Pipeline(sinks=[{{"type": "file", "path": {str(path)!r}}}],
                     capacity_bytes=1 << 16, overflow="block")
        log = p.logger("exit")
        for i in range(200_000):
            log.info("e", i=i)
        """
    )
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in path.read_text().splitlines()]
    assert [e["i"] for e in events] == list(range(200_000))
    assert {(e["message"], e["logger"], e["level"]) for e in events} == {("e", "exit", "info")}


def test_exit_from_a_thread_burst_does_not_hang(tmp_path: Path) -> None:
    """A daemon thread still logging at exit does not stop the interpreter from exiting, and
    what was flushed or logged by the main thread before exit is on disk, each line intact."""
    path = tmp_path / "daemon.log"
    out = _run(
        f"""
        import threading
        from ferrolog import Pipeline
        # block: the spinner keeps the small ring full, and under drop the main thread's
        # last event could be dropped (counted) rather than written.
        p = Pipeline(
            sinks=[{{"type": "file", "path": {str(path)!r}}}],
            capacity_bytes=1 << 14,
            overflow="block",
        )
        log = p.logger("d")
        spinning = threading.Event()
        def spin():
            log.info("ready")
            assert p.flush(10.0)
            i = 0
            while True:
                log.info("spin", i=i)
                i += 1
                if i == 1000:
                    spinning.set()
        threading.Thread(target=spin, daemon=True).start()
        assert spinning.wait(30.0)
        log.info("main done")
        """,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in path.read_text().splitlines()]
    messages = [e["message"] for e in events]
    assert messages[0] == "ready"
    assert messages.count("main done") == 1
    assert set(messages) == {"ready", "spin", "main done"}
    spins = [e["i"] for e in events if e["message"] == "spin"]
    assert spins == sorted(set(spins))  # dropped ones are missing, none repeated or reordered
