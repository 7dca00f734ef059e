"""README claim: interpreter exit flushes what is queued, for Python sinks and for a
container nobody closed (each case in a fresh interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

EVENTS = 20_000


def _run(code: str) -> None:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr, out.stderr


def _indices(path: Path) -> list[int]:
    return [json.loads(line)["i"] for line in path.read_text("utf-8").splitlines()]


def test_a_python_sink_gets_every_event_before_exit(tmp_path: Path) -> None:
    """A Python sink's write_batch receives every event logged before the interpreter exits,
    though nothing was flushed or closed."""
    path = tmp_path / "py-sink.log"
    _run(
        f"""
        from ferrolog import Container, Logger, Pipeline, Settings, build_pipeline

        class AppendSink:
            def write_batch(self, batch):
                with open({str(path)!r}, "ab") as f:
                    f.write(bytes(batch))

        async def pipeline(container):
            return build_pipeline(await container.get(Settings), sinks=[AppendSink()])

        container = Container.create_sync({{"level": "info"}})
        container.register(Pipeline, pipeline)
        log = container.get_sync(Logger)
        for i in range({EVENTS}):
            log.info("e", i=i)
        """
    )
    assert _indices(path) == list(range(EVENTS))


def test_an_unclosed_container_of_an_ended_event_loop_is_flushed_at_exit(tmp_path: Path) -> None:
    """A container created under asyncio.run() and never closed has all its lines on disk
    after the interpreter exits (its loop is long gone by then)."""
    path = tmp_path / "unclosed.log"
    _run(
        f"""
        import asyncio
        from ferrolog import Container, Logger

        async def main():
            container = await Container.create(
                {{"sinks": [{{"type": "file", "path": {str(path)!r}}}],
                  "ring": {{"overflow": "block"}}}}
            )
            log = await container.get(Logger)
            for i in range({EVENTS}):
                log.info("e", i=i)
            return container

        kept = asyncio.run(main())
        """
    )
    assert _indices(path) == list(range(EVENTS))
