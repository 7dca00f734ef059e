"""Routing: a sink takes a level range and logger-name prefixes, so errors can go to one sink
and everything to another."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ferrolog import Container, Logger, Pipeline, Settings
from ferrolog.config import SettingsError


def _read(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_errors_to_one_file_everything_to_another(tmp_path: Path) -> None:
    everything, errors, db = tmp_path / "all.log", tmp_path / "errors.log", tmp_path / "db.log"
    settings = {
        "level": "debug",
        "sinks": [
            {"type": "file", "path": str(everything)},
            {"type": "file", "path": str(errors), "min_level": "error"},
            {"type": "file", "path": str(db), "loggers": ["app.db"], "max_level": "info"},
        ],
    }
    async with Container.create(settings) as container:
        log = await container.get(Logger)
        for child in ("db", "db.pool", "dbx", "http"):
            c = log.child(child)
            c.debug("d")
            c.info("i")
            c.error("e")
            c.critical("c")
    assert len(_read(everything)) == 16
    assert {(e["logger"], e["level"]) for e in _read(errors)} == {
        (f"app.{c}", level)
        for c in ("db", "db.pool", "dbx", "http")
        for level in ("error", "critical")
    }
    assert [(e["logger"], e["level"]) for e in _read(db)] == [
        ("app.db", "debug"),
        ("app.db", "info"),
        ("app.db.pool", "debug"),
        ("app.db.pool", "info"),
    ]


@pytest.mark.parametrize("schema", ["default", "ecs", "otel"])
def test_routing_reads_every_schema(tmp_path: Path, schema: str) -> None:
    path = tmp_path / "r.log"
    p = Pipeline(
        sinks=[{"type": "file", "path": str(path), "min_level": "warning", "loggers": ["svc"]}],
        schema=schema,
    )
    tricky = 'a "quoted" message with ,"level":"error", inside'
    for name in ("svc", "svc.worker", "other"):
        log = p.logger(name, "debug")
        log.info(tricky)
        log.warning(tricky, level_like="error")
    assert p.close(10.0)
    lines = path.read_text().splitlines()
    assert len(lines) == 2, lines
    assert all(
        tricky in json.loads(line).get("message", json.loads(line).get("Body")) for line in lines
    )


def test_custom_and_unknown_levels(tmp_path: Path) -> None:
    low, high = tmp_path / "low.log", tmp_path / "high.log"
    p = Pipeline(
        sinks=[
            {"type": "file", "path": str(low), "max_level": "notice"},
            {"type": "file", "path": str(high), "min_level": "notice"},
        ],
        levels={25: "notice"},
    )
    log = p.logger("x", "debug")
    log.info("info")
    log.log("notice", "notice")
    log.warning("warning")
    log.log("loud", "unknown level")  # a name the pipeline does not know: logged as the highest
    assert p.close(10.0)
    assert [e["message"] for e in _read(low)] == ["info", "notice"]
    assert [e["message"] for e in _read(high)] == ["notice", "warning", "unknown level"]


def test_a_routed_python_sink_gets_only_its_lines() -> None:
    class Memory:
        def __init__(self) -> None:
            self.lines: list[dict[str, Any]] = []
            self.calls = 0

        def write_batch(self, batch: memoryview) -> None:
            self.calls += 1
            self.lines += [json.loads(line) for line in bytes(batch).splitlines()]

    errors = Memory()
    p = Pipeline(
        sinks=[{"type": "null"}, {"type": "python", "sink": errors, "min_level": "error"}],
        linger=0.0,
    )
    log = p.logger("app")
    for i in range(50):
        log.info("fine", i=i)
        assert p.flush(10.0)
    log.error("broken")
    assert p.close(10.0)
    assert [e["message"] for e in errors.lines] == ["broken"]
    assert errors.calls == 1, "batches with nothing for it are not handed over"
    stats = p.stats()
    assert stats["emitted"] == stats["written"] == 51


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"min_level": "error", "max_level": "info"}, r"sinks\[0\]: min_level \(40\) is above"),
        ({"min_level": "loud"}, r"sinks\[0\]\.min_level: unknown level"),
        ({"loggers": "app"}, r"sinks\[0\]\.loggers must be a list"),
        ({"loggers": [1]}, r"sinks\[0\]\.loggers\[0\] must be a str"),
    ],
)
def test_bad_routes_are_refused(spec: dict[str, Any], message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        Pipeline(sinks=[{"type": "null", **spec}])


def test_routing_settings_are_validated() -> None:
    with pytest.raises(SettingsError, match=r"sinks\.0\.min_level: unknown level 'loud'"):
        Settings(sinks=[{"type": "stdout", "min_level": "loud"}])
    with pytest.raises(SettingsError, match="do not apply to the fallback"):
        Settings(fallback={"type": "stderr", "min_level": "error"})
    s = Settings(sinks=[{"type": "stdout", "loggers": ["app.db"], "max_level": 20}])
    assert s.sinks[0].route() == {"max_level": 20, "loggers": ["app.db"]}
