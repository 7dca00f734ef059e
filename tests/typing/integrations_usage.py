"""Real usage of the integrations that `mypy --strict` must accept (never run by pytest)."""

from __future__ import annotations

import logging

from fastapi import Depends, FastAPI
from typing_extensions import assert_type

from ferrolog import Container, Logger, Settings
from ferrolog.fastapi import RequestContextMiddleware, RequestLogger, lifespan
from ferrolog.stdlib import StdlibHandler, StdlibLoggerAdapter, as_stdlib, capture_stdlib


async def stdlib_both_ways(container: Container) -> None:
    handler = await capture_stdlib(container, level="DEBUG")
    assert_type(handler, StdlibHandler)
    logging.getLogger("lib").addHandler(StdlibHandler(await container.get(Logger), logging.INFO))
    adapter = as_stdlib(await container.get(Logger))
    assert_type(adapter, StdlibLoggerAdapter)
    adapter.warning("x %s", 1, extra={"k": 1}, exc_info=True)
    assert_type(adapter.getChild("db"), StdlibLoggerAdapter)
    assert_type(adapter.isEnabledFor(logging.DEBUG), bool)
    container.on_close(lambda: None, name="mine")


def fastapi_app() -> FastAPI:
    app = FastAPI(lifespan=lifespan(Settings(otel_trace_context=True), stdlib_level="INFO"))
    app.add_middleware(RequestContextMiddleware, header="X-Correlation-ID", skip_paths=("/ok",))

    @app.get("/")
    async def index(log: Logger = Depends(RequestLogger)) -> dict[str, str]:
        log.info("index")
        return {}

    return app
