"""A small FastAPI service for the service-level comparison.

``BENCH_LOGGER`` picks the logger (see `LOGGERS`), ``BENCH_LOG_FILE`` where it writes. Every
``GET /api/items/{item_id}`` takes the next number from the server's own request counter,
binds ``request_id = "r-<n>"`` in the request's context the way that library does it, and
logs 5 INFO events with typed fields; the last is the standard event (``user_id`` int,
``path`` str, ``latency_ms`` float). ``GET /_count`` returns the counter (not logged).

    BENCH_LOGGER=structlog BENCH_LOG_FILE=/tmp/s.jsonl \
        uvicorn --app-dir benches/service app:app --host 127.0.0.1 --port 8811
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import peers

LOGGER = os.environ.get("BENCH_LOGGER", "none")
LOG_FILE = os.environ.get("BENCH_LOG_FILE", "service.jsonl")
EVENTS_PER_REQUEST = 5

Emit = Callable[[int, float], Awaitable[None]]
Bind = Callable[[str], AbstractContextManager[Any]]


class Backend:
    """What one logger plugs into the app: start/stop, binding the request id, 5 events."""

    def install(self, app: FastAPI) -> None:
        """Add what the logger needs to the app (middleware) before it serves."""
        return

    #: where it writes (set before `start`)
    log_file: str = LOG_FILE

    def flush(self) -> None:
        """Block until what was logged is written (the in-process driver's burst end)."""
        return

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def bind(self, request_id: str) -> AbstractContextManager[Any]:
        return contextlib.nullcontext()

    async def emit(self, item_id: int, t0: float) -> None:
        return None


class NoLogging(Backend):
    pass


def _five(info: Callable[..., Any], item_id: int, t0: float) -> None:
    """The 5 typed events of one request, through a sync `info(msg, **fields)`."""
    info("request received", method="GET", route="/api/items/{item_id}", item_id=item_id)
    info("cache lookup", hit=False, key=f"item:{item_id}", ttl_s=30)
    info("db query", table="items", rows=1, db_ms=0.42)
    info("item loaded", item_id=item_id, price=9.99, in_stock=True)
    info(
        peers.MESSAGE,
        user_id=item_id,
        path=peers.PATH_VALUE,
        latency_ms=(time.perf_counter() - t0) * 1e3,
    )


class Ferrolog(Backend):
    """ferrolog through its container. ``sink``: "file" or "null" (what the writer costs);
    ``events``: False binds the request id and logs nothing (what binding alone costs);
    ``middleware``: the request context is bound by `ferrolog.fastapi.RequestContextMiddleware`
    (with its access event when ``access_log``) instead of by the endpoint."""

    def __init__(
        self,
        sink: str = "file",
        *,
        level: str = "info",
        ring_bytes: int = peers.RING_BYTES,
        events: bool = True,
        middleware: bool = False,
        access_log: bool = False,
    ) -> None:
        self.sink = sink
        self.level = level
        self.ring_bytes = ring_bytes
        self.events = events
        self.middleware = middleware
        self.access_log = access_log

    def install(self, app: FastAPI) -> None:
        if self.middleware:
            from ferrolog.fastapi import RequestContextMiddleware

            app.add_middleware(RequestContextMiddleware, access_log=self.access_log)

    async def start(self) -> None:
        import ferrolog

        self._bound = ferrolog.bound_contextvars
        sink: dict[str, Any] = (
            {"type": "file", "path": self.log_file} if self.sink == "file" else {"type": "null"}
        )
        self.pipe: Any = None
        self.container: Any = None
        if hasattr(ferrolog, "Container"):  # the public API (DESIGN.md §3)
            self.container = await ferrolog.Container.create(
                {
                    "sinks": [sink],
                    "level": self.level,
                    "ring": {"capacity_bytes": self.ring_bytes, "overflow": "block"},
                }
            )
            self.log = await self.container.get(ferrolog.Logger)
            self.pipe = await self.container.get(ferrolog.Pipeline)
        else:  # the native pipeline underneath it
            self.pipe = ferrolog.Pipeline(
                sinks=[sink],
                capacity_bytes=peers.RING_BYTES,
                overflow="block",
                block_timeout=peers.BLOCK_TIMEOUT,
            )
            self.log = self.pipe.logger("app", logging.INFO)
        self.info = self.log.info

    async def stop(self) -> None:
        await self.log.flush(30.0)
        if self.container is not None:
            await self.container.aclose()
        else:
            self.pipe.close(30.0)

    def flush(self) -> None:
        self.pipe.flush(30.0)

    def bind(self, request_id: str) -> AbstractContextManager[Any]:
        if self.middleware:  # bound by the middleware already
            return contextlib.nullcontext()
        cm: AbstractContextManager[Any] = self._bound(request_id=request_id)
        return cm

    async def emit(self, item_id: int, t0: float) -> None:
        if self.events:
            _five(self.info, item_id, t0)


class Structlog(Backend):
    async def start(self) -> None:
        import orjson
        import structlog

        self.fh = open(self.log_file, "wb")  # noqa: SIM115, ASYNC230 - start-up, closed in stop()
        structlog.configure(
            cache_logger_on_first_use=True,
            wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
            processors=[
                structlog.contextvars.merge_contextvars,
                structlog.processors.add_log_level,
                structlog.processors.format_exc_info,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.processors.JSONRenderer(serializer=orjson.dumps),
            ],
            logger_factory=structlog.BytesLoggerFactory(self.fh),
        )
        self._bound = structlog.contextvars.bound_contextvars
        self.info = structlog.get_logger().info

    async def stop(self) -> None:
        self.fh.close()

    def flush(self) -> None:
        self.fh.flush()

    def bind(self, request_id: str) -> AbstractContextManager[Any]:
        cm: AbstractContextManager[Any] = self._bound(request_id=request_id)
        return cm

    async def emit(self, item_id: int, t0: float) -> None:
        _five(self.info, item_id, t0)


_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "bench_request_id", default=None
)


