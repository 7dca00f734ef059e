"""ferrolog.fastapi against a real FastAPI app through its ASGI interface (httpx): request
ids, request context in async and sync endpoints, streaming and background tasks, access
events, RequestLogger and the lifespan."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="needs fastapi (the dev extra: make build installs it)")
httpx = pytest.importorskip("httpx", reason="needs httpx (the dev extra: make build installs it)")

from fastapi import BackgroundTasks, Depends, FastAPI  # noqa: E402
from fastapi.responses import StreamingResponse  # noqa: E402

from ferrolog import Container, Logger  # noqa: E402
from ferrolog.fastapi import RequestContextMiddleware, RequestLogger, lifespan  # noqa: E402

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


def make_app(**middleware: Any) -> FastAPI:
    app = FastAPI(lifespan=lifespan())
    app.add_middleware(RequestContextMiddleware, **middleware)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/items/{item_id}")
    async def item(item_id: int, log: Logger = Depends(RequestLogger)) -> dict[str, int]:
        await asyncio.sleep(0.001 * (item_id % 5))
        log.info("item read", item_id=item_id)
        return {"id": item_id}

    @app.get("/sync")
    def sync(log: Logger = Depends(RequestLogger)) -> dict[str, str]:
        thread = threading.current_thread().name
        log.info("sync endpoint", thread=thread)
        return {"thread": thread}

    @app.get("/stream")
    async def stream(log: Logger = Depends(RequestLogger)) -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            for i in range(3):
                log.info("chunk", n=i)
                yield b"x" * 10

        return StreamingResponse(chunks())

    @app.get("/background")
    async def background(tasks: BackgroundTasks, log: Logger = Depends(RequestLogger)) -> str:
        tasks.add_task(lambda: log.info("background task ran"))
        return "queued"

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("endpoint failed")

    @app.get("/unavailable", status_code=503)
    async def unavailable() -> dict[str, str]:
        return {"status": "down"}

    return app


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[Any]:
    """The app's lifespan around an httpx client speaking ASGI to it (ASGITransport does not
    run the lifespan itself)."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


def _one(logs: list[dict[str, Any]], message: str) -> dict[str, Any]:
    found = [e for e in logs if e["message"] == message]
    assert len(found) == 1, found
    return found[0]


def _access(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in logs if e["logger"] == "app.access"]


async def test_request_id_is_read_echoed_and_bound(logs: list[dict[str, Any]]) -> None:
    """A valid X-Request-ID is echoed on the response and carried by every event of the
    request, with method, path and client."""
    async with serve(make_app()) as client:
        response = await client.get("/items/7", headers={"X-Request-ID": "req-123"})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "req-123"
    event = _one(logs, "item read")
    assert event["request_id"] == "req-123"
    assert event["method"] == "GET"
    assert event["path"] == "/items/7"
    assert event["client"] == "127.0.0.1:123"
    assert event["item_id"] == 7


@pytest.mark.parametrize("sent", [None, "has spaces", "x" * 500, "new\nline"])
async def test_request_id_is_generated_when_missing_or_invalid(
    logs: list[dict[str, Any]], sent: str | None
) -> None:
    """Without a usable X-Request-ID a fresh id (32 hex digits) is made, echoed and bound."""
    headers = {} if sent is None or "\n" in sent else {"X-Request-ID": sent}
    async with serve(make_app()) as client:
        response = await client.get("/items/1", headers=headers)
    echoed = response.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", echoed)
    assert _one(logs, "item read")["request_id"] == echoed


async def test_generated_ids_do_not_repeat_after_the_app_seeds_random() -> None:
    """An app seeding `random` (for its own reproducibility) does not make request ids
    repeat: they come from the OS's generator."""
    import random

    async def ids(n: int) -> list[str]:
        async with serve(make_app(access_log=False)) as client:
            return [(await client.get("/items/1")).headers["x-request-id"] for _ in range(n)]

    random.seed(1234)
    first = await ids(3)
    random.seed(1234)
    second = await ids(3)
    assert len(set(first + second)) == 6


