"""Plugin lifecycle, container wiring, isolation and leaks with real installed plugins (issue
12, points 2, 4, 7 and 8, and the plugin sinks of the settings)."""

from __future__ import annotations

import asyncio
import gc
import io
import json
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from plugin_env import PluginEnv, plugin_environment

from ferrolog import Container, Logger, PluginRegistry, SettingsError, build_pipeline
from ferrolog.config import Settings
from ferrolog.errors import Diagnostics, ErrorCategory
from ferrolog.registry import PluginDependencyError, PluginSettingsError


@pytest.fixture
def plugin_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PluginEnv]:
    """Real test plugins installed on a temporary sys.path entry (see plugin_env.py)."""
    yield from plugin_environment(tmp_path, monkeypatch)


async def test_start_follows_requires_and_stop_reverses_it(plugin_env: PluginEnv) -> None:
    """Plugins start required-first (plain and async methods alike) and stop in reverse."""
    plugin_env.plugin("db", kind="enricher", asynchronous=True)
    plugin_env.plugin("cache", kind="enricher", requires=("db",))
    plugin_env.plugin("api", kind="filter", requires=("cache", "db"), asynchronous=True)
    registry = PluginRegistry(allow=["db", "cache", "api"])
    registry.create("filter", "api")  # created in the opposite order
    registry.create("enricher", "cache")
    registry.create("enricher", "db")
    await registry.start()
    assert len(registry.instances()) == 3
    await registry.stop()
    assert plugin_env.events == [
        ("start", "db"),
        ("start", "cache"),
        ("start", "api"),
        ("stop", "api"),
        ("stop", "cache"),
        ("stop", "db"),
    ]
    assert registry.instances() == ()


async def test_a_requires_cycle_is_a_clear_error(plugin_env: PluginEnv) -> None:
    """Plugins requiring each other in a cycle: start() raises naming it and starts nothing."""
    plugin_env.plugin("a", kind="filter", requires=("b",))
    plugin_env.plugin("b", kind="filter", requires=("a",))
    registry = PluginRegistry(allow=["a", "b"])
    registry.create("filter", "a")
    registry.create("filter", "b")
    with pytest.raises(PluginDependencyError, match="plugin dependency cycle: a -> b -> a") as info:
        await registry.start()
    assert info.value.cycle == ("a", "b", "a")
    assert plugin_env.events == []
    await registry.stop()


async def test_a_plugin_failing_to_start_is_reported_and_excluded(plugin_env: PluginEnv) -> None:
    """A failing start() is reported in diagnostics; the plugin and its dependents are
    excluded, the others start and stop normally."""
    plugin_env.plugin("good", kind="filter")
    plugin_env.plugin("bad", kind="filter", start="raise RuntimeError('no backend')")
    plugin_env.plugin("needs-bad", kind="filter", requires=("bad",), asynchronous=True)
    stream = io.StringIO()
    registry = PluginRegistry(
        allow=["good", "bad", "needs-bad"], diagnostics=Diagnostics(stream, interval=0)
    )
    good = registry.create("filter", "good")
    for name in ("bad", "needs-bad"):
        registry.create("filter", name)
    await registry.start()
    assert registry.instances() == (good,)
    report = stream.getvalue()
    assert "plugin 'bad' failed to start: RuntimeError('no backend'); it is excluded" in report
    assert "plugin 'needs-bad' was not started: it requires 'bad'" in report
    await registry.stop()
    assert plugin_env.events == [("start", "good"), ("stop", "good")]


async def test_a_failing_stop_is_reported_and_the_others_still_stop(
    plugin_env: PluginEnv,
) -> None:
    """One stop() raising does not keep the other plugins from stopping."""
    plugin_env.plugin("first", kind="filter")
    plugin_env.plugin("second", kind="filter", stop="raise OSError('gone')")
    stream = io.StringIO()
    registry = PluginRegistry(allow=["first", "second"], diagnostics=Diagnostics(stream))
    registry.create("filter", "first")
    registry.create("filter", "second")
    await registry.start()
    await registry.stop()
    assert "plugin 'second' failed to stop: OSError('gone')" in stream.getvalue()
    assert ("stop", "first") in plugin_env.events


def _sink_settings(tmp_path: Path, name: str = "alpha", **config: object) -> dict[str, Any]:
    return {
        "sinks": [
            {"type": "null"},
            {
                "type": "plugin",
                "name": name,
                "config": {"path": str(tmp_path / "out.log"), **config},
            },
        ],
        "plugins": {"allow": [name]},
    }


