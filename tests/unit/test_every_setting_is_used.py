"""Every setting accepted is used somewhere: a walk over `Settings.model_fields` (every
sub-model, every sink type) finds each leaf field, and `EFFECTS` maps it to a check that
shows a non-default value changes what ferrolog does (the native pipeline's options, a
sink's native spec, a container's behaviour) or is validated. A new field without an entry
fails `test_every_leaf_field_has_an_effect` (issue 16)."""

from __future__ import annotations

import asyncio
import os
import sys
import types
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic
import pytest
from plugin_env import PluginEnv

from ferrolog import Container, Logger, PluginRegistry, Settings
from ferrolog._pipeline import _native_spec, pipeline_options
from ferrolog.audit import AuditTrail, verify
from ferrolog.config import (
    ConsoleSink,
    FileSink,
    HttpSink,
    NullSink,
    SettingsError,
    StderrSink,
    StdoutSink,
    SyslogSink,
)
from ferrolog.errors import ConfigurationError
from ferrolog.observability import prometheus_text

NULL: dict[str, Any] = {"sinks": [{"type": "null"}]}


@dataclass
class Ctx:
    """What a check may use: a temporary directory and a monkeypatch."""

    tmp: Path
    monkeypatch: pytest.MonkeyPatch


Check = Callable[[Ctx], Awaitable[None]]


# -- the walk ----------------------------------------------------------------------------


