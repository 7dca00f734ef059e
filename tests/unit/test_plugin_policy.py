"""Plugin settings: deny wins over allow and autoload, autoload loads installed entry-point
plugins, an unknown key in a plugin's config is an error even when its Config allows extras,
and every sink and plugin problem is reported together (issue 16, points 2, 3 and 4)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from plugin_env import PluginEnv, plugin_environment, plugin_source

from ferrolog import Container, PluginRegistry, Settings
from ferrolog.config import SettingsError
from ferrolog.registry import PluginConfigError, PluginNotAllowedError, PluginSettingsError


@pytest.fixture
def plugin_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PluginEnv]:
    for name in list(os.environ):
        if name.upper().startswith("FERROLOG_"):
            monkeypatch.delenv(name)
    yield from plugin_environment(tmp_path, monkeypatch)


def test_deny_wins_over_allow(plugin_env: PluginEnv) -> None:
    """A plugin both allowed and denied never loads (and is never imported)."""
    module = plugin_env.plugin("acme")
    registry = PluginRegistry(allow=["acme"], deny=["acme"])
    with pytest.raises(PluginNotAllowedError, match=r"plugins\.deny"):
        registry.load("acme")
    assert not plugin_env.imported(module)
    assert registry.status("acme").problem == "in plugins.deny, so not imported"


def test_deny_also_refuses_a_module_reference_to_the_denied_plugin(plugin_env: PluginEnv) -> None:
    """A 'module:Class' reference whose plugin is named like a denied one is refused too."""
    module = plugin_env.plugin("acme")
    with pytest.raises(PluginNotAllowedError, match=r"plugins\.deny"):
        PluginRegistry(deny=["acme"]).load(f"{module}:Plugin")


def test_without_autoload_only_allowed_plugins_load(plugin_env: PluginEnv) -> None:
    """autoload is off by default: an installed plugin not in allow is not imported."""
    module = plugin_env.plugin("acme")
    registry = PluginRegistry()
    assert registry.autoload() == []
    with pytest.raises(PluginNotAllowedError):
        registry.load("acme")
    assert not plugin_env.imported(module)


def test_autoload_loads_every_installed_plugin_not_denied(plugin_env: PluginEnv) -> None:
    """With autoload, installed entry-point plugins load without allow; denied ones do not."""
    first = plugin_env.plugin("acme")
    second = plugin_env.plugin("other")
    registry = PluginRegistry.from_settings(
        Settings(plugins={"autoload": True, "deny": ["other"]}, sinks=[{"type": "null"}])
    )
    loaded = registry.autoload()
    assert [declaration.name for declaration in loaded] == ["acme"]
    assert plugin_env.imported(first)
    assert not plugin_env.imported(second)
    assert registry.status("acme").state == "compatible"
    with pytest.raises(PluginNotAllowedError, match=r"plugins\.deny"):
        registry.load("other")


async def test_an_autoloaded_plugin_sink_runs_in_a_container(plugin_env: PluginEnv) -> None:
    """A plugin sink named in the settings loads through autoload, without plugins.allow."""
    plugin_env.plugin("acme")
    settings = {"plugins": {"autoload": True}, "sinks": [{"type": "plugin", "name": "acme"}]}
    async with Container.create(settings) as container:
        assert container.settings.plugins.autoload is True
    with pytest.raises(PluginSettingsError, match=r"sinks\.0\.name"):
        await Container.create({"sinks": [{"type": "plugin", "name": "acme"}]})


def test_an_unknown_config_key_is_an_error_even_when_the_config_allows_extras(
    plugin_env: PluginEnv,
) -> None:
    """A typo in a plugin's config section is refused, with a suggestion, although the
    plugin's own Config model has extra='allow'."""
    source = plugin_source("lenient", events=plugin_env.events_module).replace(
        'extra="forbid"', 'extra="allow"'
    )
    module = plugin_env.module("lenient", source)
    plugin_env.distribution("lenient-dist", {"lenient": f"{module}:Plugin"})
    registry = PluginRegistry(allow=["lenient"])
    with pytest.raises(PluginConfigError, match=r"config\.bacth_size: unknown key.*'batch_size'"):
        registry.validate("sink", "lenient", {"bacth_size": 5})
    _declaration, config = registry.validate("sink", "lenient", {"batch_size": 5})
    assert config.batch_size == 5  # type: ignore[attr-defined]


async def test_sink_and_plugin_problems_are_reported_together(
    plugin_env: PluginEnv, tmp_path: Path
) -> None:
    """A missing log directory and a plugin that is not allowed: one error lists both."""
    plugin_env.plugin("acme")
    settings = {
        "sinks": [
            {"type": "file", "path": str(tmp_path / "missing" / "app.log")},
            {"type": "plugin", "name": "acme"},
        ]
    }
    with pytest.raises(SettingsError) as caught:
        await Container.create(settings)
    where = [path for path, _ in caught.value.errors]
    assert where == ["sinks.0.path", "sinks.1.name"]
    assert "cannot start these sinks" in str(caught.value)
    assert "cannot load these plugins" in str(caught.value)
