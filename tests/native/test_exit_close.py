"""Interpreter exit closes pipelines nobody closed: gzip jobs finish, Python sinks are
flushed and stopped."""

from __future__ import annotations

import gzip
import subprocess
import sys
import textwrap
from pathlib import Path


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_exit_finishes_gzip_of_rotated_files(tmp_path: Path) -> None:
    """Exiting with an unclosed container whose file sink rotated and compresses leaves valid
    .gz backups, no temporary files, and every event once."""
    path = tmp_path / "app.log"
    out = _run(
        f"""
        import asyncio
        from ferrolog import Container, Logger

        async def main():
            c = await Container.create({{
                "sinks": [{{"type": "file", "path": {str(path)!r}, "max_bytes": 20000,
                            "backups": 50, "compress": True}}],
                "ring": {{"overflow": "block"}},
            }})
            log = await c.get(Logger)
            for i in range(3000):
                log.info("e", i=i, pad="y" * 100)
            return c

        kept = asyncio.run(main())  # never closed: interpreter exit must finish the job
        """
    )
    assert out.returncode == 0, out.stderr
    names = sorted(p.name for p in tmp_path.iterdir())
    assert not [n for n in names if n.endswith(".tmp")], names
    gz = [p for p in tmp_path.iterdir() if p.name.endswith(".gz")]
    assert gz, names
    lines = path.read_bytes().splitlines()
    for p in gz:
        lines += gzip.decompress(p.read_bytes()).splitlines()
    assert sorted(int(line.split(b'"i":')[1].split(b",")[0]) for line in lines) == list(range(3000))


def test_exit_flushes_and_stops_python_sinks(tmp_path: Path) -> None:
    """A Python sink of a pipeline nobody closed gets every batch, then flush() and stop()."""
    marks = tmp_path / "marks"
    out = _run(
        f"""
        from ferrolog import Pipeline

        class Marker:
            def __init__(self):
                self.lines = 0
            def write_batch(self, batch):
                self.lines += bytes(batch).count(b"\\n")
            def _mark(self, what):
                with open({str(marks)!r}, "a") as f:
                    f.write(f"{{what}} {{self.lines}}\\n")
            def flush(self):
                self._mark("flush")
            def stop(self):
                self._mark("stop")

        p = Pipeline(sinks=[Marker()])
        log = p.logger("x")
        for i in range(1000):
            log.info("e", i=i)
        """
    )
    assert out.returncode == 0, out.stderr
    recorded = marks.read_text().splitlines()
    assert recorded[-2:] == ["flush 1000", "stop 1000"]
