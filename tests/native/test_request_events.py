"""Request scopes: one canonical event per scope with everything added from anywhere in it,
tail sampling decided at the end, and the fingers-crossed buffer of held debug events."""

from __future__ import annotations

import asyncio
import json
import random
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ferrolog
from ferrolog import Container, Pipeline, Settings, request_scope
from ferrolog.config import SettingsError


def _pipeline(tmp_path: Path, **request_events: Any) -> tuple[Pipeline, Path]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "out.log"
    p = Pipeline(sinks=[{"type": "file", "path": str(path)}], request_events=request_events)
    return p, path


def _events(p: Pipeline, path: Path) -> list[dict[str, Any]]:
    assert p.flush(10.0)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def _accounted(p: Pipeline) -> None:
    s = p.stats()
    assert s["emitted"] == s["written"] + s["dropped"]


def test_one_event_carries_fields_counters_timings_status_and_duration(tmp_path: Path) -> None:
    p, path = _pipeline(tmp_path)
    log = p.logger("app")
    with request_scope(log, route="/items/{id}", method="GET") as scope:
        assert ferrolog.add_to_request_event(user_id=7, plan="pro")
        assert ferrolog.request_counter("db_queries")
        assert ferrolog.request_counter("db_queries", 2)
        assert ferrolog.request_timing("db_ms", 1.5)
        assert ferrolog.request_timing("db_ms", 2)
        with ferrolog.request_timer("render_ms"):
            pass
        assert ferrolog.current_request_scope() is scope
        log.info("ordinary event")
    assert ferrolog.current_request_scope() is None
    events = _events(p, path)
    assert [e["message"] for e in events] == ["ordinary event", "request handled"]
    wide = events[1]
    assert wide["level"] == "info"
    assert wide["route"] == "/items/{id}"
    assert wide["method"] == "GET"
    assert wide["user_id"] == 7
    assert wide["plan"] == "pro"
    assert wide["db_queries"] == 3
    assert wide["db_ms"] == 3.5
    assert wide["render_ms"] >= 0
    assert wide["status"] == "ok"
    assert wide["duration_ms"] >= 0
    assert wide["sample_rate"] == 1
    assert "error_type" not in wide
    assert p.stats()["request_events"] == 1
    _accounted(p)
    p.close()


def test_outside_a_scope_adds_return_false_and_write_nothing(tmp_path: Path) -> None:
    p, path = _pipeline(tmp_path)
    assert ferrolog.add_to_request_event(x=1) is False
    assert ferrolog.request_counter("n") is False
    assert ferrolog.request_timing("t", 1.0) is False
    assert _events(p, path) == []
    p.close()


def test_an_escaping_exception_is_an_error_event_with_its_type(tmp_path: Path) -> None:
    p, path = _pipeline(tmp_path, keep_one_in=1000)
    log = p.logger("app")

    def handler() -> None:
        with request_scope(log):
            ferrolog.add_to_request_event(step="lookup")
            raise KeyError("missing")

    with pytest.raises(KeyError):
        handler()
    (wide,) = _events(p, path)
    assert wide["level"] == "error"
    assert wide["status"] == "error"
    assert wide["error_type"] == "KeyError"
    assert wide["exception"]["type"] == "KeyError"
    assert wide["step"] == "lookup"
    assert wide["sample_rate"] == 1, "errors are always kept"
    p.close()


async def test_cancellation_is_recorded_and_reraised(tmp_path: Path) -> None:
    p, path = _pipeline(tmp_path)
    log = p.logger("app")
    started = asyncio.Event()

    async def handler() -> None:
        async with request_scope(log):
            started.set()
            await asyncio.sleep(60)

    task = asyncio.create_task(handler())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (wide,) = _events(p, path)
    assert wide["status"] == "cancelled"
    assert wide["error_type"] == "CancelledError"
    assert "exception" not in wide, "a BaseException is named, not formatted"
    p.close()


