"""Filters, enrichers and redactors named in the settings load through the container's
registry (real installed plugins), run on the caller's thread, and start and stop with it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from plugin_env import PluginEnv, plugin_environment

import ferrolog
from ferrolog import Container, Logger
from ferrolog.registry import PluginSettingsError


@pytest.fixture
def plugin_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PluginEnv]:
    yield from plugin_environment(tmp_path, monkeypatch)


def _settings(tmp_path: Path, **extra: object) -> dict[str, object]:
    return {
        "sinks": [{"type": "file", "path": str(tmp_path / "out.log")}],
        "level": "debug",
        **extra,
    }


def _events(tmp_path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (tmp_path / "out.log").read_text().splitlines()]


async def test_settings_plugins_filter_enrich_and_redact(
    plugin_env: PluginEnv, tmp_path: Path
) -> None:
    plugin_env.plugin("no-debug", kind="filter")
    plugin_env.plugin("host", kind="enricher")
    plugin_env.plugin("mask", kind="redactor")
    settings = _settings(
        tmp_path,
        filters=[{"name": "no-debug"}],
        enrichers=[{"name": "host", "config": {"prefix": "web-1"}}],
        redactors=[{"name": "mask"}],
        plugins={"allow": ["no-debug", "host", "mask"]},
        # The native deny-list would mask `secret` too: off, to see the plugin's work.
        redaction={"enabled": False},
    )
    async with Container.create(settings) as container:
        log = await container.get(Logger)
        with ferrolog.bound_contextvars(request_id="r-1"):
            log.debug("hidden")
            log.info("shown", secret="hunter2")
        await log.flush()
        stats = log.stats()
        assert plugin_env.events == [("start", "no-debug"), ("start", "host"), ("start", "mask")]
    assert plugin_env.events[3:] == [("stop", "mask"), ("stop", "host"), ("stop", "no-debug")]
    (event,) = _events(tmp_path)
    assert event["message"] == "shown"
    assert event["host"] == "web-1"
    assert event["request_id"] == "r-1"
    assert event["secret"] == "***"
    assert b"hunter2" not in (tmp_path / "out.log").read_bytes()
    assert stats["filtered"] == 1


async def test_a_caller_plugin_that_is_not_allowed_fails_create(
    plugin_env: PluginEnv, tmp_path: Path
) -> None:
    module = plugin_env.plugin("host", kind="enricher")
    with pytest.raises(PluginSettingsError, match=r"enrichers\.0\.name: .*host"):
        await Container.create(_settings(tmp_path, enrichers=[{"name": "host"}]))
    assert not plugin_env.imported(module), "a plugin that is not allowed is never imported"


async def test_a_caller_plugin_of_the_wrong_kind_or_config_fails_create(
    plugin_env: PluginEnv, tmp_path: Path
) -> None:
    plugin_env.plugin("host", kind="enricher")
    allow = {"allow": ["host"]}
    with pytest.raises(PluginSettingsError, match=r"filters\.0\.name"):
        await Container.create(_settings(tmp_path, filters=[{"name": "host"}], plugins=allow))
    with pytest.raises(PluginSettingsError, match=r"enrichers\.0\.config"):
        await Container.create(
            _settings(tmp_path, enrichers=[{"name": "host", "config": {"nope": 1}}], plugins=allow)
        )


async def test_a_redactor_that_fails_to_start_never_lets_fields_through(
    plugin_env: PluginEnv, tmp_path: Path
) -> None:
    plugin_env.plugin("mask", kind="redactor", start="raise RuntimeError('no key')")
    settings = _settings(tmp_path, redactors=[{"name": "mask"}], plugins={"allow": ["mask"]})
    async with Container.create(settings) as container:
        log = await container.get(Logger)
        log.info("payment", card="4111111111111111")
        await log.flush()
    (event,) = _events(tmp_path)
    assert event["message"] == "payment"
    assert event["redaction_failed"] == "mask"
    assert "card" not in event


async def test_a_filter_that_fails_to_start_is_excluded(
    plugin_env: PluginEnv, tmp_path: Path
) -> None:
    plugin_env.plugin("no-debug", kind="filter", start="raise RuntimeError('x')")
    settings = _settings(tmp_path, filters=[{"name": "no-debug"}], plugins={"allow": ["no-debug"]})
    async with Container.create(settings) as container:
        log = await container.get(Logger)
        log.debug("kept: the filter is not running")
        await log.flush()
    assert [e["message"] for e in _events(tmp_path)] == ["kept: the filter is not running"]


def test_build_pipeline_without_a_container_refuses_caller_plugins(tmp_path: Path) -> None:
    from ferrolog import Settings, build_pipeline

    settings = Settings(**_settings(tmp_path, filters=[{"name": "pkg.mod:Filter"}]))
    with pytest.raises(ValueError, match="run under a container"):
        build_pipeline(settings)