@contextlib.contextmanager
def _bind_var(var: contextvars.ContextVar[Any], value: Any) -> Iterator[None]:
    token = var.set(value)
    try:
        yield
    finally:
        var.reset(token)


class _VarBinding:
    """The least a context manager binding a request id can do: set a ContextVar on entry,
    reset it on exit (what `Floor` binds with)."""

    __slots__ = ("token", "value")

    def __init__(self, value: str) -> None:
        self.value = value

    def __enter__(self) -> None:
        self.token = _request_id.set(self.value)

    def __exit__(self, *exc: object) -> None:
        _request_id.reset(self.token)


class Floor(Backend):
    """What any logging library's API costs this app before it does anything: the request id
    bound with a bare ContextVar (`_VarBinding`) and, with ``events``, the 5 calls made (their
    arguments built) and dropped at once by a level filter (ferrolog at level warning: a
    native call that returns after comparing one integer)."""

    def __init__(self, *, events: bool = True) -> None:
        self.events = events

    async def start(self) -> None:
        import ferrolog

        self.container = await ferrolog.Container.create(
            {"sinks": [{"type": "null"}], "level": "warning"}
        )
        self.info = (await self.container.get(ferrolog.Logger)).info

    async def stop(self) -> None:
        await self.container.aclose()

    def bind(self, request_id: str) -> AbstractContextManager[Any]:
        return _VarBinding(request_id)

    async def emit(self, item_id: int, t0: float) -> None:
        if self.events:
            _five(self.info, item_id, t0)