async def test_adds_from_awaits_child_tasks_and_threads_land_in_the_same_event(
    tmp_path: Path,
) -> None:
    p, path = _pipeline(tmp_path)
    log = p.logger("app")

    def in_thread(i: int) -> None:
        ferrolog.add_to_request_event(**{f"thread_{i}": True})
        for _ in range(200):
            ferrolog.request_counter("thread_calls")

    async def child(i: int) -> None:
        await asyncio.sleep(0)
        ferrolog.add_to_request_event(**{f"task_{i}": i})
        ferrolog.request_counter("task_calls")

    async with request_scope(log):
        await asyncio.sleep(0)
        ferrolog.add_to_request_event(after_await=True)
        await asyncio.gather(*(asyncio.create_task(child(i)) for i in range(5)))
        await asyncio.gather(*(asyncio.to_thread(in_thread, i) for i in range(4)))
    (wide,) = _events(p, path)
    assert wide["after_await"] is True
    assert all(wide[f"task_{i}"] == i for i in range(5))
    assert all(wide[f"thread_{i}"] is True for i in range(4))
    assert wide["task_calls"] == 5
    assert wide["thread_calls"] == 800, "no increment lost across threads"
    p.close()


def test_counters_from_many_threads_add_up_exactly(tmp_path: Path) -> None:
    p, path = _pipeline(tmp_path)
    log = p.logger("app")
    with request_scope(log) as scope:

        def work() -> None:
            for _ in range(1000):
                scope.incr("n")
                scope.timing("ms", 0.5)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    (wide,) = _events(p, path)
    assert wide["n"] == 8000
    assert wide["ms"] == 4000.0
    p.close()


def test_adds_after_the_end_are_ignored_and_counted(tmp_path: Path) -> None:
    p, path = _pipeline(tmp_path)
    log = p.logger("app")
    with request_scope(log) as scope:
        pass
    assert scope.finished
    assert scope.add(late=True) is False
    assert scope.incr("late") is False
    assert scope.timing("late_ms", 1) is False
    assert scope.finish() is False, "a scope ends once"
    (wide,) = _events(p, path)
    assert "late" not in wide
    assert "late_ms" not in wide
    assert p.stats()["request_late_adds"] == 3
    p.close()


def test_nested_scopes_each_write_their_own_event(tmp_path: Path) -> None:
    p, path = _pipeline(tmp_path)
    log = p.logger("app")
    with request_scope(log, "outer", scope="outer"):
        ferrolog.add_to_request_event(a=1)
        with request_scope(log, "inner", scope="inner"):
            ferrolog.add_to_request_event(b=2)
        ferrolog.add_to_request_event(c=3)
    inner, outer = _events(p, path)
    assert inner["message"] == "inner"
    assert inner["b"] == 2
    assert "a" not in inner
    assert outer["message"] == "outer"
    assert outer["a"] == 1
    assert outer["c"] == 3
    assert "b" not in outer
    p.close()


def test_bad_counter_values_raise_a_clear_type_error(tmp_path: Path) -> None:
    p, _ = _pipeline(tmp_path)
    with request_scope(p.logger("app")):
        with pytest.raises(TypeError, match="finite int or float"):
            ferrolog.request_counter("n", "one")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="finite int or float"):
            ferrolog.request_timing("t", float("nan"))
    p.close()


async def test_hundreds_of_interleaved_requests_never_share_fields(tmp_path: Path) -> None:
    p, path = _pipeline(tmp_path)
    log = p.logger("app")
    rng = random.Random(2126)

    async def request(i: int) -> None:
        async with request_scope(log, rid=i):
            for step in range(rng.randrange(1, 6)):
                ferrolog.add_to_request_event(**{f"step_{step}": i})
                ferrolog.request_counter("steps")
                if rng.random() < 0.5:
                    await asyncio.sleep(0)
                if rng.random() < 0.2:
                    await asyncio.to_thread(ferrolog.add_to_request_event, thread_rid=i)
                if rng.random() < 0.2:
                    await asyncio.create_task(_child_add(i))

    await asyncio.gather(*(request(i) for i in range(400)))
    events = _events(p, path)
    assert len(events) == 400
    for e in events:
        rid = e["rid"]
        steps = [k for k in e if k.startswith("step_")]
        assert all(e[k] == rid for k in steps)
        assert e["steps"] == len(steps)
        assert e.get("thread_rid", rid) == rid
        assert e.get("child_rid", rid) == rid
    _accounted(p)
    p.close()


async def _child_add(i: int) -> None:
    await asyncio.sleep(0)
    ferrolog.add_to_request_event(child_rid=i)


# -- tail sampling -------------------------------------------------------------------------


