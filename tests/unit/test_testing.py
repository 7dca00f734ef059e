"""`ferrolog.testing`: capture_logs(), the pytest fixture `logs`, MemorySink, and the
`ferrolog.plugins.lines` helper for sink authors."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import ferrolog
from ferrolog import Container, Logger, build_pipeline
from ferrolog.config import Settings
from ferrolog.plugins import lines
from ferrolog.testing import MemorySink, capture_logs


async def test_capture_logs_collects_the_events_of_containers_created_inside() -> None:
    with capture_logs() as logs:
        async with Container.create({"level": "debug"}) as container:
            log = await container.get(Logger)
            with ferrolog.bound_contextvars(request_id="r-1"):
                log.debug("hello", user=7)
            await log.flush()
            assert [e["message"] for e in logs] == ["hello"], "visible after a flush"
            log.warning("bye")
    assert [(e["level"], e["message"]) for e in logs] == [("debug", "hello"), ("warning", "bye")]
    assert logs[0]["user"] == 7
    assert logs[0]["request_id"] == "r-1"


async def test_only_events_logged_inside_the_capture_are_captured() -> None:
    outside = await Container.create({"sinks": [{"type": "null"}]})
    log = await outside.get(Logger)
    log.info("before")
    with capture_logs() as logs:
        log.info("inside, from a container made before")
    log.info("after")
    await outside.aclose()
    async with Container.create({"sinks": [{"type": "null"}]}) as after:
        (await after.get(Logger)).info("not captured either")
    assert logs.messages == ["inside, from a container made before"]


async def test_two_concurrent_captures_see_only_their_own_events() -> None:
    async def one(name: str) -> list[dict[str, Any]]:
        with capture_logs() as logs:
            async with Container.create() as container:
                log = await container.get(Logger)
                for i in range(50):
                    log.info(name, i=i)
                    await asyncio.sleep(0)
        return logs

    a, b = await asyncio.gather(one("a"), one("b"))
    assert [e["message"] for e in a] == ["a"] * 50
    assert [e["message"] for e in b] == ["b"] * 50


def test_memory_sink_in_a_pipeline_keeps_every_event() -> None:
    sink = MemorySink()
    p = build_pipeline(Settings(), sinks=[sink])
    log = p.logger("m")
    for i in range(5000):
        log.info("e", i=i)
    assert p.close(30.0)
    assert [e["i"] for e in sink.events] == list(range(5000))


def test_the_logs_fixture_is_registered_for_pytest(tmp_path: Path) -> None:
    test = tmp_path / "test_uses_logs.py"
    test.write_text(
        textwrap.dedent(
            """
            from ferrolog import Container, Logger

            async def _run():
                async with Container.create() as container:
                    (await container.get(Logger)).info("from a user's test", n=1)

            def test_it(logs):
                import asyncio
                asyncio.run(_run())
                assert [(e["message"], e["n"]) for e in logs] == [("from a user's test", 1)]
            """
        )
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_lines_slices_a_batch_without_copying() -> None:
    data = b'{"a":1}\n{"b":2}\n\n{"c":3}\n'
    view = memoryview(data)
    got = list(lines(view))
    assert [bytes(line) for line in got] == [b'{"a":1}\n', b'{"b":2}\n', b"\n", b'{"c":3}\n']
    assert all(isinstance(line, memoryview) and line.obj is data for line in got)
    assert list(lines(memoryview(b""))) == []
    assert [bytes(x) for x in lines(memoryview(b"x\ny"))] == [b"x\n"]


async def test_captured_logs_helpers() -> None:
    with capture_logs() as logs:
        async with Container.create() as container:
            log = await container.get(Logger)
            log.info("paid", order=7, amount=12.5)
            log.warning("slow", ms=900)
            log.info("paid", order=8, amount=3.0)
    assert logs.messages == ["paid", "slow", "paid"]
    assert [e["order"] for e in logs.matching("paid")] == [7, 8]
    assert logs.assert_logged("slow", level="WARNING")["ms"] == 900
    assert logs.assert_logged("paid", order=8)["amount"] == 3.0
    logs.assert_not_logged("refund")
    with pytest.raises(AssertionError, match=r"expected exactly one event like .* found 2"):
        logs.assert_logged("paid")
    with pytest.raises(AssertionError, match="expected no event like that"):
        logs.assert_not_logged(level="warning")


async def test_a_logger_made_before_the_capture_is_captured_at_once() -> None:
    container = await Container.create({"sinks": [{"type": "null"}]})
    cached = await container.get(Logger)  # e.g. a module-level logger
    try:
        cached.info("before the capture")
        with capture_logs() as logs:
            cached.info("during", n=1)
            assert logs.messages == ["during"], "no flush needed"
            await asyncio.to_thread(cached.info, "from a worker thread")
        cached.info("after the capture")
        assert logs.messages == ["during", "from a worker thread"]
    finally:
        await container.aclose()


def test_the_tap_is_removed_when_the_last_capture_ends() -> None:
    from ferrolog import Pipeline

    p = Pipeline(sinks=[{"type": "null"}])
    log = p.logger("t")
    with capture_logs() as outer:
        with capture_logs() as inner:
            log.info("inner")
        log.info("outer")
    log.info("none")
    assert inner.messages == ["inner"]
    assert outer.messages == ["outer"]
    p.close()


def test_a_thread_without_the_context_goes_to_the_latest_capture() -> None:
    import threading

    from ferrolog import Pipeline

    p = Pipeline(sinks=[{"type": "null"}])
    log = p.logger("t")
    with capture_logs() as logs:
        worker = threading.Thread(target=lambda: log.info("from a plain thread"))
        worker.start()
        worker.join()
    assert logs.messages == ["from a plain thread"]
    p.close()


def test_the_documented_example_passes() -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "pytest_logs"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(example)],
        capture_output=True,
        text=True,
        cwd=example,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
