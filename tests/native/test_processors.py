"""Caller-side plugins: filters, enrichers and redactors run on the caller's thread before
encoding, see the request context, and are isolated from each other and from the log call."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import pytest

import ferrolog
from ferrolog import Pipeline
from ferrolog._processors import FAILURE_THRESHOLD, RECOVERY_TIMEOUT, ProcessorChain


def _pipeline(tmp_path: Path, chain: Any) -> tuple[Pipeline, Path]:
    path = tmp_path / "out.log"
    return Pipeline(sinks=[{"type": "file", "path": str(path)}], processors=chain), path


def _events(p: Pipeline, path: Path) -> list[dict[str, Any]]:
    assert p.flush(10.0)
    return [json.loads(line) for line in path.read_text().splitlines()]


class Recorder:
    """An enricher that records what it was given and where."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.threads: list[int] = []

    def enrich(self, event: dict[str, Any]) -> dict[str, Any]:
        self.seen.append(dict(event))
        self.threads.append(threading.get_ident())
        return {}


def test_plugins_see_the_whole_event_on_the_callers_thread(tmp_path: Path) -> None:
    rec = Recorder()
    p, path = _pipeline(tmp_path, ProcessorChain(enrichers=[rec]))
    log = p.logger("svc").bind(bound=1)
    with ferrolog.bound_contextvars(request_id="r-7"):
        log.warning("hello", call=2, exc_info=False)
    (event,) = rec.seen
    assert event == {
        "request_id": "r-7",
        "bound": 1,
        "call": 2,
        "message": "hello",
        "level": "warning",
        "logger": "svc",
    }
    assert rec.threads == [threading.get_ident()]
    (line,) = _events(p, path)
    assert (line["request_id"], line["bound"], line["call"]) == ("r-7", 1, 2)
    p.close()


def test_filters_drop_enrichers_add_redactors_replace(tmp_path: Path) -> None:
    class NoHealth:
        def accept(self, event: dict[str, Any]) -> bool:
            return event["message"] != "health"

    class Host:
        def enrich(self, event: dict[str, Any]) -> dict[str, Any]:
            return {"host": "h1", "message": event["message"].upper()}

    class DropSecrets:
        def redact(self, event: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in event.items() if k not in ("password", "session")}

    chain = ProcessorChain([NoHealth()], [Host()], [DropSecrets()])
    p, path = _pipeline(tmp_path, chain)
    log = p.logger("app").bind(password="hunter2")
    with ferrolog.bound_contextvars(session="s3cr3t"):
        log.info("health")
        log.info("login", user=7)
    events = _events(p, path)
    assert events == [
        {
            "timestamp": events[0]["timestamp"],
            "level": "info",
            "logger": "app",
            "message": "LOGIN",
            "user": 7,
            "host": "h1",
        }
    ]
    raw = path.read_bytes()
    assert b"hunter2" not in raw
    assert b"s3cr3t" not in raw
    stats = p.stats()
    assert stats["filtered"] == 1
    assert stats["emitted"] == stats["written"] == 1
    p.close()