def _models(annotation: Any) -> list[type[pydantic.BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models(arg)]


def leaf_fields(model: type[pydantic.BaseModel] = Settings) -> set[str]:
    """``"Model.field"`` of every field of ``model`` and the models below it that holds a
    value rather than another model."""
    found: set[str] = set()
    seen: set[type[pydantic.BaseModel]] = set()

    def walk(current: type[pydantic.BaseModel]) -> None:
        if current in seen:
            return
        seen.add(current)
        for name, info in current.model_fields.items():
            inner = _models(info.annotation)
            if inner:
                for sub in inner:
                    walk(sub)
            else:
                found.add(f"{current.__name__}.{name}")

    walk(model)
    return found


# -- helpers -------------------------------------------------------------------------------


def _options(**values: Any) -> dict[str, Any]:
    return dict(pipeline_options(Settings(**{**NULL, **values})))


def options_change(**values: Any) -> Check:
    """The native pipeline's options differ from the defaults'."""

    async def check(ctx: Ctx) -> None:
        assert _options(**values) != _options()

    return check


SINK_BASES: dict[type[pydantic.BaseModel], dict[str, Any]] = {
    StdoutSink: {},
    StderrSink: {},
    NullSink: {},
    FileSink: {"path": "/tmp/x.log"},
    SyslogSink: {"address": "127.0.0.1:514"},
    HttpSink: {"url": "https://example.invalid/logs"},
    ConsoleSink: {},
}


def spec_changes(model: type[pydantic.BaseModel], field: str, value: Any) -> Check:
    """The sink's native spec (what the pipeline is built with) differs."""

    async def check(ctx: Ctx) -> None:
        base = SINK_BASES[model]
        assert _native_spec(model(**{**base, field: value})) != _native_spec(model(**base))

    return check


def routing_changes(model: type[pydantic.BaseModel]) -> dict[str, Check]:
    """min_level, max_level and loggers of a sink model."""
    return {
        f"{model.__name__}.min_level": spec_changes(model, "min_level", "error"),
        f"{model.__name__}.max_level": spec_changes(model, "max_level", "info"),
        f"{model.__name__}.loggers": spec_changes(model, "loggers", ["app.db"]),
    }


async def discriminates(ctx: Ctx) -> None:
    """``type`` picks the sink model: an unknown type is refused."""
    with pytest.raises(SettingsError, match=r"sinks\.0"):
        Settings(sinks=[{"type": "carrier-pigeon"}])
    assert isinstance(Settings(sinks=[{"type": "stderr"}]).sinks[0], StderrSink)


async def _enabled(settings: dict[str, Any], level: int) -> bool:
    async with Container.create({**NULL, **settings}) as container:
        return (await container.get(Logger)).is_enabled_for(level)


# -- plugins used by the plugin checks (explicit "module:Class" references) ----------------


class _Config(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    prefix: str = ""


def _plugin(kind: str, method: str, body: Callable[..., Any]) -> type:
    return type(
        f"Every{kind.title()}",
        (),
        {
            "name": f"every-{kind}",
            "kind": kind,
            "version": "1.0",
            "api_version": ">=1.0,<2",
            "Config": _Config,
            "__init__": lambda self, config: setattr(self, "config", config),
            method: body,
        },
    )


EverySink = _plugin("sink", "write_batch", lambda self, batch: None)
EveryFilter = _plugin("filter", "accept", lambda self, event: True)
EveryEnricher = _plugin("enricher", "enrich", lambda self, event: {})
EveryRedactor = _plugin("redactor", "redact", lambda self, event: event)
_REF = f"{__name__}:Every"


def plugin_name_checked(setting: str, kind: str) -> Check:
    """The plugin ``name`` is loaded: a plugin that is not allowed is reported there."""

    async def check(ctx: Ctx) -> None:
        entry: dict[str, Any] = {"name": "not-allowed-anywhere"}
        values = {setting: [{"type": "plugin", **entry} if setting == "sinks" else entry]}
        settings = Settings(**{**NULL, **values})
        where = [path for path, _ in PluginRegistry().settings_problems(settings)]
        assert where == [f"{setting}.0.name"]
        ok = {setting: [{"type": "plugin", "name": f"{_REF}{kind.title()}"} if setting == "sinks"
                        else {"name": f"{_REF}{kind.title()}"}]}  # fmt: skip
        assert PluginRegistry().settings_problems(Settings(**{**NULL, **ok})) == []

    return check


def plugin_config_checked(setting: str, kind: str) -> Check:
    """The plugin ``config`` is validated by the plugin's model and reaches the instance."""

    async def check(ctx: Ctx) -> None:
        reference = f"{_REF}{kind.title()}"
        bad = {"name": reference, "config": {"prefx": "x"}}
        good = {"name": reference, "config": {"prefix": "x"}}
        if setting == "sinks":
            bad, good = {"type": "plugin", **bad}, {"type": "plugin", **good}
        registry = PluginRegistry()
        where = [p for p, _ in registry.settings_problems(Settings(**{**NULL, setting: [bad]}))]
        assert where == [f"{setting}.0.config"]
        instance = registry.create(kind, reference, good["config"])  # type: ignore[call-overload]
        assert instance.config.prefix == "x"

    return check


async def plugin_sink_routing(ctx: Ctx) -> None:
    """A plugin sink's route goes with it into the pipeline."""
    settings = Settings(sinks=[{"type": "plugin", "name": f"{_REF}Sink", "min_level": "error"}])
    sink = EverySink(_Config())
    options = pipeline_options(settings, plugins={0: sink})
    assert options["sinks"][0] == {"type": "python", "sink": sink, "min_level": "error"}


# -- the table -------------------------------------------------------------------------------


async def _level(ctx: Ctx) -> None:
    assert await _enabled({}, 20)
    assert not await _enabled({"level": "error"}, 20)


async def _allow(ctx: Ctx) -> None:
    env = PluginEnv(ctx.tmp, ctx.monkeypatch)
    try:
        env.plugin("everyallow")
        assert not PluginRegistry.from_settings(Settings(**NULL)).may_import("everyallow")
        allowed = Settings(**NULL, plugins={"allow": ["everyallow"]})
        assert PluginRegistry.from_settings(allowed).may_import("everyallow")
    finally:
        env.cleanup()


async def _deny(ctx: Ctx) -> None:
    env = PluginEnv(ctx.tmp, ctx.monkeypatch)
    try:
        env.plugin("everydeny")
        both = Settings(**NULL, plugins={"allow": ["everydeny"], "deny": ["everydeny"]})
        assert not PluginRegistry.from_settings(both).may_import("everydeny")
    finally:
        env.cleanup()


async def _autoload(ctx: Ctx) -> None:
    env = PluginEnv(ctx.tmp, ctx.monkeypatch)
    try:
        env.plugin("everyauto")
        registry = PluginRegistry.from_settings(Settings(**NULL, plugins={"autoload": True}))
        assert [d.name for d in registry.autoload() if d.name == "everyauto"] == ["everyauto"]
    finally:
        env.cleanup()


async def _paths(ctx: Ctx) -> None:
    directory = ctx.tmp / "plugins"
    directory.mkdir()
    (directory / "everypath.py").write_text("Plugin = None\n")
    registry = PluginRegistry.from_settings(Settings(**NULL, plugins={"paths": [directory]}))
    assert "everypath" in {p.name for p in registry.discover()}


async def _index(ctx: Ctx) -> None:
    settings = Settings(**NULL, plugins={"index": str(ctx.tmp / "missing.json")})
    where = [path for path, _ in PluginRegistry().settings_problems(settings)]
    assert where == ["plugins.index"]


async def _audit_path(ctx: Ctx) -> None:
    path = ctx.tmp / "audit.log"
    async with Container.create({**NULL, "audit": {"path": str(path)}}):
        pass
    assert verify(path).records >= 2


async def _audit_fsync(ctx: Ctx) -> None:
    settings = {**NULL, "audit": {"path": str(ctx.tmp / "a.log"), "fsync": False}}
    async with Container.create(settings) as container:
        assert (await container.get(AuditTrail)).fsync is False


async def _audit_retention(ctx: Ctx) -> None:
    path = ctx.tmp / "audit.log"
    async with Container.create({**NULL, "audit": {"path": str(path), "retention_days": 30}}):
        pass
    assert verify(path).retention_days == 30


async def _diagnostics_interval(ctx: Ctx) -> None:
    async with Container.create({**NULL, "diagnostics": {"interval": 0}}) as container:
        container.diagnostics.report("k", "a")
        assert container.diagnostics.report("k", "b") is True
    async with Container.create(NULL) as container:
        container.diagnostics.report("k", "a")
        assert container.diagnostics.report("k", "b") is False


async def _diagnostics_stream(ctx: Ctx) -> None:
    written: list[str] = []
    ctx.monkeypatch.setattr(sys, "stderr", types.SimpleNamespace(write=written.append,
                                                                 flush=lambda: None))  # fmt: skip
    async with Container.create({**NULL, "diagnostics": {"stream": "none"}}) as container:
        container.diagnostics.report("k", "silenced")
    assert not any("silenced" in line for line in written)


async def _metrics(ctx: Ctx) -> None:
    async with Container.create({**NULL, "observability": {"metrics": False}}) as container:
        with pytest.raises(ConfigurationError):
            await prometheus_text(container)


def _callback(interval: str) -> Check:
    async def check(ctx: Ctx) -> None:
        seen: list[object] = []
        module = types.ModuleType("fl_every_callback")
        module.f = seen.append  # type: ignore[attr-defined]
        ctx.monkeypatch.setitem(sys.modules, "fl_every_callback", module)
        observability = {"callback": "fl_every_callback:f", "interval": interval}
        async with Container.create({**NULL, "observability": observability}):
            for _ in range(300):
                if seen:
                    break
                await asyncio.sleep(0.01)
        assert seen

    return check


def _request_scopes(request_events: dict[str, Any], expect: dict[str, int]) -> Check:
    """Requests in scopes (4, each with 3 debug and 3 level-7 events,
    the last with an error, which keeps it) give these counters under ``request_events``."""

    async def check(ctx: Ctx) -> None:
        import ferrolog

        settings = {**NULL, "levels": {"chatty": 7}, "request_events": request_events}
        async with Container.create(settings) as container:
            log = await container.get(Logger)
            for i in range(4):
                async with ferrolog.request_scope(log, route="/r"):
                    for _ in range(3):
                        log.log(7, "very fine")
                        log.debug("fine")
                    if i == 3:
                        log.error("failed")
            stats = log.stats()
        assert {k: stats[k] for k in expect} == expect

    return check


async def _request_events_enabled(ctx: Ctx) -> None:
    from ferrolog.request_events import request_events_enabled

    async with Container.create(NULL) as container:
        assert not request_events_enabled(await container.get(Logger)), "off by default"
    async with Container.create({**NULL, "request_events": {"enabled": True}}) as container:
        assert request_events_enabled(await container.get(Logger))


async def _slow_threshold(ctx: Ctx) -> None:
    import ferrolog

    events = {"keep_one_in": 1000, "slow_threshold": "0ms"}
    async with Container.create({**NULL, "request_events": events}) as container:
        log = await container.get(Logger)
        for _ in range(3):
            async with ferrolog.request_scope(log):
                pass
        assert log.stats()["request_events_sampled_out"] == 0, "every request is slow"


async def _otel_trace_context(ctx: Ctx) -> None:
    """Inside an OpenTelemetry span, events carry its trace and span ids."""
    pytest.importorskip("opentelemetry.sdk.trace", reason="needs ferrolog[otel] (dev extra)")
    from opentelemetry.sdk.trace import TracerProvider

    from ferrolog.testing import capture_logs

    tracer = TracerProvider().get_tracer("every-setting")
    for enabled in (False, True):
        with capture_logs() as logs:
            async with Container.create({**NULL, "otel_trace_context": enabled}) as container:
                log = await container.get(Logger)
                with tracer.start_as_current_span("request"):
                    log.info("traced")
        (event,) = logs
        assert ("trace_id" in event) is enabled
        assert ("span_id" in event) is enabled


async def _dedupe_enabled(ctx: Ctx) -> None:
    """With the filter on, repeated events are counted instead of written."""
    for enabled in (False, True):
        async with Container.create({**NULL, "dedupe": {"enabled": enabled}}) as container:
            log = await container.get(Logger)
            for _ in range(3):
                log.info("same")
            assert (log.stats()["deduplicated"] == 2) is enabled


async def _dedupe_window(ctx: Ctx) -> None:
    """The filter's window reaches the pipeline (with the filter on, against the default)."""
    on = {"enabled": True}
    assert _options(dedupe={**on, "window": 5.0}) != _options(dedupe=on)


async def _gcp_project(ctx: Ctx) -> None:
    """The gcp schema's trace member names the project when one is given."""
    from ferrolog.testing import capture_logs

    for project in (None, "proj-1"):
        with capture_logs() as logs:
            settings = {**NULL, "schema": "gcp", "gcp_project": project}
            async with Container.create(settings) as container:
                (await container.get(Logger)).info("m", trace_id="ab" * 16)
        (event,) = logs
        expected = "ab" * 16 if project is None else f"projects/proj-1/traces/{'ab' * 16}"
        assert event["logging.googleapis.com/trace"] == expected


async def _profiles(ctx: Ctx) -> None:
    with pytest.raises(SettingsError, match="gdpr"):
        Settings(**NULL, compliance={"profiles": ["gdpr"]})


EFFECTS: dict[str, Check] = {
    "Settings.level": _level,
    "Settings.levels": options_change(levels={"notice": 25}),
    "Settings.schema": options_change(schema="ecs"),
    "Settings.logger_levels": options_change(logger_levels={"app.db": "debug"}),
    "RingSettings.capacity_bytes": options_change(ring={"capacity_bytes": "8 MiB"}),
    "RingSettings.overflow": options_change(ring={"overflow": "block"}),
    "RingSettings.block_timeout": options_change(ring={"block_timeout": "2s"}),
    "RingSettings.batch_bytes": options_change(ring={"batch_bytes": "128 KiB"}),
    "RingSettings.linger": options_change(ring={"linger": "5ms"}),
    "RingSettings.max_event_bytes": options_change(ring={"max_event_bytes": "1 KiB"}),
    **{f"{model.__name__}.type": discriminates for model in SINK_BASES},
    "PluginSink.type": discriminates,
    **routing_changes(StdoutSink),
    **routing_changes(ConsoleSink),
    "ConsoleSink.colors": spec_changes(ConsoleSink, "colors", "never"),
    "ConsoleSink.stream": spec_changes(ConsoleSink, "stream", "stderr"),
    "Settings.otel_trace_context": _otel_trace_context,
    "Settings.gcp_project": _gcp_project,
    "DedupeSettings.enabled": _dedupe_enabled,
    "DedupeSettings.window": _dedupe_window,
    "DedupeSettings.once_window": options_change(dedupe={"once_window": 30.0}),
    **routing_changes(StderrSink),
    **routing_changes(NullSink),
    **routing_changes(FileSink),
    **routing_changes(SyslogSink),
    **routing_changes(HttpSink),
    "PluginSink.min_level": plugin_sink_routing,
    "PluginSink.max_level": plugin_sink_routing,
    "PluginSink.loggers": plugin_sink_routing,
    "PluginSink.name": plugin_name_checked("sinks", "sink"),
    "PluginSink.config": plugin_config_checked("sinks", "sink"),
    "FileSink.path": spec_changes(FileSink, "path", "/tmp/y.log"),
    "FileSink.max_bytes": spec_changes(FileSink, "max_bytes", "1 MiB"),
    "FileSink.rotate_every": spec_changes(FileSink, "rotate_every", "daily"),
    "FileSink.backups": spec_changes(FileSink, "backups", 9),
    "FileSink.compress": spec_changes(FileSink, "compress", True),
    "FileSink.mode": spec_changes(FileSink, "mode", 0o600),
    "FileSink.utc": spec_changes(FileSink, "utc", False),
    **{
        f"{m.__name__}.{field}": spec_changes(m, field, value)
        for m in (SyslogSink, HttpSink)
        for field, value in {
            "max_buffer_bytes": "1 MiB",
            "max_retries": 1,
            "failure_threshold": 2,
            "recovery_timeout": "1m",
            "flush_timeout": "1s",
            "close_timeout": "1s",
            "timeout": "1s",
            "batch_bytes": "2 KiB",
            "linger": "1s",
        }.items()
    },
    "SyslogSink.address": spec_changes(SyslogSink, "address", "127.0.0.1:1514"),
    "SyslogSink.transport": spec_changes(SyslogSink, "transport", "tcp"),
    "SyslogSink.format": spec_changes(SyslogSink, "format", "rfc3164"),
    "SyslogSink.facility": spec_changes(SyslogSink, "facility", "local0"),
    "SyslogSink.app_name": spec_changes(SyslogSink, "app_name", "api"),
    "SyslogSink.hostname": spec_changes(SyslogSink, "hostname", "web-1"),
    "HttpSink.url": spec_changes(HttpSink, "url", "https://example.invalid/other"),
    "HttpSink.format": spec_changes(HttpSink, "format", "otlp"),
    "HttpSink.headers": spec_changes(HttpSink, "headers", {"X-Key": "k"}),
    "HttpSink.token": spec_changes(HttpSink, "token", "t"),
    "HttpSink.gzip": spec_changes(HttpSink, "gzip", True),
    "HttpSink.verify_tls": spec_changes(HttpSink, "verify_tls", False),
    "HttpSink.ca_file": spec_changes(HttpSink, "ca_file", "/etc/ca.pem"),
    "HttpSink.resource": spec_changes(HttpSink, "resource", {"service.name": "api"}),
    "StaticFields.service": options_change(static_fields={"service": "api"}),
    "StaticFields.env": options_change(static_fields={"env": "prod"}),
    "StaticFields.version": options_change(static_fields={"version": "1.2"}),
    "StaticFields.host": options_change(static_fields={"host": "web-1"}),
    "StaticFields.pid": options_change(static_fields={"pid": True}),
    "StaticFields.extra": options_change(static_fields={"extra": {"region": "eu"}}),
    **{
        f"SamplingRule.{field}": options_change(sampling=[{"every": 2, **change}])
        for field, change in {
            "logger": {"logger": "app"},
            "level": {"level": "debug"},
            "every": {"every": 3},
            "by": {"by": "logger"},
        }.items()
    },
    **{
        f"RateLimitRule.{field}": options_change(rate_limits=[{"per_second": 1, **change}])
        for field, change in {
            "logger": {"logger": "app"},
            "level": {"level": "debug"},
            "per_second": {"per_second": 5},
            "burst": {"burst": 9},
            "by": {"by": "logger"},
        }.items()
    },
    # The same PluginRef model serves filters, enrichers and redactors.
    "PluginRef.name": plugin_name_checked("filters", "filter"),
    "PluginRef.config": plugin_config_checked("enrichers", "enricher"),
    "PluginsSettings.allow": _allow,
    "PluginsSettings.deny": _deny,
    "PluginsSettings.autoload": _autoload,
    "PluginsSettings.paths": _paths,
    "PluginsSettings.index": _index,
    "RedactionSettings.enabled": options_change(redaction={"enabled": False}),
    "RedactionSettings.presets": options_change(redaction={"presets": ["pci"]}),
    "RedactionSettings.fields": options_change(redaction={"fields": ["customer"]}),
    "RedactionSettings.patterns": options_change(redaction={"patterns": ["x+"]}),
    "RedactionSettings.replacement": options_change(redaction={"replacement": "***"}),
    "AuditSettings.path": _audit_path,
    "AuditSettings.fsync": _audit_fsync,
    "AuditSettings.retention_days": _audit_retention,
    "ComplianceSettings.profiles": _profiles,
    "DiagnosticsSettings.interval": _diagnostics_interval,
    "DiagnosticsSettings.stream": _diagnostics_stream,
    "ObservabilitySettings.metrics": _metrics,
    "ObservabilitySettings.callback": _callback("20ms"),
    # The interval is both validated (needs a callback) and used (the reporter's period).
    "ObservabilitySettings.interval": _callback("10ms"),
    "RequestEventSettings.enabled": _request_events_enabled,
    "RequestEventSettings.slow_threshold": _slow_threshold,
    "RequestEventSettings.keep_one_in": _request_scopes(
        {"keep_one_in": 2}, {"request_events": 3, "request_events_sampled_out": 1}
    ),
    "RequestEventSettings.per_route": _request_scopes(
        {"per_route": {"/r": 4}}, {"request_events": 2, "request_events_sampled_out": 2}
    ),
    "RequestBufferSettings.enabled": _request_scopes(
        {"buffer": {"enabled": True}}, {"buffered": 12, "buffer_discarded": 9}
    ),
    "RequestBufferSettings.level": _request_scopes(
        {"buffer": {"enabled": True, "level": "chatty"}}, {"buffered": 24, "buffer_flushed": 6}
    ),
    "RequestBufferSettings.trigger": _request_scopes(
        {"buffer": {"enabled": True, "trigger": "critical"}},
        {"buffered": 12, "buffer_discarded": 12},
    ),
    "RequestBufferSettings.max_events": _request_scopes(
        {"buffer": {"enabled": True, "max_events": 1}},
        {"buffered": 12, "buffer_evicted": 8, "buffer_flushed": 1},
    ),
    "RequestBufferSettings.max_bytes": _request_scopes(
        {"buffer": {"enabled": True, "max_bytes": 4096}}, {"buffered": 12, "buffer_evicted": 0}
    ),
}


def test_every_leaf_field_has_an_effect() -> None:
    """The walk finds every leaf field; each has an entry (and no entry is stale)."""
    leaves = leaf_fields()
    assert len(leaves) > 100
    missing = sorted(leaves - set(EFFECTS))
    assert missing == [], f"settings without a check of their effect: {missing}"
    stale = sorted(set(EFFECTS) - leaves)
    assert stale == [], f"checks of settings that no longer exist: {stale}"


@pytest.mark.parametrize("field", sorted(EFFECTS))
async def test_the_setting_changes_behaviour_or_is_validated(
    field: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A non-default value of the field has an observable effect (see EFFECTS)."""
    for name in list(os.environ):
        if name.upper().startswith("FERROLOG_"):
            monkeypatch.delenv(name)
    await EFFECTS[field](Ctx(tmp_path, monkeypatch))