def test_one_in_n_is_kept_with_its_rate_and_the_rest_counted(tmp_path: Path) -> None:
    p, path = _pipeline(tmp_path, keep_one_in=4, per_route={"/hot": 10})
    log = p.logger("app")
    for i in range(40):
        with request_scope(log, route="/cold", i=i):
            pass
        with request_scope(log, route="/hot", i=i):
            pass
    events = _events(p, path)
    cold = [e for e in events if e["route"] == "/cold"]
    hot = [e for e in events if e["route"] == "/hot"]
    assert [e["i"] for e in cold] == list(range(0, 40, 4))
    assert {e["sample_rate"] for e in cold} == {4}
    assert [e["i"] for e in hot] == list(range(0, 40, 10))
    assert {e["sample_rate"] for e in hot} == {10}
    # Re-weighted, the kept events count every request.
    assert sum(e["sample_rate"] for e in events) == 80
    stats = p.stats()
    assert stats["request_events_sampled_out"] == 80 - len(events)
    assert stats["request_events"] == len(events)
    _accounted(p)
    p.close()


def test_errors_server_errors_and_slow_requests_are_always_kept(tmp_path: Path) -> None:
    p, path = _pipeline(tmp_path, keep_one_in=1_000_000, slow_threshold=0.0)
    log = p.logger("app")
    with request_scope(log, i=1):
        pass
    p2, path2 = _pipeline(tmp_path / "b", keep_one_in=1_000_000)
    log2 = p2.logger("app")
    for i in range(5):
        with request_scope(log2, i=i) as scope:
            scope.add(status=503 if i == 3 else 200)

    def failing() -> None:
        with request_scope(log2, i=99):
            raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        failing()
    assert [e["i"] for e in _events(p, path)] == [1], "slow (>= 0 s): kept"
    kept = _events(p2, path2)
    assert [e["i"] for e in kept] == [0, 3, 99], "the first, the 503 and the error"
    assert kept[1]["level"] == "error"
    assert kept[1]["status"] == 503
    assert p2.stats()["request_events_sampled_out"] == 3
    p.close()
    p2.close()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"keep_one_in": 0}, "keep_one_in must be a whole number >= 1"),
        ({"per_route": {"/x": 0}}, r"per_route\[\"/x\"\]"),
        ({"slow_threshold": -1}, "slow_threshold"),
        ({"buffer": True, "buffer_level": "error", "trigger_level": "info"}, "trigger level"),
        ({"nope": 1}, "no option"),
    ],
)
def test_native_options_are_validated(
    tmp_path: Path, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Pipeline(sinks=[{"type": "null"}], request_events=options)


def test_settings_are_validated_with_their_paths() -> None:
    with pytest.raises(SettingsError, match=r"request_events\.keep_one_in"):
        Settings(request_events={"keep_one_in": 0})
    with pytest.raises(SettingsError, match=r"request_events\.buffer\.trigger"):
        Settings(request_events={"buffer": {"enabled": True, "level": "info", "trigger": "debug"}})
    with pytest.raises(SettingsError, match=r"request_events\.buffer\.level"):
        Settings(request_events={"buffer": {"level": "chatty"}})
    with pytest.raises(SettingsError, match="per_route"):
        Settings(request_events={"per_route": {"/x": 0}})
    custom = Settings(levels={"chatty": 7}, request_events={"buffer": {"level": "chatty"}})
    assert custom.request_events.buffer.level == "chatty"


# -- the fingers-crossed buffer ------------------------------------------------------------


def _buffered(tmp_path: Path, **more: Any) -> tuple[Pipeline, Path]:
    return _pipeline(tmp_path, buffer=True, **more)


def test_held_debug_events_are_discarded_when_nothing_fails(tmp_path: Path) -> None:
    p, path = _buffered(tmp_path)
    log = p.logger("app", "info")
    with request_scope(log):
        log.debug("detail", n=1)
        log.debug("detail", n=2)
        log.info("visible")
    log.debug("outside a scope: dropped by level as usual")
    assert [e["message"] for e in _events(p, path)] == ["visible", "request handled"]
    s = p.stats()
    assert s["buffered"] == 2
    assert s["buffer_discarded"] == 2
    assert s["buffer_flushed"] == 0
    assert s["buffer_bytes"] == 0
    _accounted(p)
    p.close()


def test_an_error_writes_what_was_held_before_it_then_lets_debug_through(
    tmp_path: Path,
) -> None:
    p, path = _buffered(tmp_path)
    log = p.logger("app", "info")
    with request_scope(log, rid="r1"):
        ferrolog.bind_contextvars(tenant="acme")
        log.debug("held", n=1)
        log.debug("held", n=2)
        log.error("it broke")
        log.debug("after the trigger", n=3)
        ferrolog.clear_contextvars()
    events = _events(p, path)
    assert [(e["message"], e.get("n")) for e in events] == [
        ("held", 1),
        ("held", 2),
        ("it broke", None),
        ("after the trigger", 3),
        ("request handled", None),
    ]
    assert events[0]["level"] == "debug"
    assert events[0]["tenant"] == "acme", "encoded when logged, with its context"
    s = p.stats()
    assert s["buffer_flushed"] == 2
    assert s["buffer_discarded"] == 0
    _accounted(p)
    p.close()


def test_an_exception_escaping_the_scope_writes_what_was_held(tmp_path: Path) -> None:
    p, path = _buffered(tmp_path)
    log = p.logger("app", "info")

    def handler() -> None:
        with request_scope(log):
            log.debug("query", sql="select 1")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        handler()
    events = _events(p, path)
    assert [e["message"] for e in events] == ["query", "request handled"]
    assert events[1]["error_type"] == "RuntimeError"
    p.close()


def test_each_scope_holds_its_own_events(tmp_path: Path) -> None:
    p, path = _buffered(tmp_path)
    log = p.logger("app", "info")

    async def request(i: int, fail: bool) -> None:
        async with request_scope(log, rid=i):
            log.debug("held", rid=i)
            await asyncio.sleep(0)
            if fail:
                log.error("failed", rid=i)

    async def main() -> None:
        await asyncio.gather(*(request(i, i % 3 == 0) for i in range(30)))

    asyncio.run(main())
    held = [e["rid"] for e in _events(p, path) if e["message"] == "held"]
    assert sorted(held) == list(range(0, 30, 3))
    p.close()


def test_a_scope_keeps_its_newest_events_and_notes_the_evicted(tmp_path: Path) -> None:
    p, path = _buffered(tmp_path, max_events=3)
    log = p.logger("app", "info")
    with request_scope(log):
        for n in range(10):
            log.debug("held", n=n)
        log.error("failed")
    events = _events(p, path)
    assert events[0]["message"] == "7 earlier buffered event(s) evicted"
    assert events[0]["evicted"] == 7
    assert events[0]["level"] == "warning"
    assert [e.get("n") for e in events[1:4]] == [7, 8, 9]
    s = p.stats()
    assert s["buffer_evicted"] == 7
    assert s["buffer_flushed"] == 3
    assert s["buffered"] == s["buffer_evicted"] + s["buffer_flushed"] + s["buffer_discarded"]
    p.close()


def test_the_byte_budget_is_shared_by_all_scopes(tmp_path: Path) -> None:
    p, path = _buffered(tmp_path, max_bytes=4096)
    log = p.logger("app", "info")
    big = "x" * 1000
    with request_scope(log) as first:
        for n in range(3):
            log.debug("first", n=n, pad=big)
        inner = request_scope(log)
        with inner:
            for n in range(3):
                log.debug("second", n=n, pad=big)
            assert p.stats()["buffer_bytes"] <= 4096
            log.error("second failed")
        assert not first.finished
    events = _events(p, path)
    s = p.stats()
    # The first scope took ~3.2 KiB of the 4 KiB: the second could hold none of its own.
    # The inner scope's canonical event is an error logged in the outer scope: it writes
    # what the outer one holds, before itself.
    assert [e["message"] for e in events] == [
        "3 earlier buffered event(s) evicted",
        "second failed",
        "first",
        "first",
        "first",
        "request handled",
        "request handled",
    ]
    assert s["buffer_evicted"] == 3
    assert s["buffer_flushed"] == 3
    assert s["buffer_bytes"] == 0, "every byte given back"
    assert s["buffered"] == s["buffer_evicted"] + s["buffer_flushed"] + s["buffer_discarded"]
    p.close()


def test_a_line_larger_than_the_budget_is_evicted_not_held(tmp_path: Path) -> None:
    p, _ = _buffered(tmp_path, max_bytes=4096)
    log = p.logger("app", "info")
    with request_scope(log):
        log.debug("huge", pad="x" * 8000)
        assert p.stats()["buffer_bytes"] == 0
    assert p.stats()["buffer_evicted"] == 1
    p.close()


def test_without_the_buffer_option_debug_is_dropped_by_level(tmp_path: Path) -> None:
    p, path = _pipeline(tmp_path)
    log = p.logger("app", "info")
    with request_scope(log):
        log.debug("dropped")
        log.error("failed")
    assert [e["message"] for e in _events(p, path)] == ["failed", "request handled"]
    assert p.stats()["buffered"] == 0
    p.close()


def test_a_scope_of_another_pipeline_does_not_hold_events(tmp_path: Path) -> None:
    p, _ = _buffered(tmp_path)
    other, _ = _buffered(tmp_path / "o")
    with request_scope(p.logger("app")):
        other.logger("x", "info").debug("not held: another pipeline")
    assert other.stats()["buffered"] == 0
    p.close()
    other.close()


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.sampled_from(["debug", "info", "error"])), max_size=40
    ),
    st.integers(1, 5),
)
def test_buffer_accounting_holds_for_any_schedule(
    tmp_path_factory: pytest.TempPathFactory, calls: list[tuple[int, str]], max_events: int
) -> None:
    """Interleaved scopes: every held event is flushed, evicted or discarded, each exactly
    once; every written debug event belongs to a scope that saw an error."""
    import contextvars

    tmp = tmp_path_factory.mktemp("acct")
    p, path = _buffered(tmp, max_events=max_events)
    log = p.logger("app", "info")
    managers = [request_scope(log, rid=i) for i in range(4)]
    contexts = []
    for m in managers:
        ctx = contextvars.copy_context()
        ctx.run(m.__enter__)
        contexts.append(ctx)
    failed: set[int] = set()
    for rid, level in calls:
        contexts[rid].run(log.log, level, "event", rid=rid)
        if level == "error":
            failed.add(rid)
    for m, ctx in zip(managers, contexts, strict=True):
        ctx.run(m.__exit__, None, None, None)
    events = _events(p, path)
    s = p.stats()
    assert s["buffered"] == s["buffer_evicted"] + s["buffer_flushed"] + s["buffer_discarded"]
    assert s["buffer_bytes"] == 0
    assert all(e["rid"] in failed for e in events if e["level"] == "debug")
    assert (
        sum(1 for _, lv in calls if lv == "debug")
        == s["buffered"]
        + sum(1 for e in events if e["level"] == "debug" and e["message"] == "event")
        - s["buffer_flushed"]
    )
    _accounted(p)
    p.close()


