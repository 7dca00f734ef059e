"""RequestContextMiddleware with request events: the access event is the request's canonical
event (fields added by the endpoint, route template, sampling), each request is a scope of
the fingers-crossed buffer, and ``request_events.enabled = false`` restores the classic
access event."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="needs fastapi (the dev extra: make build installs it)")
httpx = pytest.importorskip("httpx", reason="needs httpx (the dev extra: make build installs it)")

from fastapi import Depends, FastAPI  # noqa: E402

import ferrolog  # noqa: E402
from ferrolog import Logger  # noqa: E402
from ferrolog.fastapi import RequestContextMiddleware, RequestLogger, lifespan  # noqa: E402


def make_app(request_events: dict[str, Any]) -> FastAPI:
    settings = {"sinks": [{"type": "null"}], "request_events": {"enabled": True, **request_events}}
    app = FastAPI(lifespan=lifespan(settings))
    app.add_middleware(RequestContextMiddleware)

    @app.get("/items/{item_id}")
    async def item(item_id: int, log: Logger = Depends(RequestLogger)) -> dict[str, int]:
        ferrolog.add_to_request_event(item_id=item_id, cache="miss")
        log.debug("query", sql="select * from items where id = ?")
        await asyncio.to_thread(ferrolog.request_counter, "db_queries")
        with ferrolog.request_timer("db_ms"):
            await asyncio.sleep(0)
        if item_id == 13:
            log.error("unlucky item")
        return {"id": item_id}

    @app.get("/boom")
    async def boom(log: Logger = Depends(RequestLogger)) -> None:
        log.debug("about to fail")
        raise RuntimeError("endpoint failed")

    return app


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[Any]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


def _access(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in logs if e["logger"] == "app.access"]


async def test_the_access_event_is_the_canonical_event(logs: list[dict[str, Any]]) -> None:
    """One event per request with the request's context, what the endpoint added, the
    route template, status, duration and sample rate; debug events held and discarded."""
    async with serve(make_app({})) as client:
        response = await client.get("/items/7", headers={"X-Request-ID": "r-7"})
    assert response.status_code == 200
    (access,) = _access(logs)
    assert access["message"] == "request handled"
    assert access["request_id"] == "r-7"
    assert access["method"] == "GET"
    assert access["path"] == "/items/7"
    assert access["route"] == "/items/{item_id}"
    assert access["status"] == 200
    assert access["item_id"] == 7
    assert access["cache"] == "miss"
    assert access["db_queries"] == 1
    assert access["db_ms"] >= 0
    assert access["response_bytes"] == len(response.content)
    assert access["sample_rate"] == 1
    assert isinstance(access["duration_ms"], float)
    assert not [e for e in logs if e["message"] == "query"], "debug: not enabled, not held"


async def test_routes_are_sampled_and_errors_kept(logs: list[dict[str, Any]]) -> None:
    events = {"keep_one_in": 1000, "per_route": {"/items/{item_id}": 5}}
    async with serve(make_app(events)) as client:
        for i in range(10):
            await client.get(f"/items/{i}")
        await client.get("/items/13")
        failed = await client.get("/boom")
        await client.get("/boom")
    assert failed.status_code == 500
    access = _access(logs)
    items = [e for e in access if e["route"] == "/items/{item_id}"]
    assert [e["item_id"] for e in items] == [0, 5, 13]
    assert [e["sample_rate"] for e in items] == [5, 5, 1]
    assert items[2]["level"] == "error", "an error logged in the request keeps it"
    booms = [e for e in access if e["path"] == "/boom"]
    assert len(booms) == 2, "every failed request is kept"
    assert booms[0]["status"] == 500
    assert booms[0]["error_type"] == "RuntimeError"
    assert booms[0]["exception"]["type"] == "RuntimeError"


async def test_a_failing_request_writes_its_held_debug_events(
    logs: list[dict[str, Any]],
) -> None:
    events = {"buffer": {"enabled": True}}
    async with serve(make_app(events)) as client:
        await client.get("/items/1", headers={"X-Request-ID": "fine"})
        await client.get("/items/13", headers={"X-Request-ID": "unlucky"})
        await client.get("/boom", headers={"X-Request-ID": "boom"})
    held = [(e["message"], e["request_id"]) for e in logs if e["level"] == "debug"]
    assert held == [("query", "unlucky"), ("about to fail", "boom")]


async def test_disabled_request_events_log_the_classic_access_event(
    logs: list[dict[str, Any]],
) -> None:
    async with serve(make_app({"enabled": False})) as client:
        await client.get("/items/3")
    (access,) = _access(logs)
    assert access["status"] == 200
    assert "route" not in access
    assert "sample_rate" not in access
    assert "item_id" not in access, "no scope: the endpoint's adds went nowhere"
