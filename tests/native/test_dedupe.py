"""Fewer copies of the same event: `*_once` calls (once per call site and message, per
process) and the filter of repeated events (identical consecutive events collapsed into one
plus a "repeated N times" summary, which a flush and the close never lose)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import FileLog
from ferrolog import Container, Logger
from ferrolog._native import Pipeline
from ferrolog.config import Settings
from ferrolog.errors import SettingsError


def _events(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def _log(path: Path, **options: Any) -> tuple[Pipeline, Logger]:
    p = Pipeline(sinks=[{"type": "file", "path": str(path)}], **options)
    return p, p.logger("app", "trace")


def test_once_per_call_site_and_message(file_log: FileLog) -> None:
    """Once per calling function and message text, whatever the other fields."""
    log = file_log.logger
    for i in range(5):
        log.info_once("loop", i=i)  # one call site: logged the first time only

    def elsewhere() -> None:
        log.info_once("loop", i=99)  # another function: another call site

    elsewhere()
    elsewhere()
    log.info_once("loop", i=100)  # the same function and message: already logged
    for name in ("a", "b", "a"):
        log.warning_once(f"config {name} missing")  # same site, two messages
    for level in ("debug", "error", "debug"):
        log.log_once(level, "by level")
    log.debug_once("d")
    log.error_once("e")
    log.critical_once("c")
    log.trace_once("t")
    events = file_log.lines()
    assert [(e["message"], e.get("i")) for e in events[:2]] == [("loop", 0), ("loop", 99)]
    assert [e["message"] for e in events[2:]] == [
        "config a missing",
        "config b missing",
        "by level",
        "d",
        "e",
        "c",
        "t",
    ]
    assert [e["level"] for e in events[4:]] == ["debug", "debug", "error", "critical", "trace"]
    stats = file_log.stats()
    assert stats["once_suppressed"] == 4 + 1 + 1 + 1 + 2
    assert stats["emitted"] == stats["written"] == len(events)


def test_once_below_the_level_is_not_spent(file_log: FileLog) -> None:
    """A `*_once` call the level gate stops does not count as its one time."""
    log = file_log.logger.with_level("info")
    for level in ("debug", "info", "info"):
        log.log_once(level, "gated")
    assert [e["level"] for e in file_log.lines()] == ["info"]


async def test_async_once_variants(file_log: FileLog) -> None:
    log = file_log.logger
    for _ in range(3):
        await log.ainfo_once("a")
        await log.adebug_once("b")
        await log.awarning_once("c")
        await log.aerror_once("d")
        await log.acritical_once("e")
        await log.atrace_once("f")
        await log.alog_once("info", "g")
    assert [e["message"] for e in file_log.lines()] == list("abcdefg")


def test_once_window_setting(tmp_path: Path) -> None:
    """A window makes "once" once per window: within it, later calls are still left out."""
    path = tmp_path / "w.log"
    p, log = _log(path, once_window=3600.0)
    for _ in range(3):
        log.info_once("hourly")
    p.close()
    assert [e["message"] for e in _events(path)] == ["hourly"]
    with pytest.raises(ValueError, match="once_window"):
        Pipeline(sinks=[{"type": "null"}], once_window=0.0)
    with pytest.raises(SettingsError, match="once_window"):
        Settings(dedupe={"once_window": -1})


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_once_is_per_process(tmp_path: Path) -> None:
    """A forked child logs its `*_once` events once more: once per process."""
    path = tmp_path / "f.log"
    p, log = _log(path)

    def say() -> None:
        log.info_once("hello")

    say()
    say()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 0
        try:
            say()
            say()
            p.close()
        except BaseException:
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    p.close()
    assert [e["message"] for e in _events(path)] == ["hello", "hello"]


def test_repeats_collapse_into_a_summary(tmp_path: Path) -> None:
    path = tmp_path / "d.log"
    p, log = _log(path, dedupe_window=3600.0)
    db = p.logger("app.db", "trace")
    for _ in range(4):
        log.info("same", k=1)
    log.info("same", k=2)  # other fields: another event
    db.info("same", k=2)  # another logger: another event
    log.warning("same", k=2)  # another level: another event
    log.warning("same", k=2)
    log.warning("same", k=2)
    assert p.flush(10.0)
    log.warning("same", k=2)  # after the flush: a new run
    log.warning("same", k=2)
    p.close()
    got = [
        (e["logger"], e["level"], e["message"], e.get("k"), e.get("repeated"))
        for e in _events(path)
    ]
    assert got == [
        ("app", "info", "same", 1, None),
        ("app", "info", "last event repeated 3 more time(s)", None, 3),
        ("app", "info", "same", 2, None),
        ("app.db", "info", "same", 2, None),
        ("app", "warning", "same", 2, None),
        ("app", "warning", "last event repeated 2 more time(s)", None, 2),
        ("app", "warning", "same", 2, None),
        ("app", "warning", "last event repeated 1 more time(s)", None, 1),
    ]
    assert _events(path)[1]["repeated_message"] == "same"
    stats = p.stats()
    assert stats["deduplicated"] == 6
    assert stats["emitted"] == stats["written"] + stats["dropped"] == 8


async def test_the_async_flush_and_the_container_close_say_the_summary(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    settings = {"sinks": [{"type": "file", "path": str(path)}], "dedupe": {"enabled": True}}
    async with Container.create(settings) as container:
        log = await container.get(Logger)
        for _ in range(3):
            await log.ainfo("tick")
        assert await log.flush(10.0)
        assert [e.get("repeated") for e in _events(path)] == [None, 2]
        for _ in range(3):
            log.info("tock")
    assert [e.get("repeated") for e in _events(path)] == [None, 2, None, 2]


def test_the_summary_is_not_hidden_by_a_level_changed_since(tmp_path: Path) -> None:
    path = tmp_path / "l.log"
    p = Pipeline(sinks=[{"type": "file", "path": str(path)}], dedupe_window=3600.0)
    log = p.logger("app")
    log.info("x")
    log.info("x")
    p.set_level("app", "error")
    p.close()
    assert [e["message"] for e in _events(path)] == ["x", "last event repeated 1 more time(s)"]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    calls=st.lists(
        st.tuples(
            st.sampled_from(["a", "b"]), st.sampled_from(["info", "warning"]), st.integers(0, 1)
        ),
        max_size=30,
    ),
    flush_at=st.sets(st.integers(0, 30), max_size=3),
)
def test_nothing_is_lost_property(
    tmp_path_factory: pytest.TempPathFactory,
    calls: list[tuple[str, str, int]],
    flush_at: set[int],
) -> None:
    """Expanding every summary into the event it repeats gives back exactly the calls made,
    in order, whatever the sequence and wherever flushes fall; the counters agree."""
    path = tmp_path_factory.mktemp("dedupe") / "p.log"
    p = Pipeline(sinks=[{"type": "file", "path": str(path)}], dedupe_window=3600.0)
    loggers = {name: p.logger(name, "trace") for name in ("a", "b")}
    for i, (name, level, k) in enumerate(calls):
        if i in flush_at:
            assert p.flush(10.0)
        loggers[name].log(level, "m", k=k)
    p.close()
    expanded: list[tuple[str, str, int]] = []
    for e in _events(path):
        if "repeated" in e:
            expanded += [expanded[-1]] * e["repeated"]
        else:
            expanded.append((e["logger"], e["level"], e["k"]))
    assert expanded == calls
    stats = p.stats()
    assert stats["emitted"] == stats["written"] + stats["dropped"]
    assert stats["written"] + stats["deduplicated"] - _summaries(path) == len(calls)


def _summaries(path: Path) -> int:
    return sum(1 for e in _events(path) if "repeated" in e)


def test_window_and_setting_errors() -> None:
    with pytest.raises(ValueError, match=r"dedupe\.window"):
        Pipeline(sinks=[{"type": "null"}], dedupe_window=float("nan"))
    with pytest.raises(SettingsError, match=r"dedupe\.window"):
        Settings(dedupe={"window": 0})
    assert Settings(dedupe={"enabled": True}).dedupe.window == 60.0


def test_unrelated_calls_pay_nothing_when_off(file_log: FileLog) -> None:
    """Without the filter, identical events are all written and nothing is counted."""
    for _ in range(3):
        file_log.logger.info("same")
    assert len(file_log.lines()) == 3
    assert file_log.stats()["deduplicated"] == 0
