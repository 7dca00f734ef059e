"""Settings.otel_trace_context: the active OpenTelemetry span's ids in every event, and
OpenTelemetry never imported when it is off or not installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from ferrolog import Container, Logger, Settings

_NEEDS_SDK = "needs opentelemetry-api and -sdk (in the dev extra: make build installs them)"


@pytest.fixture(scope="module")
def provider() -> Any:
    """A real OpenTelemetry SDK tracer provider (the test is skipped without the SDK)."""
    sdk_trace = pytest.importorskip("opentelemetry.sdk.trace", reason=_NEEDS_SDK)
    return sdk_trace.TracerProvider()


def _run(code: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


async def test_span_ids_are_added_inside_a_span(logs: list[dict[str, Any]], provider: Any) -> None:
    """Inside a span every event has the span's trace_id (32 hex) and span_id (16 hex);
    outside one, neither."""
    tracer = provider.get_tracer("ferrolog-tests")
    async with Container.create({"otel_trace_context": True}) as container:
        log = await container.get(Logger)
        log.info("before")
        with tracer.start_as_current_span("outer") as outer:
            log.info("in outer", user=7)
            with tracer.start_as_current_span("inner") as inner:
                log.bind(k=1).warning("in inner")
        log.info("after")
    outer_ctx, inner_ctx = outer.get_span_context(), inner.get_span_context()
    by_message = {e["message"]: e for e in logs}
    assert "trace_id" not in by_message["before"]
    assert "span_id" not in by_message["after"]
    assert by_message["in outer"]["trace_id"] == f"{outer_ctx.trace_id:032x}"
    assert by_message["in outer"]["span_id"] == f"{outer_ctx.span_id:016x}"
    assert by_message["in outer"]["user"] == 7
    assert by_message["in inner"]["span_id"] == f"{inner_ctx.span_id:016x}"
    assert by_message["in inner"]["trace_id"] == by_message["in outer"]["trace_id"]
    for event in (by_message["in outer"], by_message["in inner"]):
        assert len(event["trace_id"]) == 32
        assert len(event["span_id"]) == 16
        assert event["trace_id"] == event["trace_id"].lower()


async def test_off_by_default(logs: list[dict[str, Any]], provider: Any) -> None:
    """Without the setting, events inside a span get no trace ids."""
    tracer = provider.get_tracer("ferrolog-tests")
    async with Container.create() as container:
        log = await container.get(Logger)
        with tracer.start_as_current_span("span"):
            log.info("inside")
    assert "trace_id" not in logs[0]
    assert Settings().otel_trace_context is False


def test_setting_from_the_environment_and_file_sink(tmp_path: Any) -> None:
    """FERROLOG_OTEL_TRACE_CONTEXT=true turns it on; the ids reach the bytes on disk."""
    pytest.importorskip("opentelemetry.sdk.trace", reason=_NEEDS_SDK)
    out = tmp_path / "app.log"
    _run(
        """
        import asyncio
        from opentelemetry.sdk.trace import TracerProvider
        from ferrolog import Container, Logger

        async def main():
            tracer = TracerProvider().get_tracer("t")
            async with Container.create() as container:
                log = await container.get(Logger)
                with tracer.start_as_current_span("s"):
                    log.info("traced")

        asyncio.run(main())
        """,
        env={
            "FERROLOG_OTEL_TRACE_CONTEXT": "true",
            "FERROLOG_SINKS": json.dumps([{"type": "file", "path": str(out)}]),
        },
    )
    (event,) = [json.loads(line) for line in out.read_bytes().splitlines()]
    assert len(event["trace_id"]) == 32
    assert len(event["span_id"]) == 16


def test_nothing_imports_opentelemetry_when_off() -> None:
    """Importing ferrolog and its integrations and logging imports no OpenTelemetry module
    (opentelemetry-proto, used by the OTLP sink's tests, is a namespace package: no module of
    it either)."""
    out = _run(
        """
        import asyncio, logging, sys
        import ferrolog, ferrolog.stdlib, ferrolog.otel
        from ferrolog import Container, Logger

        async def main():
            async with Container.create({"sinks": [{"type": "null"}]}) as container:
                await ferrolog.stdlib.capture_stdlib(container)
                (await container.get(Logger)).info("x")
                logging.getLogger("lib").warning("y")

        asyncio.run(main())
        print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))
        """
    )
    assert out.strip() == "[]"


_BLOCK_OTEL = """
import importlib.abc, sys

class _NoOtel(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _NoOtel())
"""


def test_missing_package_fails_at_create_naming_the_extra() -> None:
    """With otel_trace_context on but OpenTelemetry not installed, Container.create fails
    saying which pip install fixes it; with it off, ferrolog works without OpenTelemetry."""
    out = _run(
        _BLOCK_OTEL
        + textwrap.dedent(
            """
            import asyncio
            from ferrolog import Container, Logger, UnsupportedSettingError

            async def main():
                async with Container.create({"sinks": [{"type": "null"}]}) as container:
                    (await container.get(Logger)).info("works without OpenTelemetry")
                try:
                    await Container.create({"otel_trace_context": True})
                except UnsupportedSettingError as exc:
                    print(exc)

            asyncio.run(main())
            """
        )
    )
    assert "pip install 'ferrolog[otel]'" in out
    assert "otel_trace_context" in out


async def test_user_enrichers_see_the_trace_ids(logs: list[dict[str, Any]], provider: Any) -> None:
    """The trace context enricher runs first in the processor chain."""
    from ferrolog._processors import ProcessorChain
    from ferrolog.otel import TraceContext

    seen: list[object] = []

    class Peek:
        def enrich(self, event: dict[str, Any]) -> dict[str, Any]:
            seen.append(event.get("trace_id"))
            return {}

    chain = ProcessorChain(enrichers=[Peek()])
    chain.add_enricher(TraceContext(), first=True)
    with provider.get_tracer("t").start_as_current_span("s") as span:
        event = chain({"message": "m", "level": 20, "logger": "app"})
    assert event is not None
    assert seen == [f"{span.get_span_context().trace_id:032x}"]


async def test_current_span_wins_over_bound_trace_fields(
    logs: list[dict[str, Any]], provider: Any
) -> None:
    """Trace ids already in the context (e.g. from a traceparent header) are replaced by
    those of the span current when the event is logged."""
    from ferrolog import bound_contextvars

    async with Container.create({"otel_trace_context": True}) as container:
        log = await container.get(Logger)
        with (
            bound_contextvars(trace_id="a" * 32, span_id="b" * 16),
            provider.get_tracer("t").start_as_current_span("s") as span,
        ):
            log.info("in span")
    ctx = span.get_span_context()
    assert (logs[0]["trace_id"], logs[0]["span_id"]) == (
        f"{ctx.trace_id:032x}",
        f"{ctx.span_id:016x}",
    )
