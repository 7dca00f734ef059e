"""Property: whatever is logged through the public path, one valid, capped JSON line is written.

One container for the whole module (a file sink, a ring large enough never to drop); each
example logs one call through `Logger` methods, with bound fields (`bind`) and request
context (`bound_contextvars`), then flushes and reads back exactly the bytes it added.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hostile import RESERVED, big_text, field_names, fields, loads_exact, small_fields, text, values
from hypothesis import given, settings
from hypothesis import strategies as st

from ferrolog import Container, Logger, Pipeline, SyncContainer, bound_contextvars

MAX_EVENT_BYTES = 65536
NEWLINE = b"\n"
LEVELS = ("trace", "debug", "info", "warning", "error", "critical")


class Capture:
    """The module's container, and the file position up to which lines were already read."""

    def __init__(self, container: SyncContainer, path: Path) -> None:
        self.container = container
        self.path = path
        self.log = container.get_sync(Logger)
        self.pipeline = container.get_sync(Pipeline)
        self.offset = 0

    def new_bytes(self) -> bytes:
        """Flush, then return every byte the sink appended since the last call."""
        assert self.pipeline.flush(30.0)
        with self.path.open("rb") as f:
            f.seek(self.offset)
            data = f.read()
        self.offset += len(data)
        return data


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Capture]:
    path = tmp_path_factory.mktemp("hostile") / "hostile.log"
    settings_ = {
        "level": "trace",
        "sinks": [{"type": "file", "path": str(path)}],
        "ring": {"capacity_bytes": 1 << 24, "max_event_bytes": MAX_EVENT_BYTES},
    }
    with Container.create_sync(settings_) as container:
        yield Capture(container, path)


def _parse(data: bytes) -> dict[str, Any]:
    """Parse one line strictly: UTF-8 without replacement, then JSON."""
    event = loads_exact(data.decode("utf-8", errors="strict"))
    assert isinstance(event, dict)
    return event


def _top_level_keys(data: bytes) -> list[str]:
    """The top-level member names of a line, duplicates kept, in order."""
    keys: list[str] = []

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys[:] = [k for k, _ in pairs]  # the outermost object is completed last
        return dict(pairs)

    loads_exact(data.decode("utf-8", errors="strict"), object_pairs_hook=hook)
    return keys


def _expected_text(value: str) -> str:
    """`value` as it must come back: each lone surrogate replaced by one U+FFFD."""
    return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in value)


def _names(*sources: dict[str, Any]) -> set[str]:
    return {k for source in sources for k in source}


class BadException(Exception):
    def __str__(self) -> str:
        raise RuntimeError("BadException.__str__")


def _exc(kind: str, message: str) -> BaseException:
    if kind == "bad-str":
        return BadException()
    if kind == "huge":
        return ValueError(message * 20_000)
    try:
        try:
            raise KeyError(message)
        except KeyError as inner:
            raise RuntimeError(message) from inner
    except RuntimeError as outer:
        return outer


exc_infos = st.none() | st.builds(
    _exc, st.sampled_from(["bad-str", "huge", "chained"]), text.filter(bool)
)


def _log(log: Logger, method: str, message: object, call: dict[str, Any], exc: Any) -> None:
    """Call `method` (a level, `log`, or their awaited `a*` twins) like an application."""
    extra = {} if exc is None else {"exc_info": exc}
    if method in ("log", "alog"):
        result = getattr(log, method)("warning", message, **call, **extra)
    else:
        result = getattr(log, method)(message, **call, **extra)
    if method.startswith("a"):

        async def wait() -> None:
            await result

        asyncio.run(wait())


@settings(max_examples=400)
@given(
    method=st.sampled_from(LEVELS) | st.sampled_from(["log", "ainfo", "aerror", "alog"]),
    message=text | big_text | values,
    call=fields,
    bound=small_fields,
    context=small_fields,
    exc=exc_infos,
)
def test_any_logged_value_gives_one_valid_capped_line(
    capture: Capture,
    method: str,
    message: object,
    call: dict[str, Any],
    bound: dict[str, Any],
    context: dict[str, Any],
    exc: BaseException | None,
) -> None:
    """A log call with hostile message, fields, bound fields and context never raises and
    writes exactly one strictly valid UTF-8 JSON line within max_event_bytes, keeping the
    envelope and each reserved-name field (as `field.<name>`), with emitted == written."""
    capture.new_bytes()  # what an earlier, failed example may have left
    before = capture.log.stats()
    with bound_contextvars(**context):
        _log(capture.log.bind(**bound), method, message, call, exc)
    data = capture.new_bytes()

    assert data.count(b"\n") == 1, f"{data.count(NEWLINE)} lines for one call"
    assert data.endswith(b"\n")
    assert len(data) - 1 <= MAX_EVENT_BYTES, f"line of {len(data) - 1} bytes"
    event = _parse(data)

    level = "warning" if method in ("log", "alog") else method.removeprefix("a")
    assert event["level"] == level
    assert event["logger"] == capture.log.name
    if isinstance(message, str) and len(message) < 1000:
        assert event["message"] == _expected_text(message)
    else:
        assert isinstance(event["message"], str)
    truncated = event.get("_truncated") is True
    if not truncated:
        for name in _names(call, bound, context) & set(RESERVED):
            assert f"field.{name}" in event, name
        if exc is not None:
            assert isinstance(event["exception"]["type"], str)
    if exc is None:
        assert "exception" not in event
    after = capture.log.stats()
    assert after["emitted"] == before["emitted"] + 1
    assert after["emitted"] == after["written"] + after["dropped"]
    assert after["dropped"] == 0
    assert after["errors"] == before["errors"]


@settings(max_examples=150)
@given(
    call=st.dictionaries(
        field_names
        | st.sampled_from(
            ["stack", "_truncated", "field.message", "field.level", "\ud800", "\ufffd"]
        ),
        values | big_text,
        max_size=4,
    ),
    bound=st.dictionaries(st.sampled_from(["message", "field.message", "stack", "\udfff"]), values),
    stack_info=st.booleans(),
)
def test_every_top_level_key_appears_once(
    capture: Capture,
    call: dict[str, Any],
    bound: dict[str, Any],
    stack_info: bool,
) -> None:
    """No two members of an event share a name, whatever the fields are called (a duplicate
    key loses one of the values in every JSON parser)."""
    capture.new_bytes()
    capture.log.bind(**bound).info("m", **call, stack_info=stack_info)
    keys = _top_level_keys(capture.new_bytes())
    assert len(keys) == len(set(keys)), f"duplicate top-level keys: {keys}"
