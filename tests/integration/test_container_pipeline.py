"""Container with the native pipeline: default output, isolation, overrides, drain, leaks."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import threading
import weakref
from pathlib import Path

import pytest

from ferrolog import Container, Logger, Pipeline, Settings, build_pipeline


class MemorySink:
    """An in-memory Python sink: keeps every JSON line it is given."""

    def __init__(self) -> None:
        self.lines: list[dict[str, object]] = []

    def write_batch(self, batch: memoryview) -> None:
        self.lines += [json.loads(line) for line in bytes(batch).splitlines() if line]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep FERROLOG_* variables of the outer environment out of these tests."""
    for name in list(os.environ):
        if name.upper().startswith("FERROLOG_"):
            monkeypatch.delenv(name)


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_zero_config_writes_json_lines_to_stdout_at_info() -> None:
    """Container.create() with no arguments logs INFO and above as JSON lines on stdout."""
    code = (
        "import asyncio\n"
        "from ferrolog import Container, Logger\n"
        "async def main():\n"
        "    async with Container.create() as c:\n"
        "        log = await c.get(Logger)\n"
        "        log.debug('hidden')\n"
        "        log.info('request handled', user_id=7)\n"
        "asyncio.run(main())\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("FERROLOG_")}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(lines) == 1
    assert lines[0]["message"] == "request handled"
    assert lines[0]["level"] == "info"
    assert lines[0]["user_id"] == 7


async def test_two_differently_configured_containers_are_isolated(tmp_path: Path) -> None:
    """Level, sinks, schema and overflow differ per container; closing one spares the other."""
    first_path, second_path = tmp_path / "first.log", tmp_path / "second.log"
    first = await Container.create(
        {"level": "debug", "sinks": [{"type": "file", "path": str(first_path)}]}
    )
    second = await Container.create(
        {
            "level": "warning",
            "schema": "default",
            "ring": {"overflow": "block", "capacity_bytes": 65536},
            "sinks": [{"type": "file", "path": str(second_path)}],
        }
    )
    log1, log2 = await first.get(Logger), await second.get(Logger)
    assert await first.get(Pipeline) is not await second.get(Pipeline)
    log1.debug("one")
    log2.debug("dropped by level")
    log2.warning("two")
    await first.aclose()
    log2.warning("still working")
    await log2.flush()
    assert [line["message"] for line in _lines(first_path)] == ["one"]
    assert [line["message"] for line in _lines(second_path)] == ["two", "still working"]
    assert log2.stats()["emitted"] == 2
    await second.aclose()


async def test_a_test_sink_replaces_the_pipeline_by_registration() -> None:
    """Registering a Pipeline override routes the Logger to an in-memory sink, no patching."""
    sink = MemorySink()

    async def pipeline(container: Container) -> Pipeline:
        return build_pipeline(await container.get(Settings), sinks=[sink])

    async with Container.create({"level": "debug"}) as container:
        container.register(Pipeline, pipeline)
        log = await container.get(Logger)
        log.bind(request_id="r-1").info("captured", n=1)
    assert [(line["message"], line["request_id"], line["n"]) for line in sink.lines] == [
        ("captured", "r-1", 1)
    ]


async def test_aclose_drains_everything_logged_before(tmp_path: Path) -> None:
    """Events logged before aclose() are on disk afterwards; the pipeline is closed."""
    path = tmp_path / "app.log"
    container = await Container.create({"sinks": [{"type": "file", "path": str(path)}]})
    log = await container.get(Logger)
    for i in range(500):
        log.info("event", i=i)
    pipeline = await container.get(Pipeline)
    await container.aclose()
    assert pipeline.closed
    assert [line["i"] for line in _lines(path)] == list(range(500))


async def test_create_from_a_toml_file_configures_the_logger(tmp_path: Path) -> None:
    """A TOML path given to create() is loaded and its sinks and level are used."""
    log_path = tmp_path / "app.log"
    config = tmp_path / "ferrolog.toml"
    config.write_text(f'level = "error"\n[[sinks]]\ntype = "file"\npath = "{log_path}"\n')
    async with Container.create(config) as container:
        log = await container.get(Logger)
        log.warning("below level")
        log.error("kept")
    assert [line["message"] for line in _lines(log_path)] == ["kept"]


def test_create_sync_logs_without_an_event_loop(tmp_path: Path) -> None:
    """A script without a loop logs through create_sync() and finds its lines on disk."""
    path = tmp_path / "app.log"
    with Container.create_sync({"sinks": [{"type": "file", "path": str(path)}]}) as container:
        container.get_sync(Logger).info("from a script")
    assert [line["message"] for line in _lines(path)] == ["from a script"]


@pytest.mark.needs_proc
async def test_1000_cycles_with_a_pipeline_leak_nothing() -> None:
    """1,000 create/log/close cycles leave no container, pipeline, thread or descriptor."""

    async def cycle() -> tuple[weakref.ref[Container], weakref.ref[Pipeline]]:
        async with Container.create({"sinks": [{"type": "null"}]}) as container:
            (await container.get(Logger)).info("cycle")
            pipeline = await container.get(Pipeline)
        return weakref.ref(container), weakref.ref(pipeline)

    await cycle()  # warm-up: the loop's executor thread for the drain is created once
    gc.collect()
    threads, fds = threading.active_count(), len(os.listdir("/proc/self/fd"))
    refs = [await cycle() for _ in range(1000)]
    gc.collect()
    assert [pair for pair in refs if pair[0]() is not None or pair[1]() is not None] == []
    # At most as many: a thread of an earlier test may end meanwhile, none may be added.
    assert threading.active_count() <= threads
    assert len(os.listdir("/proc/self/fd")) <= fds


async def test_custom_levels_are_per_container(tmp_path: Path) -> None:
    """A container's custom level works in `level` and `log()`; another container lacks it."""
    path = tmp_path / "custom.log"
    settings = {
        "levels": {"notice": 25},
        "level": "notice",
        "sinks": [{"type": "file", "path": str(path)}],
    }
    async with (
        Container.create(settings) as c,
        Container.create({"sinks": [{"type": "null"}]}) as other,
    ):
        log = await c.get(Logger)
        assert log.level == 25
        log.info("below the threshold")
        log.log("NOTICE", "custom")
        assert await log.flush()
        plain = await other.get(Logger)
        plain.log("notice", "unknown here")
        assert plain.stats()["errors"] == 1
    events = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(e["level"], e["message"]) for e in events] == [("notice", "custom")]


def test_unknown_custom_level_name_is_refused() -> None:
    """Settings refuse a level name that is neither standard nor declared, listing valid ones."""
    from ferrolog import SettingsError

    with pytest.raises(SettingsError, match="valid levels"):
        Settings.from_mapping({"level": "notice"})