def test_a_forked_worker_makes_ids_its_parent_does_not() -> None:
    """Pre-fork servers: two workers forked from one master never make the same ids (a
    user-space generator copied by fork would)."""
    import os

    from ferrolog._native import request_id  # what the middleware makes its ids with

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: one id through the pipe, then out without cleanup
        try:
            os.write(write, request_id().encode())
        finally:
            os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    parent = request_id()
    assert re.fullmatch(r"[0-9a-f]{32}", child)
    assert child != parent


async def test_custom_header(logs: list[dict[str, Any]]) -> None:
    """header= names the request id's header."""
    async with serve(make_app(header="X-Correlation-ID")) as client:
        response = await client.get("/items/2", headers={"X-Correlation-ID": "c-9"})
    assert response.headers["x-correlation-id"] == "c-9"
    assert _one(logs, "item read")["request_id"] == "c-9"


async def test_traceparent_ids_are_bound(logs: list[dict[str, Any]]) -> None:
    """A valid W3C traceparent header puts its trace_id and span_id in the request's
    events; an invalid one adds nothing."""
    async with serve(make_app()) as client:
        await client.get("/items/1", headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})
        await client.get("/items/2", headers={"traceparent": f"00-{'0' * 32}-{PARENT_ID}-01"})
    by_item = {e["item_id"]: e for e in logs if e["message"] == "item read"}
    assert by_item[1]["trace_id"] == TRACE_ID
    assert by_item[1]["span_id"] == PARENT_ID
    assert "trace_id" not in by_item[2]


async def test_sync_endpoint_runs_in_a_thread_with_the_context(
    logs: list[dict[str, Any]],
) -> None:
    """A sync endpoint runs in Starlette's threadpool, which copies the request's context:
    its events carry the request id."""
    async with serve(make_app()) as client:
        response = await client.get("/sync", headers={"X-Request-ID": "sync-1"})
    event = _one(logs, "sync endpoint")
    assert event["thread"] == response.json()["thread"]
    assert event["thread"] != threading.main_thread().name
    assert event["request_id"] == "sync-1"


async def test_streaming_and_background_tasks_keep_the_context(
    logs: list[dict[str, Any]],
) -> None:
    """Events logged while a streaming body is produced, and in background tasks after the
    response, carry the request id (a pure ASGI middleware keeps one context)."""
    async with serve(make_app()) as client:
        streamed = await client.get("/stream", headers={"X-Request-ID": "s-1"})
        await client.get("/background", headers={"X-Request-ID": "b-1"})
    assert streamed.content == b"x" * 30
    chunks = [e for e in logs if e["message"] == "chunk"]
    assert [e["n"] for e in chunks] == [0, 1, 2]
    assert {e["request_id"] for e in chunks} == {"s-1"}
    assert _one(logs, "background task ran")["request_id"] == "b-1"
    stream_access = [e for e in _access(logs) if e["path"] == "/stream"]
    assert stream_access[0]["response_bytes"] == 30


async def test_concurrent_requests_do_not_mix_contexts(logs: list[dict[str, Any]]) -> None:
    """Many requests in flight at once each log with their own request id."""
    async with serve(make_app()) as client:
        await asyncio.gather(
            *(client.get(f"/items/{i}", headers={"X-Request-ID": f"id-{i}"}) for i in range(40))
        )
    reads = [e for e in logs if e["message"] == "item read"]
    assert len(reads) == 40
    for event in reads:
        assert event["request_id"] == f"id-{event['item_id']}"


