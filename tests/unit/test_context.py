"""Request context: contextvars fields appear in every event of that context, never leak."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

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


_FIRST_BINDING = r"""
import json, sys, threading
from ferrolog import _native

path = sys.argv[1]
pipe = _native.Pipeline(sinks=[{"type": "file", "path": path}])
log = pipe.logger("app", "info")
log.info("before any context")  # no ContextFields exists yet: the call skips the lookup
# Set through the exported variable, not through bind_contextvars (as a library might).
token = _native.context_var.set(_native.ContextFields({"request_id": "r-1"}))
log.info("bound")
_native.context_var.reset(token)
log.info("reset")
# A context made in one thread, logged from another.
import contextvars
ctx = contextvars.copy_context()
ctx.run(_native.context_var.set, _native.ContextFields({"tenant": "acme"}))
t = threading.Thread(target=ctx.run, args=(log.info, "other thread"))
t.start(); t.join()
pipe.close(5.0)
"""


def test_the_first_context_of_a_process_is_seen(tmp_path: Path) -> None:
    """A process whose log calls ran before any context existed (they skip the context
    lookup) sees the first one, however it was set, from any thread."""
    out = tmp_path / "first.jsonl"
    done = subprocess.run(
        [sys.executable, "-c", _FIRST_BINDING, str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["message"] for line in lines] == [
        "before any context",
        "bound",
        "reset",
        "other thread",
    ]
    assert "request_id" not in lines[0]
    assert lines[1]["request_id"] == "r-1"
    assert "request_id" not in lines[2]
    assert lines[3]["tenant"] == "acme"
