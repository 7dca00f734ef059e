"""ferrolog.stdlib: stdlib records into ferrolog and a stdlib-shaped ferrolog logger, with no
record logged twice and no loops."""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from ferrolog import Container, Logger, Settings, build_pipeline
from ferrolog._processors import ProcessorChain
from ferrolog.stdlib import StdlibHandler, as_stdlib, capture_stdlib
from ferrolog.testing import MemorySink


@pytest.fixture(autouse=True)
def clean_root() -> Iterator[None]:
    """Each test starts and ends with the root logger as it found it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _of(logs: list[dict[str, Any]], logger: str) -> list[dict[str, Any]]:
    return [e for e in logs if e["logger"] == logger]


class _Counted:
    """An argument that counts how often it was formatted."""

    def __init__(self) -> None:
        self.formatted = 0

    def __str__(self) -> str:
        self.formatted += 1
        return "counted"


async def test_record_keeps_level_name_message_and_extra(logs: list[dict[str, Any]]) -> None:
    """A stdlib record becomes an event with its level, logger name, formatted message and
    the fields given with extra=."""
    async with Container.create() as container:
        await capture_stdlib(container, level="INFO")
        logging.getLogger("sqlalchemy.engine").warning(
            "SELECT %s FROM %s", 1, "t", extra={"rows": 3, "db": {"name": "main"}, "stacklevel": 9}
        )
    (event,) = _of(logs, "sqlalchemy.engine")
    assert event["level"] == "warning"
    assert event["message"] == "SELECT 1 FROM t"
    assert event["rows"] == 3
    assert event["db"] == {"name": "main"}
    assert event["extra.stacklevel"] == 9  # a field, not the log call's option
    assert "lineno" not in event
    assert "args" not in event


async def test_record_exception_is_kept(logs: list[dict[str, Any]]) -> None:
    """logger.exception() in stdlib code gives the event a structured exception."""
    async with Container.create() as container:
        await capture_stdlib(container)
        try:
            {}["missing"]
        except KeyError:
            logging.getLogger("lib").exception("lookup failed")
    (event,) = _of(logs, "lib")
    assert event["level"] == "error"
    assert event["exception"]["type"] == "KeyError"
    assert event["message"] == "lookup failed"
    assert "KeyError" in event["exception"]["traceback"]


async def test_record_stack_info_is_the_call_sites_stack(logs: list[dict[str, Any]]) -> None:
    """stack_info=True on a stdlib call gives the event ferrolog's own ``stack`` field,
    ending at that call (not inside logging or the handler)."""
    async with Container.create() as container:
        await capture_stdlib(container)
        logging.getLogger("lib").warning("where", stack_info=True)
    (event,) = _of(logs, "lib")
    last = event["stack"].rstrip().splitlines()[-1]
    assert 'logging.getLogger("lib").warning("where", stack_info=True)' in last
    assert "test_record_stack_info_is_the_call_sites_stack" in event["stack"]
    assert "field.stack" not in event


async def test_record_from_another_thread_keeps_stdlibs_stack_text(
    logs: list[dict[str, Any]],
) -> None:
    """A record handled off its own thread (as a QueueListener does) keeps the stack text
    stdlib recorded, as ``stack_text``."""
    record = logging.LogRecord("lib", logging.WARNING, "f.py", 1, "queued", (), None)
    record.stack_info = "Stack (most recent call last):\n  File f.py"
    record.thread = -1
    async with Container.create() as container:
        handler = StdlibHandler(await container.get(Logger))
        handler.handle(record)
    (event,) = _of(logs, "lib")
    assert event["stack_text"] == record.stack_info
    assert "stack" not in event


async def test_message_is_formatted_only_when_enabled(logs: list[dict[str, Any]]) -> None:
    """A record below the ferrolog logger's level is never formatted nor logged."""
    arg = _Counted()
    logging.getLogger().handlers.clear()  # pytest's own capture handler formats every record
    async with Container.create({"level": "info", "logger_levels": {"noisy": "error"}}) as c:
        await capture_stdlib(c, level="DEBUG")
        logging.getLogger("noisy.pool").warning("checked out %s", arg)
        logging.getLogger("app.db").debug("query %s", arg)
        assert arg.formatted == 0
        logging.getLogger("app.db").info("query %s", arg)
        assert arg.formatted == 1
    assert [e["message"] for e in logs] == ["query counted"]


async def test_handler_is_removed_on_close_and_root_level_restored() -> None:
    """capture_stdlib's handler leaves the root logger when the container closes, and the
    root logger gets its level back."""
    root = logging.getLogger()
    root.setLevel(logging.WARNING)
    container = await Container.create({"sinks": [{"type": "null"}]})
    await capture_stdlib(container, level="DEBUG")
    assert root.level == logging.DEBUG
    assert any(isinstance(h, StdlibHandler) for h in root.handlers)
    await container.aclose()
    assert not any(isinstance(h, StdlibHandler) for h in root.handlers)
    assert root.level == logging.WARNING


async def test_capturing_twice_keeps_one_handler(logs: list[dict[str, Any]]) -> None:
    """Installing the capture twice for one container keeps one handler: each record is
    logged once."""
    async with Container.create() as container:
        first = await capture_stdlib(container, level="INFO")
        second = await capture_stdlib(container, level="WARNING")
        assert first is second
        assert sum(isinstance(h, StdlibHandler) for h in logging.getLogger().handlers) == 1
        logging.getLogger("once").warning("only once")
        logging.getLogger("once").info("below the new level")
    assert [e["message"] for e in _of(logs, "once")] == ["only once"]


