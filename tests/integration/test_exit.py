"""Interpreter exit flushes what is queued, without hanging at finalization."""

from __future__ import annotations

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
    """200,000 events logged right before exit are all on disk afterwards."""
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
    lines = path.read_text().splitlines()
    assert len(lines) == 200_000
    assert lines[-1].endswith('"i":199999}')


def test_exit_from_a_thread_burst_does_not_hang(tmp_path: Path) -> None:
    """A daemon thread still logging at exit does not stop the interpreter from exiting."""
    path = tmp_path / "daemon.log"
    out = _run(
        f"""
        import threading
        from ferrolog import Pipeline
        p = Pipeline(sinks=[{{"type": "file", "path": {str(path)!r}}}], capacity_bytes=1 << 14)
        log = p.logger("d")
        def spin():
            while True:
                log.info("spin")
        threading.Thread(target=spin, daemon=True).start()
        import time; time.sleep(0.2)
        """,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    for line in path.read_text().splitlines():
        assert line.startswith("{")
        assert line.endswith("}")
