"""Bad pipeline settings fail the constructor with an error naming the setting."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from ferrolog import Pipeline

NULL = [{"type": "null"}]


@pytest.mark.parametrize(
    ("options", "error", "names"),
    [
        ({"sinks": []}, ValueError, "sinks is empty"),
        ({"sinks": "stdout"}, TypeError, "sinks must be a list"),
        ({"sinks": {"type": "null"}}, TypeError, "sinks must be a list"),
        ({"capacity_bytes": 2**62}, ValueError, "capacity_bytes"),
        ({"capacity_bytes": 2**40}, ValueError, "capacity_bytes"),
        ({"capacity_bytes": 2**64}, ValueError, "capacity_bytes"),
        ({"capacity_bytes": -1}, ValueError, "capacity_bytes"),
        ({"capacity_bytes": 100}, ValueError, "capacity_bytes"),
        ({"capacity_bytes": "4096"}, TypeError, "capacity_bytes"),
        ({"batch_bytes": 0}, ValueError, "batch_bytes"),
        ({"batch_bytes": -5}, ValueError, "batch_bytes"),
        ({"max_event_bytes": 10}, ValueError, "max_event_bytes"),
        ({"max_event_bytes": -1}, ValueError, "max_event_bytes"),
        ({"max_event_bytes": 1 << 20, "capacity_bytes": 4096}, ValueError, "max_event_bytes"),
        ({"block_timeout": -1.0}, ValueError, "block_timeout"),
        ({"block_timeout": float("nan")}, ValueError, "block_timeout"),
        ({"linger": 2.0}, ValueError, "linger"),
        ({"overflow": "wait"}, ValueError, "overflow"),
        ({"schema": "xml"}, ValueError, "schema"),
        ({"levels": {25: "notice\ud800"}}, ValueError, r"levels\[25\].*lone surrogates"),
        ({"levels": {25: 3}}, TypeError, r"levels\[25\]"),
        ({"sinks": [{"type": "null\ud800"}]}, ValueError, r"sinks\[0\]\.type.*surrogates"),
        (
            {"sinks": [{"type": "file", "path": "x", "rotate_every": "daily\ud800"}]},
            ValueError,
            r"sinks\[0\]\.rotate_every.*surrogates",
        ),
    ],
)
def test_bad_settings_raise_naming_the_setting(
    options: dict[str, Any], error: type[Exception], names: str
) -> None:
    """Each bad value is refused by `Pipeline(...)` with an error that names the setting."""
    kwargs: dict[str, Any] = {"sinks": NULL, **options}
    with pytest.raises(error, match=names):
        Pipeline(**kwargs)


def test_sinks_may_be_any_sequence() -> None:
    """A tuple of sinks is as good as a list."""
    p = Pipeline(sinks=({"type": "null"},))
    p.logger("t").info("ok")
    assert p.flush(10)
    assert p.stats()["written"] == 1
    p.close(5)


class _Lines:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.calls: list[str] = []

    def write_batch(self, batch: memoryview) -> None:
        self.events.extend(json.loads(line) for line in bytes(batch).splitlines())

    def stop(self) -> None:
        self.calls.append("stop")


class _WontStart(_Lines):
    def start(self) -> None:
        raise OSError("no such host")


def test_a_python_sink_that_fails_to_start_does_not_stop_the_others() -> None:
    """Only the sink whose start() failed misses batches; the others get every event, and each
    batch, missing from one sink, is counted dropped with an error (never silently written).
    """
    good, bad = _Lines(), _WontStart()
    p = Pipeline(sinks=[good, bad])
    log = p.logger("s")
    for i in range(100):
        log.info("e", i=i)
    assert p.flush(10)
    assert [ev["i"] for ev in good.events] == list(range(100))
    assert bad.events == []
    stats = p.stats()
    assert stats["emitted"] == 100 == stats["written"] + stats["dropped"]
    assert stats["dropped"] == 100
    assert stats["errors"] >= 1
    assert p.close(10)
    assert good.calls == ["stop"]
    assert bad.calls == []


@pytest.mark.parametrize(
    ("levels", "message"),
    [
        ({20: "loud"}, 'the number 20 is already the level "info"'),
        ({21: "info"}, 'the name "info" is already taken'),
        ({21: "WARN"}, 'the name "WARN" is already taken'),
        ({25: "notice", 26: "NOTICE"}, 'the name "NOTICE" is already taken'),
        ({25: "notice"}, None),
    ],
)
def test_custom_levels_never_rename_or_shadow_another(
    levels: dict[int, str], message: str | None
) -> None:
    """A custom level that would rename a standard level, or reuse a standard name or alias,
    is refused naming the clash; an unused number is accepted."""
    if message is None:
        p = Pipeline(sinks=[{"type": "null"}], levels=levels)
        try:
            assert p.level_names()[25] == "notice"
            assert p.level_names()[20] == "info"
        finally:
            p.close(5.0)
        return
    with pytest.raises(ValueError, match=re.escape(message)):
        Pipeline(sinks=[{"type": "null"}], levels=levels)
