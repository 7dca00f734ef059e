"""Graceful degradation: a sink that fails hands its events to the fallback sink (standard
error by default) instead of losing them, and the switch is reported once, not per event."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ferrolog import Container, Logger, Pipeline, Settings
from ferrolog._sinks import FAILURE_THRESHOLD
from ferrolog.config import SettingsError

pytestmark = pytest.mark.needs_dev_full

FULL = {"type": "file", "path": "/dev/full"}


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _reports(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("ferrolog: ")]


async def test_a_failing_file_sinks_events_go_to_the_fallback_file(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Every event the failing sink could not write is in the fallback file, counted as
    written and rerouted; the healthy sink got everything; one report, naming the sink."""
    good, spare = tmp_path / "good.log", tmp_path / "spare.log"
    settings = {
        "sinks": [FULL, {"type": "file", "path": str(good)}],
        "fallback": {"type": "file", "path": str(spare)},
    }
    async with Container.create(settings) as container:
        log = await container.get(Logger)
        for i in range(200):
            log.info("event", i=i)
            if i % 50 == 0:
                await log.flush()
        await log.flush()
        stats = log.stats()
        pipeline = await container.get(Pipeline)
        health = pipeline.sink_health()
        assert pipeline.fallback == f"file:{spare}"
    assert [e["i"] for e in _lines(spare)] == list(range(200))
    assert [e["i"] for e in _lines(good)] == list(range(200))
    assert stats["emitted"] == stats["written"] == 200
    assert stats["dropped"] == 0
    assert stats["rerouted"] == 200
    assert health[0]["name"] == "file:/dev/full"
    assert health[0]["failing"] is True
    assert health[0]["rerouted"] == 200
    assert health[0]["failovers"] == 1
    assert 1 <= health[0]["errors"] < 5, "the failed sink is retried after a wait, not per batch"
    assert health[1]["failing"] is False
    assert health[1]["errors"] == 0
    reports = _reports(capfd.readouterr().err)
    assert len(reports) == 1, reports
    assert "sink file:/dev/full failed" in reports[0]
    assert "No space left on device" in reports[0]
    assert f"fallback sink file:{spare}" in reports[0]


async def test_the_default_fallback_is_standard_error(capfd: pytest.CaptureFixture[str]) -> None:
    async with Container.create({"sinks": [FULL]}) as container:
        log = await container.get(Logger)
        for i in range(20):
            log.warning("kept", i=i)
        await log.flush()
        assert (await container.get(Pipeline)).fallback == "stderr"
    err = capfd.readouterr().err.splitlines()
    events = [json.loads(line) for line in err if line.startswith("{")]
    assert [e["i"] for e in events] == list(range(20))
    assert all(e["message"] == "kept" for e in events)
    assert len(_reports("\n".join(err))) == 1


async def test_a_null_fallback_drops_and_counts(capfd: pytest.CaptureFixture[str]) -> None:
    async with Container.create({"sinks": [FULL], "fallback": {"type": "null"}}) as container:
        log = await container.get(Logger)
        for i in range(30):
            log.info("lost", i=i)
        await log.flush()
        stats = log.stats()
        assert (await container.get(Pipeline)).fallback is None
    assert (stats["emitted"], stats["written"], stats["dropped"], stats["rerouted"]) == (
        30,
        0,
        30,
        0,
    )
    reports = _reports(capfd.readouterr().err)
    assert len(reports) == 1, reports
    assert "no fallback sink" in reports[0]
    assert "dropped and counted" in reports[0]


class Raising:
    """A Python sink whose writes fail."""

    def __init__(self) -> None:
        self.calls = 0

    def write_batch(self, batch: memoryview) -> None:
        self.calls += 1
        raise RuntimeError("downstream is down")


def test_a_failing_python_sinks_batches_go_to_the_fallback(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    spare = tmp_path / "spare.log"
    sink = Raising()
    p = Pipeline(sinks=[sink], fallback={"type": "file", "path": str(spare)}, batch_bytes=4096)
    log = p.logger("py")
    for i in range(100):
        log.info("event", i=i)
        if i % 10 == 0:
            assert p.flush(5.0)
    assert p.flush(5.0)
    stats = p.stats()
    (health,) = p.sink_health()
    assert p.close(5.0)
    assert [e["i"] for e in _lines(spare)] == list(range(100))
    assert stats["written"] == stats["rerouted"] == 100
    assert sink.calls == FAILURE_THRESHOLD, "disabled after repeated failure"
    assert stats["errors"] >= sink.calls
    reports = _reports(capfd.readouterr().err)
    assert len(reports) == 2, reports
    assert "sink Raising: write_batch failed" in reports[0]
    assert "downstream is down" in reports[0]
    assert "circuit 'sink Raising' changed from closed to open" in reports[1]
    assert health["kind"] == "python"
    assert health["state"] == "open"
    assert health["failing"]
    assert health["missed"] == 100
    assert health["errors"] == FAILURE_THRESHOLD


def test_the_fallback_setting_is_validated(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"fallback"):
        Settings(fallback={"type": "plugin", "name": "x"})
    s = Settings(fallback={"type": "file", "path": str(tmp_path / "f.log")})
    assert s.fallback.type == "file"
    assert Settings().fallback.type == "stderr"


async def test_a_fallback_in_a_missing_directory_fails_create(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "f.log"
    with pytest.raises(SettingsError, match=r"fallback\.path: directory .* does not exist"):
        await Container.create({"fallback": {"type": "file", "path": str(missing)}})


def test_the_fallback_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FERROLOG_FALLBACK__TYPE", "null")
    assert Settings().fallback.type == "null"
    monkeypatch.setenv("FERROLOG_FALLBACK__TYPO", "1")
    with pytest.raises(SettingsError, match="FERROLOG_FALLBACK__TYPO"):
        Settings()