async def test_a_plugin_sink_gets_the_lines_through_the_sink_runner(
    plugin_env: PluginEnv, tmp_path: Path
) -> None:
    """sinks[].type=plugin: the runner starts the plugin, feeds it lines, stops it at aclose."""
    plugin_env.plugin("alpha", asynchronous=True)
    async with Container.create(_sink_settings(tmp_path)) as container:
        log = await container.get(Logger)
        log.info("through the plugin", n=1)
        await log.flush()
        lines = (tmp_path / "out.log").read_text().splitlines()
        assert [json.loads(line)["message"] for line in lines] == ["through the plugin"]
        assert plugin_env.events == [("start", "alpha")]
    assert plugin_env.events == [("start", "alpha"), ("stop", "alpha")]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"plugins": {"allow": []}},
            r"sinks\.1\.name: plugin 'alpha' is not in plugins\.allow",
        ),
        (
            {"name": "ghost", "allow": ["ghost"]},
            r"sinks\.1\.name: plugin 'ghost' is allowed but not",
        ),
        ({"config": {"batch_size": "lots"}}, r"sinks\.1\.config: plugin 'alpha': invalid config"),
        ({"name": "filt", "allow": ["filt"]}, r"sinks\.1\.name: plugin 'filt' is a filter plugin"),
        (
            {"name": "old", "allow": ["old"]},
            r"sinks\.1\.name: plugin 'old' 1\.2\.3 needs API version '<1', but this ferrolog "
            r"provides 1\.0",
        ),
        ({"name": "broken", "allow": ["broken"]}, r"(?s)sinks\.1\.name: .*needs .*write_batch"),
    ],
)
async def test_a_plugin_sink_that_cannot_load_fails_create(
    plugin_env: PluginEnv, tmp_path: Path, settings: dict[str, Any], message: str
) -> None:
    """Not allowed, not found, invalid config, wrong kind, incompatible or not matching its
    Protocol: Container.create raises a plugin-category SettingsError naming it and why."""
    alpha = plugin_env.plugin("alpha")
    plugin_env.plugin("filt", kind="filter")
    plugin_env.plugin("old", api_version="<1")
    plugin_env.plugin("broken", kind="sink", body="del Plugin.write_batch\n")
    mapping = _sink_settings(tmp_path, settings.get("name", "alpha"))
    if "config" in settings:
        mapping["sinks"][1]["config"].update(settings["config"])
    if "allow" in settings:
        mapping["plugins"]["allow"] = settings["allow"]
    if "plugins" in settings:
        mapping["plugins"] = settings["plugins"]
    with pytest.raises(PluginSettingsError, match=message) as info:
        await Container.create(mapping)
    assert isinstance(info.value, SettingsError)
    assert info.value.category is ErrorCategory.PLUGIN
    assert info.value.errors[0][0].startswith("sinks.1.")
    if "plugins" in settings:
        assert not plugin_env.imported(alpha)


async def test_the_same_plugin_in_two_containers_has_two_instances(
    plugin_env: PluginEnv, tmp_path: Path
) -> None:
    """Each container gets its own registry and instances: state never leaks across them."""
    module = plugin_env.plugin("alpha")
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    first = await Container.create(_sink_settings(tmp_path / "one"))
    second = await Container.create(_sink_settings(tmp_path / "two"))
    try:
        assert await first.get(PluginRegistry) is not await second.get(PluginRegistry)
        for container, text in ((first, "first"), (second, "second")):
            log = await container.get(Logger)
            log.info(text)
            await log.flush()
        refs = plugin_env.loaded(module).INSTANCES  # type: ignore[attr-defined]
        sinks = [ref() for ref in refs]
        assert len(sinks) == 2
        assert sinks[0] is not sinks[1]
        assert [json.loads(line)["message"] for line in sinks[0].lines] == ["first"]
        assert [json.loads(line)["message"] for line in sinks[1].lines] == ["second"]
        # Managed instances of the two registries are separate too.
        a = (await first.get(PluginRegistry)).create("sink", "alpha")
        b = (await second.get(PluginRegistry)).create("sink", "alpha")
        assert a is not b
        assert a.config is not b.config  # type: ignore[attr-defined]
    finally:
        await first.aclose()
        await second.aclose()


