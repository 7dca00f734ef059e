"""Reference cycles through the native objects are freed by the garbage collector.

A logger or a context holds the values bound into it, and a value may hold them back: an
object that binds itself into its own logger (``self.log = log.bind(worker=self)``), a value
holding the binding or the request scope it was bound in. Without the collector seeing those
edges such a cycle lives until the process exits, whatever it holds with it."""

from __future__ import annotations

import contextvars
import gc
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import ferrolog
from ferrolog import _native


class Tracked:
    """A value whose freeing is noted in `freed`; `link` holds what it is bound into."""

    def __init__(self, freed: list[str], name: str) -> None:
        self.freed = freed
        self.name = name
        self.link: Any = None

    def __repr__(self) -> str:
        return f"Tracked({self.name})"

    def __del__(self) -> None:
        self.freed.append(self.name)


@pytest.fixture
def pipe() -> Iterator[_native.Pipeline]:
    p = _native.Pipeline(sinks=[{"type": "null"}], capacity_bytes=1 << 20)
    yield p
    p.close(5.0)


def _cycle_is_freed(make: Callable[[Tracked], Any]) -> bool:
    """Make a value, bind it into something with `make`, let the value hold that thing, drop
    both, and collect."""
    freed: list[str] = []
    value = Tracked(freed, "v")
    value.link = make(value)
    del value
    gc.collect()
    return freed == ["v"]


def test_an_object_bound_into_its_own_logger(pipe: _native.Pipeline) -> None:
    root = pipe.logger("app", "info")

    def make(value: Tracked) -> Any:
        log = root.bind(worker=value)
        log.info("made")
        return log

    assert _cycle_is_freed(make)
    assert _cycle_is_freed(lambda v: root.child("sub").bind(worker=v).new(other=v))


def test_a_value_holding_the_context_it_was_bound_in() -> None:
    assert _cycle_is_freed(lambda v: _native.ContextFields({"v": v}))

    def entered(value: Tracked) -> Any:
        # A binding entered and never left, in a context that is then dropped (a task
        # abandoned mid-request): the value is reachable only through the binding's token,
        # which holds the context's previous fields.
        ctx = contextvars.copy_context()
        ctx.run(ferrolog.bind_contextvars, v=value)
        cm = ferrolog.bound_contextvars(other=1)
        ctx.run(cm.__enter__)
        return cm

    assert _cycle_is_freed(lambda v: ferrolog.bound_contextvars(v=v))
    assert _cycle_is_freed(entered)


def test_a_context_re_encoded_for_a_pipeline_with_other_redaction_rules() -> None:
    """A pipeline with its own redaction rules encodes the context again, into a copy held by
    the context's fields: that copy's values are seen too."""
    p = _native.Pipeline(sinks=[{"type": "null"}], redaction={"fields": ["secret"]})
    try:
        log = p.logger("app", "info")

        def make(value: Tracked) -> Any:
            fields = _native.ContextFields({"v": value})
            token = _native.context_var.set(fields)
            try:
                log.info("with the context")
            finally:
                _native.context_var.reset(token)
            return fields

        assert _cycle_is_freed(make)
    finally:
        p.close(5.0)


def test_a_value_holding_its_request_scope(pipe: _native.Pipeline) -> None:
    log = pipe.logger("app", "info")

    def scoped(value: Tracked) -> Any:
        with ferrolog.request_scope(log, holder=value) as scope:
            scope.add(other=value)
        return scope

    assert _cycle_is_freed(lambda v: _native.RequestScope(log, "request", holder=v))
    assert _cycle_is_freed(scoped)
    # Through the scope's logger alone.
    assert _cycle_is_freed(lambda v: _native.RequestScope(log.bind(v=v), "request"))


def test_live_objects_are_not_collected(pipe: _native.Pipeline) -> None:
    """The other side: what is still referenced from outside a cycle survives collections, and
    logging through it still works."""
    freed: list[str] = []
    value = Tracked(freed, "kept")
    log = pipe.logger("app", "info").bind(worker=value)
    value.link = log
    cm = ferrolog.bound_contextvars(v=value)
    with cm:
        gc.collect()
        log.info("still here")
    gc.collect()
    assert freed == []
    assert log.bound["worker"] is value
    assert pipe.flush(5.0)
    stats = log.stats()
    assert stats["emitted"] == stats["written"] == 1
    del value, log, cm
    gc.collect()
    assert freed == ["kept"]


def test_what_many_objects_share_is_not_counted_as_theirs() -> None:
    """Values held by the pipeline's shared state (static fields, a processor) are reached
    from every logger of that pipeline, but owned by none of them: however many loggers,
    bindings and scopes there are, a collection must not take those values for garbage."""
    freed: list[str] = []
    static = Tracked(freed, "static")

    class Processor:
        def __init__(self, held: Tracked) -> None:
            self.held = held

        def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
            event["seen_by"] = repr(self.held)
            return event

    p = _native.Pipeline(
        sinks=[{"type": "null"}],
        static_fields={"holder": static},
        processors=Processor(Tracked(freed, "processor")),
    )
    try:
        root = p.logger("app", "info")
        loggers = [root.child(f"c{i}").bind(i=i) for i in range(50)]
        scopes = [_native.RequestScope(log, "request") for log in loggers[:10]]
        bindings = [ferrolog.bound_contextvars(i=i) for i in range(10)]
        del static
        for _ in range(3):
            gc.collect()
        assert freed == []
        for log in loggers:
            log.info("after the collections")
        assert p.flush(5.0)
        stats = root.stats()
        assert stats["emitted"] == stats["written"] == 50
        del loggers, scopes, bindings
    finally:
        p.close(5.0)