def test_a_raising_plugin_is_isolated_counted_reported_once_and_disabled(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    class Broken:
        name = "broken-filter"

        def __init__(self) -> None:
            self.calls = 0

        def accept(self, event: dict[str, Any]) -> bool:
            self.calls += 1
            raise KeyError("boom")

    rec = Recorder()
    broken = Broken()
    chain = ProcessorChain([broken], [rec])
    p, path = _pipeline(tmp_path, chain)
    log = p.logger("iso")
    for i in range(20):
        log.info("e", i=i)
    events = _events(p, path)
    assert [e["i"] for e in events] == list(range(20)), "no event lost"
    assert len(rec.seen) == 20, "the other plugin kept running"
    assert broken.calls == FAILURE_THRESHOLD, "disabled after repeated failure"
    (broken_stats, _) = chain.stats()
    assert broken_stats["failures"] == FAILURE_THRESHOLD
    assert broken_stats["skipped"] == 20 - FAILURE_THRESHOLD
    assert broken_stats["disabled"] is True
    err = capfd.readouterr().err
    assert err.count("filter plugin broken-filter failed: KeyError('boom')") == 1
    assert "filter plugin broken-filter disabled after 5 failure(s) in a row" in err
    p.close()


def test_garbage_results_are_failures_and_the_event_survives(tmp_path: Path) -> None:
    class NotBool:
        def accept(self, event: dict[str, Any]) -> object:
            return "yes"

    class NotMapping:
        def enrich(self, event: dict[str, Any]) -> object:
            return ["x"]

    class Coroutine:
        async def enrich(self, event: dict[str, Any]) -> dict[str, Any]:
            return {"never": True}

    chain = ProcessorChain([NotBool()], [NotMapping(), Coroutine()])
    p, path = _pipeline(tmp_path, chain)
    p.logger("g").info("kept", k=1)
    (event,) = _events(p, path)
    assert event["message"] == "kept"
    assert event["k"] == 1
    assert "never" not in event
    assert [s["failures"] for s in chain.stats()] == [1, 1, 1]
    p.close()


def test_a_failing_redactor_never_leaks_the_fields(tmp_path: Path) -> None:
    class Broken:
        def redact(self, event: dict[str, Any]) -> dict[str, Any]:
            raise RuntimeError("regex exploded")

    p, path = _pipeline(tmp_path, ProcessorChain(redactors=[Broken()]))
    p.logger("r").info("charge", card="4111111111111111")
    (event,) = _events(p, path)
    assert event["message"] == "charge"
    assert event["redaction_failed"] == "Broken"
    assert "card" not in event
    assert b"4111111111111111" not in path.read_bytes()
    p.close()


def test_a_slow_plugin_is_counted_and_disabled_after_repeated_slowness(tmp_path: Path) -> None:
    now = [0.0]

    def clock() -> float:
        return now[0]

    class Slow:
        timeout = 0.5

        def enrich(self, event: dict[str, Any]) -> dict[str, Any]:
            now[0] += 1.0  # "takes" a second
            return {"slow": True}

    chain = ProcessorChain(enrichers=[Slow()], clock=clock)
    p, path = _pipeline(tmp_path, chain)
    log = p.logger("s")
    for i in range(FAILURE_THRESHOLD + 3):
        log.info("e", i=i)
    events = _events(p, path)
    assert len(events) == FAILURE_THRESHOLD + 3
    assert all(e.get("slow") for e in events[:FAILURE_THRESHOLD]), "a slow result is still used"
    assert not any(e.get("slow") for e in events[FAILURE_THRESHOLD:]), "then it is disabled"
    (stats,) = chain.stats()
    assert stats["slow"] == FAILURE_THRESHOLD
    assert stats["disabled"] is True
    p.close()


def test_a_plugin_that_logs_does_not_recurse(tmp_path: Path) -> None:
    holder: dict[str, Any] = {}

    class Chatty:
        def enrich(self, event: dict[str, Any]) -> dict[str, Any]:
            holder["log"].info("from the plugin")
            return {"enriched": True}

    p, path = _pipeline(tmp_path, ProcessorChain(enrichers=[Chatty()]))
    holder["log"] = p.logger("c")
    holder["log"].info("outer")
    events = _events(p, path)
    assert [(e["message"], e.get("enriched")) for e in events] == [
        ("from the plugin", None),
        ("outer", True),
    ]
    p.close()


def test_a_broken_chain_logs_the_event_unchanged_and_counts_an_error(tmp_path: Path) -> None:
    def chain(event: dict[str, Any]) -> Any:
        raise ValueError("bug")

    p, path = _pipeline(tmp_path, chain)
    p.logger("b").bind(b=1).info("as logged", k=2)
    (event,) = _events(p, path)
    assert (event["message"], event["b"], event["k"]) == ("as logged", 1, 2)
    assert p.stats()["errors"] == 1

    (tmp_path / "second").mkdir()
    p2, path2 = _pipeline(tmp_path / "second", lambda event: ["not", "a", "dict"])
    p2.logger("b").info("also as logged")
    (event,) = _events(p2, path2)
    assert event["message"] == "also as logged"
    assert p2.stats()["errors"] == 1
    p.close()
    p2.close()


def test_exceptions_and_async_methods_go_through_the_chain(tmp_path: Path) -> None:
    class Tag:
        def enrich(self, event: dict[str, Any]) -> dict[str, Any]:
            return {"tagged": True}

    p, path = _pipeline(tmp_path, ProcessorChain(enrichers=[Tag()]))
    log = p.logger("x")
    try:
        raise ZeroDivisionError("nope")
    except ZeroDivisionError:
        log.exception("failed")

    async def main() -> None:
        await log.ainfo("async")

    asyncio.run(main())
    events = _events(p, path)
    assert [e["message"] for e in events] == ["failed", "async"]
    assert all(e["tagged"] for e in events)
    assert events[0]["exception"]["type"] == "ZeroDivisionError"
    p.close()


def test_processors_must_be_callable() -> None:
    with pytest.raises(TypeError, match="processors must be a callable"):
        Pipeline(sinks=[{"type": "null"}], processors=42)  # type: ignore[arg-type]


def test_a_plugin_without_its_method_is_refused() -> None:
    with pytest.raises(TypeError, match="enricher plugin 'object' has no callable enrich"):
        ProcessorChain(enrichers=[object()])


def test_a_disabled_plugin_is_probed_after_the_recovery_time_and_closes(tmp_path: Path) -> None:
    now = [0.0]

    class Flaky:
        def __init__(self) -> None:
            self.fail = True

        def enrich(self, event: dict[str, Any]) -> dict[str, Any]:
            if self.fail:
                raise RuntimeError("down")
            return {"ok": True}

    flaky = Flaky()
    chain = ProcessorChain(enrichers=[flaky], clock=lambda: now[0])
    p, path = _pipeline(tmp_path, chain)
    log = p.logger("f")
    for _ in range(FAILURE_THRESHOLD):
        log.info("fails")
    assert chain.stats()[0]["state"] == "open"
    now[0] += RECOVERY_TIMEOUT + 1
    log.info("probe fails")  # a failed probe opens it again
    assert chain.stats()[0]["state"] == "open"
    now[0] += RECOVERY_TIMEOUT + 1
    flaky.fail = False
    log.info("probe passes")
    log.info("closed again")
    events = _events(p, path)
    assert [e.get("ok") for e in events][-2:] == [True, True]
    (stats,) = chain.stats()
    assert (stats["state"], stats["failures"]) == ("closed", FAILURE_THRESHOLD + 1)
    p.close()
