"""OpenTelemetry trace context in every event logged inside a span.

pip install 'ferrolog[otel]' opentelemetry-sdk
python examples/otel_trace.py
"""

from __future__ import annotations

import asyncio

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from ferrolog import Container, Logger

trace.set_tracer_provider(TracerProvider())
tracer = trace.get_tracer("checkout")


async def main() -> None:
    async with Container.create({"otel_trace_context": True}) as container:
        log = await container.get(Logger)
        log.info("outside any span")  # no trace_id / span_id
        with tracer.start_as_current_span("checkout"):
            log.info("cart loaded", items=3)  # trace_id + span_id of "checkout"
            with tracer.start_as_current_span("charge"):
                log.info("card charged", amount=12.5)  # same trace_id, span_id of "charge"


if __name__ == "__main__":
    asyncio.run(main())