async def test_one_access_event_per_request(logs: list[dict[str, Any]]) -> None:
    """Each request gets one access event with method, path, status, duration in ms and
    response bytes, at info; health checks are skipped."""
    async with serve(make_app()) as client:
        response = await client.get("/items/5", headers={"X-Request-ID": "a-1"})
        await client.get("/health")
        await client.get("/health")
    (access,) = _access(logs)
    assert access["message"] == "request handled"
    assert access["level"] == "info"
    assert access["method"] == "GET"
    assert access["path"] == "/items/5"
    assert access["status"] == 200
    assert access["request_id"] == "a-1"
    assert isinstance(access["duration_ms"], float)
    assert access["duration_ms"] >= 0
    assert access["response_bytes"] == len(response.content)


async def test_server_errors_are_logged_at_error(logs: list[dict[str, Any]]) -> None:
    """A 5xx response's access event is at error; an endpoint that raises gets an error
    event with its exception, and the client a 500."""
    async with serve(make_app()) as client:
        unavailable = await client.get("/unavailable")
        boom = await client.get("/boom", headers={"X-Request-ID": "e-1"})
    assert unavailable.status_code == 503
    assert boom.status_code == 500
    by_path = {e["path"]: e for e in _access(logs)}
    assert by_path["/unavailable"]["level"] == "error"
    assert by_path["/unavailable"]["status"] == 503
    failed = by_path["/boom"]
    assert failed["level"] == "error"
    assert failed["status"] == 500
    assert failed["request_id"] == "e-1"
    assert failed["exception"]["type"] == "RuntimeError"


async def test_access_log_can_be_turned_off(logs: list[dict[str, Any]]) -> None:
    """access_log=False logs no access events; the request context is still bound."""
    async with serve(make_app(access_log=False)) as client:
        await client.get("/items/1", headers={"X-Request-ID": "q-1"})
    assert _access(logs) == []
    assert _one(logs, "item read")["request_id"] == "q-1"


async def test_request_logger_without_the_middleware_binds_the_request(
    logs: list[dict[str, Any]],
) -> None:
    """Without the middleware, RequestLogger's logger is bound to method and path."""
    app = FastAPI(lifespan=lifespan())

    @app.get("/plain")
    async def plain(log: Logger = Depends(RequestLogger)) -> None:
        log.info("plain")

    async with serve(app) as client:
        await client.get("/plain")
    event = _one(logs, "plain")
    assert (event["method"], event["path"]) == ("GET", "/plain")
    assert "request_id" not in event


async def test_lifespan_exposes_and_closes_the_container(logs: list[dict[str, Any]]) -> None:
    """lifespan() creates the container on startup as app.state.ferrolog and drains and
    closes it on shutdown: what was logged is all there afterwards."""
    app = make_app()
    async with app.router.lifespan_context(app):
        container = app.state.ferrolog
        assert isinstance(container, Container)
        assert not container.closed
        (await container.get(Logger)).info("during")
    assert container.closed
    assert not hasattr(app.state, "ferrolog")
    assert _one(logs, "during")["logger"] == "app"


async def test_explicit_logger_and_non_http_scopes() -> None:
    """logger= sends access events to that logger; lifespan and websocket scopes pass
    through untouched."""
    from ferrolog import Settings, build_pipeline
    from ferrolog.testing import MemorySink

    sink = MemorySink()
    pipeline = build_pipeline(Settings(), sinks=[sink])
    calls: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        calls.append(scope["type"])
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})

    middleware = RequestContextMiddleware(app, logger=pipeline.logger("edge"))
    try:
        await middleware({"type": "lifespan"}, _no_receive, _no_send)
        sent: list[Any] = []

        async def send(message: Any) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "DELETE", "path": "/x", "headers": []}
        await middleware(scope, _no_receive, send)
        assert pipeline.flush(5.0)
    finally:
        pipeline.close(5.0)
    assert calls == ["lifespan", "http"]
    assert (b"x-request-id", sent[0]["headers"][0][1]) == sent[0]["headers"][0]
    (event,) = sink.events
    assert (event["logger"], event["status"], event["method"]) == ("edge", 204, "DELETE")
    assert "client" not in event


