"""Built-in policies in native code: a level per logger name, sampling (1 in N per key) and
rate limiting (token bucket per key, with summaries of what was suppressed)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from ferrolog import Container, Logger, Pipeline, Settings
from ferrolog.config import SettingsError


def _pipeline(tmp_path: Path, **options: Any) -> tuple[Pipeline, Path]:
    path = tmp_path / "out.log"
    return Pipeline(sinks=[{"type": "file", "path": str(path)}], **options), path


def _events(p: Pipeline, path: Path) -> list[dict[str, Any]]:
    assert p.flush(10.0)
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_logger_levels_apply_by_longest_dotted_prefix(tmp_path: Path) -> None:
    p, _ = _pipeline(tmp_path, logger_levels={"app": "warning", "app.db": "debug", "noisy": 40})
    assert p.logger("app").level == 30
    assert p.logger("app.db").level == 10
    assert p.logger("app.db.pool").level == 10
    assert p.logger("app.dbx").level == 30, "a prefix matches whole dotted parts only"
    assert p.logger("other").level == 20
    assert p.logger("noisy.lib").level == 40
    assert p.logger("app.db", level="error").level == 40, "an explicit level wins"
    root = p.logger("app")
    assert root.child("db").level == 10
    assert root.child("http").level == 30, "no entry for the child: it inherits"
    p.close()


def test_sampling_keeps_one_in_n_per_key_and_counts_the_rest(tmp_path: Path) -> None:
    p, path = _pipeline(tmp_path, rules=[{"kind": "sample", "logger": "app.http", "every": 10}])
    http = p.logger("app.http.access")
    other = p.logger("app.db")
    for i in range(100):
        http.info("request", i=i)
        http.info("other message", i=i)
        other.info("db", i=i)
    http.warning("slow request")  # above the rule's level: never sampled
    events = _events(p, path)
    by_message: dict[str, list[int]] = {}
    for e in events:
        by_message.setdefault(e["message"], []).append(e.get("i", -1))
    assert by_message["request"] == list(range(0, 100, 10))
    assert by_message["other message"] == list(range(0, 100, 10)), "per key"
    assert by_message["db"] == list(range(100)), "other loggers untouched"
    assert by_message["slow request"] == [-1]
    stats = p.stats()
    assert stats["sampled_out"] == 180
    assert stats["emitted"] == stats["written"] == 100 + 20 + 1
    p.close()


def test_rate_limits_suppress_count_and_summarise(tmp_path: Path) -> None:
    p, path = _pipeline(
        tmp_path,
        rules=[{"kind": "limit", "per_second": 0.5, "burst": 3, "level": "warning"}],
    )
    log = p.logger("svc")
    for i in range(10):
        log.warning("disk almost full", i=i)
    log.error("not limited: above the rule's level")
    assert p.stats()["suppressed"] == 7
    assert p.close(10.0)
    events = [json.loads(line) for line in path.read_text().splitlines()]
    kept = [e for e in events if e["message"] == "disk almost full"]
    assert [e["i"] for e in kept] == [0, 1, 2]
    (summary,) = [e for e in events if e["message"].startswith("rate limit:")]
    assert summary["suppressed"] == 7
    assert summary["suppressed_key"] == "disk almost full"
    assert summary["level"] == "warning"
    assert summary["message"] == "rate limit: 7 event(s) like this were suppressed"


def test_a_summary_names_its_key_in_at_most_200_characters(tmp_path: Path) -> None:
    """The key in a summary: a message's text cut to 200 characters, a non-str message by its
    type, a logger by its name."""
    p, path = _pipeline(
        tmp_path,
        rules=[
            {"kind": "limit", "logger": "by_msg", "per_second": 0.01, "burst": 1},
            {"kind": "limit", "logger": "by_name", "per_second": 0.01, "burst": 1, "by": "logger"},
        ],
    )
    by_msg = p.logger("by_msg")
    long = "é" * 300
    for message in (long, 12345):
        for _ in range(3):
            by_msg.info(message)
    for _ in range(3):
        p.logger("by_name." + "n" * 250).info("any")
    assert p.close(10.0)
    events = [json.loads(line) for line in path.read_text().splitlines()]
    keys = sorted(e["suppressed_key"] for e in events if "suppressed_key" in e)
    assert keys == sorted(["<int>", "é" * 200, ("by_name." + "n" * 250)[:200]])


def test_a_rate_limit_refills_and_reports_before_the_next_event(tmp_path: Path) -> None:
    p, path = _pipeline(tmp_path, rules=[{"kind": "limit", "per_second": 20, "burst": 1}])
    log = p.logger("svc")
    log.info("tick", i=0)
    log.info("tick", i=1)  # suppressed
    log.info("tick", i=2)  # suppressed
    time.sleep(0.2)  # refills (a pace of the test, not an assertion on time)
    log.info("tick", i=3)
    events = _events(p, path)
    assert [e["message"] for e in events] == [
        "tick",
        "rate limit: 2 event(s) like this were suppressed",
        "tick",
    ]
    assert [e.get("i") for e in events] == [0, None, 3]
    p.close()


def test_rules_by_logger_share_one_key_per_logger(tmp_path: Path) -> None:
    p, path = _pipeline(tmp_path, rules=[{"kind": "sample", "every": 2, "by": "logger"}])
    a, b = p.logger("a"), p.logger("b")
    for i in range(4):
        a.info(f"message {i}")
        b.info(f"message {i}")
    events = _events(p, path)
    assert [(e["logger"], e["message"]) for e in events] == [
        ("a", "message 0"),
        ("b", "message 0"),
        ("a", "message 2"),
        ("b", "message 2"),
    ]
    p.close()


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ([{"kind": "sample"}], r"rules\[0\]: every is required"),
        ([{"kind": "sample", "every": 0}], r"rules\[0\]\.every must be > 0"),
        ([{"kind": "sample", "every": 2.5}], r"rules\[0\]\.every must be a whole number"),
        ([{"kind": "limit", "per_second": -1}], r"rules\[0\]\.per_second must be > 0"),
        ([{"kind": "nope"}], r"rules\[0\]\.kind must be 'sample' or 'limit'"),
        ([{"kind": "sample", "every": 2, "by": "x"}], r"rules\[0\]\.by must be"),
        ([{"kind": "sample", "every": 2, "level": "loud"}], r"rules\[0\]\.level: unknown level"),
    ],
)
def test_bad_rules_are_refused_naming_the_rule(rules: list[dict[str, Any]], message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        Pipeline(sinks=[{"type": "null"}], rules=rules)


def test_the_settings_carry_the_policies(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"sampling\.0\.every"):
        Settings(sampling=[{"every": 0}])
    with pytest.raises(SettingsError, match=r"logger_levels\.app: unknown level 'loud'"):
        Settings(logger_levels={"app": "loud"})
    s = Settings(levels={"notice": 25}, logger_levels={"app": "notice"})
    assert s.logger_levels["app"] == "notice"


async def test_a_container_applies_the_policies(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    settings = {
        "sinks": [{"type": "file", "path": str(path)}],
        "logger_levels": {"app.db": "debug", "app": "warning"},
        "sampling": [{"logger": "app.http", "every": 5}],
        "rate_limits": [{"logger": "app.jobs", "per_second": 0.001, "burst": 2}],
    }
    async with Container.create(settings) as container:
        log = await container.get(Logger)
        assert log.level == 30
        log.child("db").debug("query")
        http = log.child("http").with_level("info")
        for i in range(10):
            http.info("hit", i=i)
        jobs = log.child("jobs").with_level("info")
        for i in range(5):
            jobs.info("retry", i=i)
        stats = log.stats()
    events = [json.loads(line) for line in path.read_text().splitlines()]
    assert [e["message"] for e in events if e["logger"] == "app.db"] == ["query"]
    assert [e["i"] for e in events if e["message"] == "hit"] == [0, 5]
    assert [e["i"] for e in events if e["message"] == "retry"] == [0, 1]
    assert [e["suppressed"] for e in events if "suppressed" in e] == [3], "summary at close"
    assert (stats["sampled_out"], stats["suppressed"]) == (8, 3)