class _LoggingSink(MemorySink):
    """A Python sink that itself uses stdlib logging for each batch it writes."""

    name = "chatty"

    def write_batch(self, batch: memoryview, /) -> None:
        super().write_batch(batch)
        logging.getLogger("chatty.sink").warning("wrote %d bytes", len(batch))


async def test_sink_that_uses_stdlib_logging_does_not_loop() -> None:
    """A record logged from inside a ferrolog sink's thread is not sent back into ferrolog
    (it would reach the same sink again, forever); the root's other handlers still get it."""
    sink = _LoggingSink()
    pipeline = build_pipeline(Settings(), sinks=[sink])
    other = io.StringIO()
    root = logging.getLogger()
    root.addHandler(logging.StreamHandler(other))
    root.addHandler(StdlibHandler(pipeline.logger("app")))
    root.setLevel(logging.INFO)
    try:
        logging.getLogger("app.x").info("one event")
        assert pipeline.flush(5.0)
        assert pipeline.flush(5.0)  # anything the sink's own record caused would be here
    finally:
        pipeline.close(5.0)
    assert [e["message"] for e in sink.events] == ["one event"]
    assert "wrote" in other.getvalue()


class _LoggingEnricher:
    """A caller-side enricher that uses stdlib logging inside its call."""

    name = "chatty-enricher"

    def enrich(self, event: dict[str, Any]) -> dict[str, Any]:
        logging.getLogger("chatty.enricher").warning("enriching %s", event["message"])
        return {"enriched": True}


async def test_plugin_that_uses_stdlib_logging_does_not_recurse() -> None:
    """A caller-side plugin logging through stdlib while ferrolog handles a stdlib record
    does not re-enter the handler: one event, enriched, and no recursion."""
    sink = MemorySink()
    pipeline = build_pipeline(
        Settings(), sinks=[sink], processors=ProcessorChain(enrichers=[_LoggingEnricher()])
    )
    root = logging.getLogger()
    root.addHandler(StdlibHandler(pipeline.logger("app")))
    root.setLevel(logging.INFO)
    try:
        logging.getLogger("lib").warning("from a library")
        assert pipeline.flush(5.0)
    finally:
        pipeline.close(5.0)
    assert [(e["logger"], e["message"], e["enriched"]) for e in sink.events] == [
        ("lib", "from a library", True)
    ]


async def test_diagnostics_do_not_enter_the_pipeline(
    logs: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """ferrolog's own diagnostics go to standard error, never through stdlib logging."""
    async with Container.create() as container:
        await capture_stdlib(container, level="DEBUG")
        container.diagnostics.report("test", "something of ferrolog's own")
    assert "something of ferrolog's own" in capsys.readouterr().err
    assert not [e for e in logs if "ferrolog's own" in e["message"]]


async def test_records_from_threads_carry_their_logger_name(logs: list[dict[str, Any]]) -> None:
    """Records from many threads all arrive, each under its own logger name."""
    async with Container.create() as container:
        await capture_stdlib(container)

        def work(n: int) -> None:
            for i in range(50):
                logging.getLogger(f"worker.{n}").info("step %d", i)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    for n in range(4):
        assert [e["message"] for e in _of(logs, f"worker.{n}")] == [f"step {i}" for i in range(50)]


async def test_adapter_has_the_stdlib_call_shape(logs: list[dict[str, Any]]) -> None:
    """as_stdlib(logger) takes %-args, extra=, exc_info= and stack_info= like a stdlib
    logger, and formats only enabled records."""
    arg = _Counted()
    async with Container.create() as container:
        log = as_stdlib(await container.get(Logger))
        log.warning("x %s and %d", "a", 3, extra={"k": 1})
        log.debug("never %s", arg)
        log.info("%(who)s logged in", {"who": "ada"})
        try:
            raise ValueError("bad")
        except ValueError:
            log.exception("failed")
        log.error("with stack", stack_info=True)
        log.info("bad format %d", "not a number")
        child = log.getChild("db")
        child.log(logging.ERROR, "child %s", "event")
        assert log.isEnabledFor(logging.INFO)
        assert not log.isEnabledFor(logging.DEBUG)
        assert log.getEffectiveLevel() == logging.INFO
        assert child.name == "app.db"
    assert arg.formatted == 0
    by_message = {e["message"]: e for e in logs}
    assert by_message["x a and 3"]["k"] == 1
    assert "ada logged in" in by_message
    assert by_message["failed"]["exception"]["type"] == "ValueError"
    assert "test_adapter_has_the_stdlib_call_shape" in by_message["with stack"]["stack"]
    assert by_message["bad format %d"]["format_error"].startswith("TypeError")
    assert by_message["child event"]["logger"] == "app.db"


def test_adapter_rejects_unknown_keywords() -> None:
    """A keyword stdlib loggers do not take is an error, as in stdlib."""
    pipeline = build_pipeline(Settings(), sinks=[MemorySink()])
    try:
        with pytest.raises(TypeError, match="colour"):
            as_stdlib(pipeline.logger("app")).info("x", colour="red")
    finally:
        pipeline.close(5.0)