async def test_a_managed_plugin_of_a_container_stops_at_aclose(plugin_env: PluginEnv) -> None:
    """A plugin created through the container's registry is started and stopped with it."""
    plugin_env.plugin("enrich", kind="enricher")
    container = await Container.create(
        {"sinks": [{"type": "null"}], "plugins": {"allow": ["enrich"]}}
    )
    registry = await container.get(PluginRegistry)
    registry.create("enricher", "enrich", {"prefix": "h"})
    await registry.start()
    await container.aclose()
    assert plugin_env.events == [("start", "enrich"), ("stop", "enrich")]


def test_build_pipeline_alone_creates_plugin_sinks(plugin_env: PluginEnv, tmp_path: Path) -> None:
    """build_pipeline(settings) with a plugin sink and no container creates its instance."""
    plugin_env.plugin("alpha")
    pipeline = build_pipeline(Settings.from_mapping(_sink_settings(tmp_path)))
    try:
        pipeline.logger("app", 20).info("alone")
        assert pipeline.flush(10.0)
    finally:
        pipeline.close()
    lines = (tmp_path / "out.log").read_text().splitlines()
    assert [json.loads(line)["message"] for line in lines] == ["alone"]


async def test_load_start_stop_cycles_leave_no_instance_alive(plugin_env: PluginEnv) -> None:
    """1,000 create/start/stop cycles (and a few whole containers) leave no instance alive."""
    module = plugin_env.plugin("alpha", asynchronous=True)
    plugin_env.plugin("beta", kind="filter", requires=("alpha",))
    refs: list[weakref.ref[object]] = []
    for _ in range(1000):
        registry = PluginRegistry(allow=["alpha", "beta"])
        refs.append(weakref.ref(registry.create("sink", "alpha", {"batch_size": 1})))
        refs.append(weakref.ref(registry.create("filter", "beta")))
        await registry.start()
        await registry.stop()
        refs.append(weakref.ref(registry))
        del registry
    for _ in range(5):
        container = await Container.create(_sink_settings(plugin_env.site))
        (await container.get(Logger)).info("x")
        await container.aclose()
        refs.append(weakref.ref(container))
        del container
    gc.collect()
    assert [ref for ref in refs if ref() is not None] == []
    instances = plugin_env.loaded(module).INSTANCES  # type: ignore[attr-defined]
    assert len(instances) == 1005
    assert all(ref() is None for ref in instances)
    assert len(plugin_env.events) == 2 * 2 * 1000 + 2 * 5


async def test_concurrent_starts_start_each_plugin_once(plugin_env: PluginEnv) -> None:
    """Two start() calls at once (async start methods interleave) start each plugin once."""
    plugin_env.plugin("slow", kind="filter", asynchronous=True, start="await asyncio.sleep(0.01)")
    plugin_env.plugin("after", kind="filter", requires=("slow",), asynchronous=True)
    registry = PluginRegistry(allow=["slow", "after"])
    registry.create("filter", "slow")
    registry.create("filter", "after")
    await asyncio.gather(registry.start(), registry.start())
    assert plugin_env.events == [("start", "slow"), ("start", "after")]
    await registry.stop()


async def test_a_plugin_sink_failing_to_start_is_reported_and_the_others_keep_writing(
    plugin_env: PluginEnv, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A plugin sink whose start() raises is reported (with its name) on the diagnostics
    channel, gets no batches (they go to the fallback sink, standard error by default), and
    the other plugin sink still gets every line."""
    plugin_env.plugin("bad-sink", start="raise RuntimeError('no disk')", asynchronous=True)
    plugin_env.plugin("good-sink")
    settings = {
        "sinks": [
            {"type": "plugin", "name": "bad-sink"},
            {"type": "plugin", "name": "good-sink", "config": {"path": str(tmp_path / "g.log")}},
        ],
        "plugins": {"allow": ["bad-sink", "good-sink"]},
    }
    async with Container.create(settings) as container:
        log = await container.get(Logger)
        log.info("still written")
        await log.flush()
        stats = log.stats()
    err = capfd.readouterr().err
    assert "sink bad-sink: start() failed (RuntimeError('no disk'))" in err
    assert '"message":"still written"' in err, "the missed event went to the fallback"
    assert [
        json.loads(line)["message"] for line in (tmp_path / "g.log").read_text().splitlines()
    ] == ["still written"]
    assert (stats["dropped"], stats["rerouted"]) == (0, 1)
    assert plugin_env.events == [("start", "good-sink"), ("stop", "good-sink")]
