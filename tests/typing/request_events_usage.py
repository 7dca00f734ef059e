"""Real usage of request scopes that `mypy --strict` must accept (never run by pytest)."""

from __future__ import annotations

import asyncio

from typing_extensions import assert_type

import ferrolog
from ferrolog import Container, Logger, RequestScope, Settings
from ferrolog.config import RequestBufferSettings, RequestEventSettings


async def handler(container: Container) -> None:
    log = await container.get(Logger)
    async with ferrolog.request_scope(log, "job done", route="jobs.sync", user_id=7) as scope:
        assert_type(scope, RequestScope)
        assert_type(ferrolog.add_to_request_event(plan="pro"), bool)
        assert_type(ferrolog.request_counter("db_queries"), bool)
        assert_type(ferrolog.request_counter("bytes", 1.5), bool)
        assert_type(ferrolog.request_timing("db_ms", 2), bool)
        with ferrolog.request_timer("render_ms"):
            await asyncio.sleep(0)
        fields: dict[str, object] = scope.fields()
        assert "plan" in fields
        assert_type(scope.elapsed_ms, float)
        assert_type(ferrolog.current_request_scope(), RequestScope | None)
    assert_type(scope.finished, bool)
    with ferrolog.request_scope(log) as sync_scope:
        assert_type(sync_scope.add(x=1), bool)


def settings() -> Settings:
    events = RequestEventSettings(
        keep_one_in=10,
        slow_threshold=0.5,
        per_route={"/health": 100},
        buffer=RequestBufferSettings(enabled=True, level="debug", trigger="error"),
    )
    return Settings(request_events=events)