class RequestIdFilter(logging.Filter):
    """The logging cookbook's way to add contextual information: a filter on the logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get()
        return True


class Stdlib(Backend):
    def __init__(self, queued: bool) -> None:
        self.queued = queued

    async def start(self) -> None:
        import logging.handlers
        import queue

        peers._stdlib_fast_flags()
        self.file_handler = logging.FileHandler(self.log_file, encoding="utf-8")
        self.file_handler.setFormatter(peers.JsonFormatter())
        log = peers._fresh_stdlib_logger("app")
        log.addFilter(RequestIdFilter())
        self.listener: logging.handlers.QueueListener | None = None
        if self.queued:
            q: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
            self.listener = logging.handlers.QueueListener(q, self.file_handler)
            log.addHandler(logging.handlers.QueueHandler(q))
            self.listener.start()
        else:
            log.addHandler(self.file_handler)
        info = log.info

        def info_kw(msg: str, **fields: Any) -> None:
            info(msg, extra=fields)

        self.info = info_kw

    async def stop(self) -> None:
        if self.listener is not None:
            self.listener.stop()
        self.file_handler.close()

    def bind(self, request_id: str) -> AbstractContextManager[Any]:
        return _bind_var(_request_id, request_id)

    async def emit(self, item_id: int, t0: float) -> None:
        _five(self.info, item_id, t0)


class Loguru(Backend):
    def __init__(self, enqueue: bool) -> None:
        self.enqueue = enqueue

    async def start(self) -> None:
        from loguru import logger

        logger.remove()
        logger.add(
            self.log_file,
            serialize=True,
            level="INFO",
            format="{message}",
            enqueue=self.enqueue,
            backtrace=False,
            diagnose=False,
        )
        self.logger = logger
        self.info = logger.info

    async def stop(self) -> None:
        await self.logger.complete()
        self.logger.remove()

    def bind(self, request_id: str) -> AbstractContextManager[Any]:
        cm: AbstractContextManager[Any] = self.logger.contextualize(request_id=request_id)
        return cm

    async def emit(self, item_id: int, t0: float) -> None:
        _five(self.info, item_id, t0)


class Logust(Backend):
    """logust (loguru's API on a Rust core): serialize, the request id via contextualize."""

    async def start(self) -> None:
        from logust import logger

        logger.remove()
        logger.add(self.log_file, serialize=True, level="INFO")
        self.logger = logger
        self.info = logger.info

    async def stop(self) -> None:
        self.logger.complete()
        self.logger.remove()

    def flush(self) -> None:
        self.logger.complete()

    def bind(self, request_id: str) -> AbstractContextManager[Any]:
        cm: AbstractContextManager[Any] = self.logger.contextualize(request_id=request_id)
        return cm

    async def emit(self, item_id: int, t0: float) -> None:
        _five(self.info, item_id, t0)


class Fapilog(Backend):
    async def start(self) -> None:
        import fapilog
        from fapilog.core.errors import request_id_var

        self.dir = Path(self.log_file).with_suffix(".d")
        self.dir.mkdir(parents=True, exist_ok=True)
        self.var = request_id_var
        self.log = await fapilog.get_async_logger(
            name="app", settings=peers._fapilog_settings(self.dir, None), reuse=False
        )

    async def stop(self) -> None:
        await self.log.stop_and_drain()

    def bind(self, request_id: str) -> AbstractContextManager[Any]:
        return _bind_var(self.var, request_id)

    async def emit(self, item_id: int, t0: float) -> None:
        info = self.log.info
        await info("request received", method="GET", route="/api/items/{id}", item_id=item_id)
        await info("cache lookup", hit=False, key=f"item:{item_id}", ttl_s=30)
        await info("db query", table="items", rows=1, db_ms=0.42)
        await info("item loaded", item_id=item_id, price=9.99, in_stock=True)
        await info(
            peers.MESSAGE,
            user_id=item_id,
            path=peers.PATH_VALUE,
            latency_ms=(time.perf_counter() - t0) * 1e3,
        )


LOGGERS: dict[str, Callable[[], Backend]] = {
    "none": NoLogging,
    "ferrolog": Ferrolog,
    "structlog": Structlog,
    "stdlib": lambda: Stdlib(queued=False),
    "stdlib-queue": lambda: Stdlib(queued=True),
    "loguru-enqueue": lambda: Loguru(enqueue=True),
    "logust": Logust,
    "fapilog": Fapilog,
}


def make_app(backend: Backend, *, lifespan_managed: bool = True) -> FastAPI:
    """The service around one `backend`. With ``lifespan_managed`` the app's lifespan starts
    and stops the backend and leaves ``<BENCH_LOG_FILE>.count`` (what uvicorn runs); without,
    the caller does (the in-process driver of inproc.py, which keeps several apps alive)."""
    counter = itertools.count(1)
    served = 0

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await backend.start()
        try:
            yield
        finally:
            await backend.stop()
            Path(LOG_FILE + ".count").write_text(str(served))  # noqa: ASYNC240 - at shutdown

    app = FastAPI(lifespan=lifespan if lifespan_managed else None)
    backend.install(app)

    @app.get("/api/items/{item_id}")
    async def get_item(item_id: int) -> dict[str, Any]:
        nonlocal served
        t0 = time.perf_counter()
        n = next(counter)
        served = n
        with backend.bind(f"r-{n}"):
            await backend.emit(item_id, t0)
        return {"id": item_id, "name": "widget", "price": 9.99, "request": n}

    @app.get("/_count")
    async def count() -> dict[str, int]:
        return {"requests": served}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


if __name__ != "__main__" and os.environ.get("BENCH_LOGGER") is not None:
    # uvicorn imports `app:app` with BENCH_LOGGER set (benches/service/run.py)
    app = make_app(LOGGERS[LOGGER]())
