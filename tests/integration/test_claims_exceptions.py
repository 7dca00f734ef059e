"""README claim: exceptions become a capped `exception` object with chained cause/context."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ferrolog import Container, Logger, Pipeline

MAX_EVENT_BYTES = 65536


class Events:
    def __init__(self, log: Logger, pipeline: Pipeline, path: Path) -> None:
        self.log, self.pipeline, self.path = log, pipeline, path

    def one(self) -> tuple[dict[str, Any], bytes]:
        """The single line written so far: parsed, and raw (without its newline)."""
        assert self.pipeline.flush(30.0)
        raw = self.path.read_bytes()
        assert raw.count(b"\n") == 1, raw[:200]
        assert raw.endswith(b"\n")
        assert self.log.stats()["dropped"] == 0
        return json.loads(raw.decode("utf-8", "strict")), raw[:-1]


@pytest.fixture
def events(tmp_path: Path) -> Iterator[Events]:
    path = tmp_path / "exc.log"
    config = {
        "sinks": [{"type": "file", "path": str(path)}],
        "ring": {"max_event_bytes": MAX_EVENT_BYTES},
    }
    with Container.create_sync(config) as container:
        yield Events(container.get_sync(Logger), container.get_sync(Pipeline), path)


def _chain_depth(exc: dict[str, Any]) -> int:
    depth = 0
    while "cause" in exc or "context" in exc:
        exc = exc.get("cause") or exc["context"]
        depth += 1
    return depth


def test_a_10000_deep_cause_chain_is_capped(events: Events) -> None:
    """An exception with a 10,000-deep `raise ... from` chain logs one line within the event
    cap, its structured chain cut short (the object stays readable, not 10,000 deep)."""
    exc: BaseException = ValueError("link 0")
    for i in range(1, 10_000):
        nxt = ValueError(f"link {i}")
        nxt.__cause__ = exc
        exc = nxt
    events.log.error("deep", exc_info=exc)
    event, raw = events.one()
    assert len(raw) <= MAX_EVENT_BYTES
    info = event["exception"]
    assert info["type"] == "ValueError"
    assert info["message"] == "link 9999"
    assert info["cause"]["message"] == "link 9998"
    assert 1 <= _chain_depth(info) <= 32


def test_a_huge_message_is_capped(events: Events) -> None:
    """A 1 MB exception message is cut: the line stays within the event cap."""
    events.log.error("huge", exc_info=RuntimeError("m" * 1_000_000))
    event, raw = events.one()
    assert len(raw) <= MAX_EVENT_BYTES
    message = event["exception"]["message"]
    assert message.startswith("mmm")
    assert 0 < len(message) < 1_000_000


def test_thousands_of_frames_are_capped(events: Events) -> None:
    """An exception raised 3,000 frames deep keeps only some frames and a capped traceback."""

    def recurse(n: int) -> None:
        if n == 0:
            raise KeyError("bottom")
        recurse(n - 1)

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 5000))
    try:
        recurse(3000)
    except KeyError:
        events.log.exception("deep stack")
    finally:
        sys.setrecursionlimit(limit)
    event, raw = events.one()
    assert len(raw) <= MAX_EVENT_BYTES
    info = event["exception"]
    assert info["type"] == "KeyError"
    assert 0 < len(info["frames"]) < 3000
    assert info["frames"][-1]["function"] == "recurse"
    assert info["traceback"].rstrip().endswith("KeyError: 'bottom'")


def test_implicit_chaining_is_context(events: Events) -> None:
    """An exception raised while handling another carries it as `context` (not `cause`)."""
    try:
        try:
            raise KeyError("first")
        except KeyError:
            raise ValueError("second")  # noqa: B904 - implicit chaining on purpose
    except ValueError:
        events.log.exception("implicit")
    info = events.one()[0]["exception"]
    assert (info["type"], info["message"]) == ("ValueError", "second")
    assert "cause" not in info
    assert (info["context"]["type"], info["context"]["message"]) == ("KeyError", "'first'")


def test_explicit_chaining_is_cause(events: Events) -> None:
    """`raise ... from err` shows err as `cause` (and not again as `context`)."""
    try:
        try:
            raise KeyError("first")
        except KeyError as err:
            raise ValueError("second") from err
    except ValueError:
        events.log.exception("explicit")
    info = events.one()[0]["exception"]
    assert (info["cause"]["type"], info["cause"]["message"]) == ("KeyError", "'first'")
    assert "context" not in info


def test_from_none_suppresses_the_chain(events: Events) -> None:
    """`raise ... from None` writes neither `cause` nor `context`, like the traceback."""
    try:
        try:
            raise KeyError("first")
        except KeyError:
            raise ValueError("second") from None
    except ValueError:
        events.log.exception("suppressed")
    info = events.one()[0]["exception"]
    assert "cause" not in info
    assert "context" not in info
    assert "KeyError" not in info["traceback"]
