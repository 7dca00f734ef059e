"""Request context: contextvars fields appear in every event of that context, never leak."""

from __future__ import annotations

import asyncio
import json

from conftest import FileLog
from ferrolog import (
    bind_contextvars,
    bound_contextvars,
    clear_contextvars,
    get_contextvars,
    unbind_contextvars,
)


def test_bind_unbind_clear(file_log: FileLog) -> None:
    """Bound context fields are added to events until unbound or cleared."""
    clear_contextvars()
    bind_contextvars(request_id="r-1", user=7)
    file_log.logger.info("a")
    unbind_contextvars("user")
    file_log.logger.info("b")
    clear_contextvars()
    file_log.logger.info("c")
    a, b, c = file_log.lines()
    assert (a["request_id"], a["user"]) == ("r-1", 7)
    assert b["request_id"] == "r-1"
    assert "user" not in b
    assert "request_id" not in c
    assert get_contextvars() == {}


def test_bound_contextvars_restores(file_log: FileLog) -> None:
    """The context manager binds for its block and restores the outer context after."""
    clear_contextvars()
    bind_contextvars(outer=1)
    with bound_contextvars(inner=2, outer=3):
        file_log.logger.info("in")
    file_log.logger.info("out")
    clear_contextvars()
    inside, outside = file_log.lines()
    assert (inside["inner"], inside["outer"]) == (2, 3)
    assert outside["outer"] == 1
    assert "inner" not in outside


def test_priority_call_over_bound_over_context(file_log: FileLog) -> None:
    """On a name clash the call's field wins over the bound one, which wins over context."""
    clear_contextvars()
    bind_contextvars(k="ctx", only_ctx=1)
    file_log.logger.bind(k="bound").info("m1")
    file_log.logger.bind(k="bound").info("m2", k="call")
    clear_contextvars()
    raw = file_log.path.read_text() if file_log.pipeline.flush(5) else ""
    first, second = (json.loads(line) for line in raw.splitlines())
    assert first["k"] == "bound"
    assert first["only_ctx"] == 1
    assert second["k"] == "call"
    assert all(line.count('"k"') == 1 for line in raw.splitlines())


async def test_concurrent_tasks_never_see_each_others_context(file_log: FileLog) -> None:
    """200 concurrent tasks each see only their own request id, also via to_thread."""

    async def handle(n: int) -> None:
        bind_contextvars(request_id=n)
        for step in range(3):
            file_log.logger.info("step", n=n, step=step)
            await asyncio.sleep(0)
        await asyncio.to_thread(file_log.logger.info, "in thread", n=n)

    await asyncio.gather(*(handle(n) for n in range(200)))
    lines = file_log.lines()
    assert len(lines) == 800
    assert all(ev["request_id"] == ev["n"] for ev in lines)


def test_reserved_names_in_context_are_kept(file_log: FileLog) -> None:
    """A context field named like an envelope key is written under `field.`."""
    clear_contextvars()
    with bound_contextvars(message="ctx"):
        file_log.logger.info("real")
    ev = file_log.one()
    assert ev["message"] == "real"
    assert ev["field.message"] == "ctx"


def test_nested_bound_contextvars_restore_on_exception(file_log: FileLog) -> None:
    """Nested blocks add to the outer context; an exception still restores each level."""
    import pytest

    clear_contextvars()

    def fail_inside() -> None:
        with bound_contextvars(b=2, a=3):
            file_log.logger.info("inner")
            raise RuntimeError("boom")

    with bound_contextvars(a=1):
        with pytest.raises(RuntimeError):
            fail_inside()
        file_log.logger.info("outer")
    file_log.logger.info("none")
    inner, outer, none = file_log.lines()
    assert (inner["a"], inner["b"]) == (3, 2)
    assert outer["a"] == 1
    assert "b" not in outer
    assert "a" not in none
    assert get_contextvars() == {}


def test_context_field_names_must_be_strings() -> None:
    """Binding a non-str field name is a TypeError naming the type."""
    import pytest

    with pytest.raises(TypeError, match="must be str"):
        bind_contextvars(**{1: "x"})  # type: ignore[misc]
