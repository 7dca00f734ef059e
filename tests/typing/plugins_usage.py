"""Real usage of the plugin registry API that `mypy --strict` must accept (never run)."""

from __future__ import annotations

from typing_extensions import assert_type

from ferrolog import PLUGIN_API_VERSION, Container, PluginRegistry
from ferrolog.plugins import (
    EnricherPlugin,
    FilterPlugin,
    PluginDeclaration,
    RedactorPlugin,
    SinkPlugin,
)
from ferrolog.registry import PluginConfigError, PluginStatus


async def usage(container: Container) -> None:
    registry = await container.get(PluginRegistry)
    assert_type(registry.create("sink", "example-file", {"path": "x.log"}), SinkPlugin)
    assert_type(registry.create("filter", "sampler"), FilterPlugin)
    assert_type(registry.create("enricher", "host", managed=True), EnricherPlugin)
    assert_type(registry.create("redactor", "pii"), RedactorPlugin)
    assert_type(registry.load("example-file"), PluginDeclaration)
    assert_type(registry.statuses(), list[PluginStatus])
    assert_type(PLUGIN_API_VERSION, str)
    try:
        registry.create("sink", "example-file", {"path": 3})
    except PluginConfigError as exc:
        assert_type(exc.errors, tuple[tuple[str, str], ...])
    await registry.start()
    await registry.stop()
