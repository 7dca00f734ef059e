"""Container.on_close: callbacks closed with the components, in reverse order."""

from __future__ import annotations

from typing import Any

import pytest

from ferrolog import Container, ContainerClosedError, ContainerCloseError, Logger


async def test_callbacks_run_on_close_before_the_pipeline(logs: list[dict[str, Any]]) -> None:
    """A callback registered after the logger runs before the pipeline is drained, so what it
    logs is written; sync and async callbacks run in reverse registration order."""
    order: list[str] = []
    container = await Container.create()
    log = await container.get(Logger)

    async def async_hook() -> None:
        order.append("async")
        log.info("logged while closing")

    container.on_close(lambda: order.append("sync"))
    container.on_close(async_hook)
    await container.aclose()
    assert order == ["async", "sync"]
    assert [e["message"] for e in logs] == ["logged while closing"]


async def test_failing_callback_is_reported_and_others_still_run() -> None:
    """A callback that raises is reported by aclose() under its name; the rest still run."""
    ran: list[str] = []

    def broken() -> None:
        raise RuntimeError("hook failed")

    container = await Container.create({"sinks": [{"type": "null"}]})
    container.on_close(lambda: ran.append("first"))
    container.on_close(broken, name="broken hook")
    with pytest.raises(ContainerCloseError, match="broken hook"):
        await container.aclose()
    assert ran == ["first"]


async def test_on_close_after_close_is_an_error() -> None:
    """A closed container takes no more callbacks."""
    container = await Container.create({"sinks": [{"type": "null"}]})
    await container.aclose()
    with pytest.raises(ContainerClosedError):
        container.on_close(lambda: None)
    with pytest.raises(TypeError):
        Container.on_close(container, "not callable")  # type: ignore[arg-type]