@pytest.mark.parametrize("kind", ["dict", "mapping"])
async def test_the_app_gets_a_send_that_echoes_the_id_and_counts(kind: str) -> None:
    """With a dict scope (what servers pass) the app's send is the native builtin bound to
    the request's sender; with any other mapping it is the sender itself. Either way the
    access event has the status and body bytes, the id is echoed, the scope's state holds the
    request's fields, and an error the server's send raises reaches the app."""
    from collections import UserDict

    from ferrolog import Settings, build_pipeline
    from ferrolog.testing import MemorySink

    sink = MemorySink()
    pipeline = build_pipeline(Settings(), sinks=[sink])
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen["send"], seen["state"] = send, dict(scope["state"])
        await send({"type": "http.response.start", "status": 201, "headers": [(b"a", b"1")]})
        await send({"type": "http.response.body", "body": b"abc", "more_body": True})
        await send({"type": "http.response.body", "body": b"de"})
        with pytest.raises(OSError, match="peer went away"):
            await send({"type": "http.response.body", "body": b"fail"})

    sent: list[Any] = []

    async def send(message: Any) -> None:
        if message.get("body") == b"fail":
            raise OSError("peer went away")
        sent.append(message)

    middleware = RequestContextMiddleware(app, logger=pipeline.logger("edge"))
    items = {"type": "http", "method": "PUT", "path": "/p", "headers": [(b"x-request-id", b"r-1")]}
    scope: Any = dict(items) if kind == "dict" else UserDict(items)
    try:
        await middleware(scope, _no_receive, send)
        assert pipeline.flush(5.0)
    finally:
        pipeline.close(5.0)
    if kind == "dict":
        assert type(seen["send"]).__name__ == "builtin_function_or_method"
        assert type(seen["send"].__self__).__name__ == "ResponseSend"
    else:
        assert type(seen["send"]).__name__ == "ResponseSend"
    assert seen["state"]["ferrolog_request"]["request_id"] == "r-1"
    assert sent[0]["headers"] == [(b"a", b"1"), (b"x-request-id", b"r-1")]
    assert [m.get("body") for m in sent[1:]] == [b"abc", b"de"]
    (event,) = sink.events
    assert (event["status"], event["response_bytes"], event["request_id"]) == (201, 9, "r-1")


async def _no_receive() -> dict[str, Any]:
    return {"type": "http.disconnect"}


async def _no_send(message: Any) -> None:
    raise AssertionError("nothing is sent for a lifespan scope here")


@pytest.mark.parametrize("canonical", [False, True], ids=["classic", "canonical"])
async def test_access_events_carry_gcp_http_request(
    logs: list[dict[str, Any]], canonical: bool
) -> None:
    """Under the gcp schema the access event, classic or canonical, carries Cloud Logging's
    ``httpRequest`` (its documented ``HttpRequest`` names: requestMethod, requestUrl,
    status, responseSize, latency, protocol, remoteIp, userAgent)."""
    settings = {
        "schema": "gcp",
        "sinks": [{"type": "null"}],
        "request_events": {"enabled": canonical},
    }
    app = FastAPI(lifespan=lifespan(settings))
    app.add_middleware(RequestContextMiddleware)

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    async with serve(app) as client:
        response = await client.get("/items/5?secret=1", headers={"User-Agent": "probe/1"})
    (access,) = _access(logs)
    request = access["httpRequest"]
    assert request["requestMethod"] == "GET"
    assert request["requestUrl"] == "/items/5"
    assert request["status"] == 200
    assert request["responseSize"] == str(len(response.content))
    assert request["latency"].endswith("s")
    assert float(request["latency"][:-1]) >= 0
    assert request["protocol"].startswith("HTTP/")
    assert request["userAgent"] == "probe/1"
    assert "http_request" not in access
    assert access["severity"] == "INFO"


async def test_access_events_have_no_http_request_by_default(logs: list[dict[str, Any]]) -> None:
    async with serve(make_app()) as client:
        await client.get("/items/1")
    (access,) = _access(logs)
    assert "http_request" not in access
    assert "httpRequest" not in access
