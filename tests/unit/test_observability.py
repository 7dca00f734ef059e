"""Observability settings: Prometheus text of the pipeline counters and sink health, the
periodic metrics callback, diagnostics interval and stream (issue 16, point 7)."""

from __future__ import annotations

import asyncio
import os
import sys
import types
from typing import Any

import pytest

from ferrolog import Container, Logger, Settings
from ferrolog.config import SettingsError
from ferrolog.errors import ConfigurationError
from ferrolog.observability import prometheus_text, render_prometheus

NULL = {"sinks": [{"type": "null"}]}


@pytest.fixture(autouse=True)
def _no_ferrolog_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("FERROLOG_"):
            monkeypatch.delenv(name)


async def test_prometheus_text_shows_the_pipeline_counters_and_each_sink() -> None:
    """Counters as *_total with the container's id, sinks labelled by name and kind."""
    async with Container.create(NULL) as container:
        log = await container.get(Logger)
        for _ in range(3):
            log.info("x")
        await log.flush()
        text = await prometheus_text(container)
    label = f'container="{container.id}"'
    assert "# TYPE ferrolog_emitted_total counter" in text
    assert f"ferrolog_emitted_total{{{label}}} 3" in text
    assert f"ferrolog_written_total{{{label}}} 3" in text
    assert f"ferrolog_capacity{{{label}}} " in text
    assert 'ferrolog_sink_errors_total{container="' in text
    assert 'sink="null",kind="native"' in text


def test_render_prometheus_escapes_labels_and_expands_the_breaker_state() -> None:
    """A sink name with quotes is escaped; the breaker state is one series per state."""
    text = render_prometheus(
        {"emitted": 2, "high_water": 10},
        [{"name": 'http:"x"', "kind": "http", "state": "open", "retried": 4, "failing": True}],
    )
    assert "ferrolog_emitted_total 2" in text
    assert "ferrolog_high_water 10" in text
    assert 'ferrolog_sink_retried_total{sink="http:\\"x\\"",kind="http"} 4' in text
    assert 'ferrolog_sink_failing{sink="http:\\"x\\"",kind="http"} 1' in text
    assert 'ferrolog_sink_breaker_state{sink="http:\\"x\\"",kind="http",state="open"} 1' in text
    assert 'ferrolog_sink_breaker_state{sink="http:\\"x\\"",kind="http",state="closed"} 0' in text


async def test_metrics_off_refuses_the_export() -> None:
    """observability.metrics = false: prometheus_text raises a ConfigurationError."""
    async with Container.create({**NULL, "observability": {"metrics": False}}) as container:
        with pytest.raises(ConfigurationError, match=r"observability\.metrics"):
            await prometheus_text(container)


def test_a_callback_without_metrics_or_an_interval_without_callback_is_refused() -> None:
    """Invalid combinations are rejected, naming the settings."""
    with pytest.raises(SettingsError, match=r"callback needs observability\.metrics"):
        Settings(observability={"metrics": False, "callback": "a.b:c"})
    with pytest.raises(SettingsError, match=r"no observability\.callback"):
        Settings(observability={"interval": "1s"})
    with pytest.raises(SettingsError, match=r"package\.module:function"):
        Settings(observability={"callback": "not a reference"})


async def test_the_callback_is_called_periodically_with_the_metrics(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every interval, from a thread, with {"pipeline": stats, "sinks": health}; it stops
    at close."""
    seen: list[dict[str, Any]] = []
    module = types.ModuleType("fl_metrics_callback")
    module.collect = seen.append  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fl_metrics_callback", module)
    settings = {
        **NULL,
        "observability": {"callback": "fl_metrics_callback:collect", "interval": "20ms"},
    }
    async with Container.create(settings):
        for _ in range(200):
            if len(seen) >= 2:
                break
            await asyncio.sleep(0.01)
    count = len(seen)
    assert count >= 2
    assert {"pipeline", "sinks"} == set(seen[0])
    assert "emitted" in seen[0]["pipeline"]
    await asyncio.sleep(0.1)
    assert len(seen) == count  # stopped with the container


async def test_a_callback_that_cannot_be_imported_fails_create() -> None:
    """The reference is imported at create; a missing one is a settings error naming it."""
    with pytest.raises(SettingsError, match=r"observability\.callback: cannot import"):
        await Container.create({**NULL, "observability": {"callback": "no_such_mod_x:f"}})


async def test_diagnostics_stream_none_silences_and_interval_rate_limits(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """stream = none writes nothing; interval rate-limits the reports of one kind."""
    async with Container.create({**NULL, "diagnostics": {"stream": "none"}}) as container:
        assert container.diagnostics.report("k", "hidden") is True
    async with Container.create({**NULL, "diagnostics": {"interval": "1h"}}) as container:
        assert container.diagnostics.report("k", "shown") is True
        assert container.diagnostics.report("k", "again") is False
    async with Container.create({**NULL, "diagnostics": {"interval": 0}}) as container:
        assert container.diagnostics.report("k", "one") is True
        assert container.diagnostics.report("k", "two") is True
    err = capsys.readouterr().err
    assert "hidden" not in err
    assert "shown" in err
    assert "again" not in err
    assert "two" in err
