"""FastAPI and ASGI: request context, access events, a request logger and the lifespan.

    from fastapi import Depends, FastAPI
    from ferrolog import Logger
    from ferrolog.fastapi import RequestContextMiddleware, RequestLogger, lifespan

    app = FastAPI(lifespan=lifespan())               # app.state.ferrolog: the Container
    app.add_middleware(RequestContextMiddleware)

    @app.get("/items/{item_id}")
    async def item(item_id: int, log: Logger = Depends(RequestLogger)) -> dict[str, int]:
        log.info("item read", item_id=item_id)      # carries request_id, method, path, ...
        return {"id": item_id}

Needs ``pip install 'ferrolog[fastapi]'``. `RequestContextMiddleware` is plain ASGI (not
Starlette's ``BaseHTTPMiddleware``), so streaming responses and background tasks run inside
the request's context. See docs/fastapi.md, also for running uvicorn with its own logging
routed through ferrolog.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterable, MutableMapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Final

try:
    from starlette.requests import Request
except ImportError as exc:  # pragma: no cover - depends on what is installed
    raise ImportError(
        f"ferrolog.fastapi needs FastAPI (Starlette), which is not installed: "
        f"pip install 'ferrolog[fastapi]' ({exc})"
    ) from exc

from ferrolog._native import Logger, ResponseSend, begin_request, request_fields
from ferrolog._presets import gcp_http_request
from ferrolog.container import Container
from ferrolog.request_events import request_events_enabled, request_scope
from ferrolog.typing import SettingsSource

__all__ = ["RequestContextMiddleware", "RequestLogger", "lifespan"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Any]
Send = Callable[[Message], Any]
ASGIApp = Callable[[Scope, Receive, Send], Any]

# Where the middleware leaves the request's fields for `RequestLogger` (in scope["state"],
# which is Starlette's `request.state`).
_STATE_KEY: Final = "ferrolog_request"


class RequestContextMiddleware:
    """Pure ASGI middleware: binds the request's context and logs one access event.

    For each HTTP request it takes the id from ``header`` (or makes one: 32 hex digits from
    the OS's generator), echoes it on the response, and binds ``request_id``, ``method``,
    ``path``, ``client`` and, from a valid W3C ``traceparent`` header, ``trace_id`` and
    ``span_id`` into the request's context (`ferrolog.bound_contextvars`): every event
    logged while handling the request carries them, in sync endpoints too (Starlette runs
    those in a thread with a copy of the context). Then, unless ``access_log`` is false or
    the path is in ``skip_paths``, it logs ``request handled`` with ``status``, ``duration_ms`` and
    ``response_bytes`` at info (error for 5xx, or when the app raised before responding).
    With ``Settings.request_events.enabled`` (opt-in) that access event is the request's
    canonical event: the request runs in a `ferrolog.request_scope`, so code handling it
    can add fields, counters and timings to it (`ferrolog.add_to_request_event`), it gets
    ``route`` and ``sample_rate`` and is tail-sampled, and the scope's fingers-crossed buffer
    (``request_events.buffer``) holds the request's debug events. See docs/request-events.md.

    A client's request id is kept only when it is 1 to 128 of ``A-Z a-z 0-9 . _ ~ : / + = @
    -``: anything else (spaces, control characters, very long) could forge log lines or
    headers, and a new id is made instead. A ``traceparent`` is valid when it is
    ``version-traceid-parentid-flags`` in lowercase hex, the version is not ``ff`` and
    neither id is all zeros (only the first such header is read).

    The access events go to ``logger`` when given, else to the logger named ``access``
    below the container's in ``app.state.ferrolog`` (see `lifespan`); without either, no
    access event is logged.
    """

    def __init__(
        self,
        app: ASGIApp,
        header: str = "X-Request-ID",
        skip_paths: Iterable[str] = ("/health",),
        access_log: bool = True,
        *,
        logger: Logger | None = None,
    ) -> None:
        self.app = app
        self.header = header
        self._header_key = header.lower().encode("latin-1")
        self.skip_paths = frozenset(skip_paths)
        self.access_log = access_log
        self._logger = logger
        self._resolved: tuple[Container, Logger] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # The headers, the id, the fields, the scope's state and the sender are read and made
        # in one native call (in Python they cost as much as five log calls per request:
        # benches/service/inproc.py, ferrolog-mw), and the app's send is a builtin calling the
        # sender. ASGI only promises a mapping: any other takes the longer way.
        app_send: Send
        if type(scope) is dict:
            path, sender, app_send, bound = begin_request(scope, self._header_key, send, _STATE_KEY)
        else:
            fields, echoed_id, bound = request_fields(dict(scope), self._header_key)
            path = fields["path"]
            scope.setdefault("state", {})[_STATE_KEY] = fields
            sender = app_send = ResponseSend(send, self._header_key, echoed_id)
        log = (
            await self._access_logger(scope)
            if self.access_log and path not in self.skip_paths
            else None
        )
        if log is not None and request_events_enabled(log):
            with bound:
                await self._canonical(log, scope, receive, sender, app_send)
            return
        started = time.perf_counter() if log is not None else 0.0
        with bound:
            try:
                await self.app(scope, receive, app_send)
            except BaseException as exc:
                if log is not None:
                    status = sender.status or 500
                    ms = (time.perf_counter() - started) * 1000.0
                    log.error(
                        "request failed",
                        status=status,
                        duration_ms=round(ms, 3),
                        response_bytes=sender.sent,
                        exc_info=exc if isinstance(exc, Exception) else False,
                        **gcp_http_request(log, scope, status, ms, sender.sent),
                    )
                raise
            if log is not None:
                status = sender.status
                ms = (time.perf_counter() - started) * 1000.0
                log.log(
                    "error" if status >= 500 else "info",
                    "request handled",
                    status=status,
                    duration_ms=round(ms, 3),
                    response_bytes=sender.sent,
                    **gcp_http_request(log, scope, status, ms, sender.sent),
                )

    async def _canonical(
        self,
        log: Logger,
        scope: Scope,
        receive: Receive,
        send: ResponseSend,
        app_send: Send,
    ) -> None:
        """Run the request in a request scope: its access event is the canonical event (with
        ``status``, ``duration_ms``, ``response_bytes``, ``route`` and what the app added),
        tail-sampled per ``Settings.request_events``; its debug events are held in the
        scope's buffer when that is enabled."""
        started = time.perf_counter()
        async with request_scope(log) as request:
            try:
                await self.app(scope, receive, app_send)
            except BaseException:
                status, size = send.status, send.sent
                ms = (time.perf_counter() - started) * 1000.0
                request.add(
                    status=status or 500,
                    response_bytes=size,
                    route=_route_of(scope),
                    **gcp_http_request(log, scope, status or 500, ms, size),
                )
                raise
            status, size = send.status, send.sent
            ms = (time.perf_counter() - started) * 1000.0
            request.add(
                status=status,
                response_bytes=size,
                route=_route_of(scope),
                **gcp_http_request(log, scope, status, ms, size),
            )

    async def _access_logger(self, scope: Scope) -> Logger | None:
        if self._logger is not None:
            return self._logger
        container = _container_of(scope)
        if container is None or container.closed:
            return None
        resolved = self._resolved
        if resolved is None or resolved[0] is not container:
            logger = (await container.get(Logger)).child("access")
            self._resolved = resolved = (container, logger)
        return resolved[1]


def _route_of(scope: Scope) -> str:
    """The matched route's template (``/items/{item_id}``), else the path."""
    route = getattr(scope.get("route"), "path", None)
    return route if isinstance(route, str) else str(scope.get("path", ""))


def _container_of(scope: Scope) -> Container | None:
    app = scope.get("app")
    state = getattr(app, "state", None)
    container = getattr(state, "ferrolog", None)
    return container if isinstance(container, Container) else None


async def RequestLogger(request: Request) -> Logger:
    """A FastAPI dependency: the container's `Logger` for this request.

    Behind `RequestContextMiddleware` the request's fields are in the context already, so
    they reach every event; without it, the logger is bound to ``method`` and ``path``.
    Needs the container in ``app.state.ferrolog`` (see `lifespan`).
    """
    container = _container_of(request.scope)
    if container is None:
        raise RuntimeError(
            "RequestLogger needs a ferrolog Container in app.state.ferrolog: create the app "
            "with FastAPI(lifespan=ferrolog.fastapi.lifespan()), or set app.state.ferrolog"
        )
    log = await container.get(Logger)
    state = request.scope.get("state") or {}
    if _STATE_KEY in state:
        return log
    return log.bind(method=request.method, path=request.url.path)


def lifespan(
    settings: SettingsSource = None, *, stdlib_level: int | str | None = None
) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """A FastAPI/Starlette lifespan: creates the container on startup, exposes it as
    ``app.state.ferrolog``, and drains and closes it on shutdown.

    ``settings`` is what `Container.create` accepts. ``stdlib_level`` (e.g. ``"INFO"``) also
    routes standard `logging` records (uvicorn's own, libraries') into the container with
    `ferrolog.stdlib.capture_stdlib` until shutdown.
    """

    @asynccontextmanager
    async def run(app: Any) -> AsyncIterator[None]:
        async with Container.create(settings) as container:
            if stdlib_level is not None:
                from ferrolog.stdlib import capture_stdlib

                await capture_stdlib(container, stdlib_level)
            app.state.ferrolog = container
            try:
                yield
            finally:
                if getattr(app.state, "ferrolog", None) is container:
                    del app.state.ferrolog

    return run