async def test_settings_reach_the_pipeline_through_a_container(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    settings = Settings(
        sinks=[{"type": "file", "path": str(path)}],
        request_events={"keep_one_in": 2, "buffer": {"enabled": True, "max_events": 2}},
    )
    async with Container.create(settings) as container:
        log = await container.get(ferrolog.Logger)
        for i in range(4):
            async with request_scope(log, i=i):
                log.debug("held")
        assert log.stats()["request_events_sampled_out"] == 2
        assert log.stats()["buffer_discarded"] == 4
        await log.flush()
    kept = [json.loads(line) for line in path.read_text().splitlines()]
    assert [e["i"] for e in kept] == [0, 2]


def test_an_error_logged_in_the_scope_keeps_its_event_at_error(tmp_path: Path) -> None:
    p, path = _pipeline(tmp_path, keep_one_in=1000)
    log = p.logger("app")
    for i in range(3):
        with request_scope(log, i=i):
            if i == 2:
                log.error("failed")
    events = [e for e in _events(p, path) if e["message"] == "request handled"]
    assert [e["i"] for e in events] == [0, 2]
    assert events[1]["level"] == "error"
    assert events[1]["sample_rate"] == 1
    assert events[1]["status"] == "error"
    assert "error_type" not in events[1], "nothing escaped"
    p.close()


def test_threads_holding_events_while_the_scope_ends_leave_nothing_held(
    tmp_path: Path,
) -> None:
    """Events held by threads racing the scope's end are discarded too: no budget leaks."""
    import contextvars

    p, _ = _buffered(tmp_path, max_events=50)
    log = p.logger("app", "info")
    manager = request_scope(log)
    ctx = contextvars.copy_context()
    ctx.run(manager.__enter__)
    go = threading.Event()

    def work() -> None:
        go.wait()
        for i in range(2000):
            ctx.copy().run(log.debug, "held", i=i)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    go.set()
    ctx.copy().run(manager.__exit__, None, None, None)
    for t in threads:
        t.join()
    s = p.stats()
    assert s["buffer_bytes"] == 0
    assert s["buffered"] == s["buffer_discarded"] + s["buffer_evicted"] + s["buffer_flushed"]
    p.close()
