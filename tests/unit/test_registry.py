"""The plugin registry with real installed plugins: discovery, allow-listing, versions,
declarations, typed creation and config validation (issue 12, points 1, 3 and 5)."""

from __future__ import annotations

import pickle
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from plugin_env import PluginEnv, plugin_environment, plugin_source

import ferrolog
from ferrolog import PLUGIN_API_VERSION, PluginRegistry
from ferrolog.errors import ErrorCategory, PluginError
from ferrolog.plugins import EnricherPlugin, FilterPlugin, RedactorPlugin, SinkPlugin
from ferrolog.registry import (
    PluginConfigError,
    PluginDeclarationError,
    PluginIncompatibleError,
    PluginKindError,
    PluginNotAllowedError,
    PluginNotFoundError,
)


@pytest.fixture
def plugin_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PluginEnv]:
    """Real test plugins installed on a temporary sys.path entry (see plugin_env.py)."""
    yield from plugin_environment(tmp_path, monkeypatch)


def test_the_plugin_api_version_is_exported() -> None:
    """ferrolog.PLUGIN_API_VERSION is a release version string, in __all__."""
    assert "PLUGIN_API_VERSION" in ferrolog.__all__
    assert PLUGIN_API_VERSION == "1.0"


def test_discovery_lists_entry_points_without_importing_them(plugin_env: PluginEnv) -> None:
    """Every installed entry point is listed from metadata; none is imported for it."""
    first = plugin_env.plugin("alpha")
    second = plugin_env.plugin("beta")
    registry = PluginRegistry()
    found = {plugin.name: plugin for plugin in registry.discover()}
    assert {"alpha", "beta"} <= set(found)
    assert found["alpha"].origin == "entry point"
    assert found["alpha"].distribution == "alpha-dist"
    assert found["alpha"].distribution_version == "1.0.0"
    assert found["alpha"].target == f"{first}:Plugin"
    statuses = {status.name: status for status in registry.statuses()}
    assert statuses["alpha"].state == "not loaded"
    assert not plugin_env.imported(first)
    assert not plugin_env.imported(second)


def test_only_allowed_plugins_are_imported(plugin_env: PluginEnv) -> None:
    """An allowed plugin loads; loading one that is not allowed raises and imports nothing."""
    allowed = plugin_env.plugin("alpha")
    refused = plugin_env.plugin("beta")
    registry = PluginRegistry(allow=["alpha"])
    declaration = registry.load("alpha")
    assert (declaration.name, declaration.kind, declaration.version) == ("alpha", "sink", "1.2.3")
    assert plugin_env.imported(allowed)
    with pytest.raises(PluginNotAllowedError, match=r"'beta' is not in plugins\.allow") as info:
        registry.load("beta")
    assert info.value.category is ErrorCategory.PLUGIN
    assert info.value.context["plugin"] == "beta"
    assert not plugin_env.imported(refused)
    statuses = {status.name: status.state for status in registry.statuses()}
    assert statuses == {**statuses, "alpha": "compatible", "beta": "not loaded"}
    assert not plugin_env.imported(refused)


def test_an_allowed_plugin_that_is_not_installed_is_not_found(plugin_env: PluginEnv) -> None:
    """An allowed name no entry point or plugin module provides raises PluginNotFoundError."""
    with pytest.raises(PluginNotFoundError, match="'ghost' is allowed but not installed"):
        PluginRegistry(allow=["ghost"]).load("ghost")


def test_a_module_class_reference_loads_without_allow(plugin_env: PluginEnv) -> None:
    """An explicit 'module:Class' reference is its own consent: it loads with an empty allow."""
    module = plugin_env.module("ref", plugin_source("ref-sink", class_name="RefSink"))
    declaration = PluginRegistry().load(f"{module}:RefSink")
    assert declaration.name == "ref-sink"
    with pytest.raises(PluginNotFoundError, match="has no attribute 'Missing'"):
        PluginRegistry().load(f"{module}:Missing")
    with pytest.raises(PluginNotFoundError, match="cannot import module 'no_such_module_x'"):
        PluginRegistry().load("no_such_module_x:Sink")


def test_a_directory_of_modules_is_discovered_by_file_name(tmp_path: Path) -> None:
    """Each NAME.py in plugins.paths is the plugin NAME; it is imported only when allowed."""
    directory = tmp_path / "local_plugins"
    directory.mkdir()
    (directory / "local_sink.py").write_text(
        plugin_source("local_sink") + "\nimport builtins\nbuiltins.LOCAL_SINK_IMPORTS = "
        "getattr(builtins, 'LOCAL_SINK_IMPORTS', 0) + 1\n",
        "utf-8",
    )
    (directory / "_private.py").write_text("raise SystemExit('never imported')\n", "utf-8")
    import builtins

    before = getattr(builtins, "LOCAL_SINK_IMPORTS", 0)
    listing = PluginRegistry(paths=[directory])
    found = [plugin for plugin in listing.discover() if plugin.origin == "directory"]
    assert [(plugin.name, plugin.target) for plugin in found] == [
        ("local_sink", str(directory / "local_sink.py"))
    ]
    assert getattr(builtins, "LOCAL_SINK_IMPORTS", 0) == before
    registry = PluginRegistry(allow=["local_sink"], paths=[directory])
    sink = registry.create("sink", "local_sink", {"prefix": "x"})
    assert getattr(builtins, "LOCAL_SINK_IMPORTS", 0) == before + 1
    sink.write_batch(memoryview(b'{"a":1}\n'))
    assert sink.lines == ['{"a":1}']  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        (plugin_source("bad", kind="exporter"), r"kind must be one of sink, filter"),
        (plugin_source("bad", api_version="1.0"), r"api_version: .*has no operator"),
        (plugin_source("bad", api_version=">=1.0rc1"), r"pre-, post-, dev-releases"),
        (plugin_source("bad", api_version=""), r"api_version: .*specifier is empty"),
        (plugin_source("other"), r"declares name 'other' but is installed as 'bad'"),
        (plugin_source("bad", kind="filter").replace("def accept", "def nope"), r"accept"),
        (
            plugin_source("bad").replace("def write_batch(self, batch)", "def write_batch(self)"),
            r"write_batch must accept 1 argument",
        ),
        (
            plugin_source("bad").replace("class Config(pydantic.BaseModel)", "class Config"),
            r"Config must be a pydantic model class",
        ),
        (plugin_source("bad").replace("requires = ()", "requires = 'x'"), r"requires must be"),
        (plugin_source("bad") + "\nPlugin = 42\n", r"is a int, not a class"),
        ("raise ImportError('broken dependency')\n", r"failed to import: ImportError"),
    ],
)
def test_a_malformed_declaration_is_a_clear_error(
    plugin_env: PluginEnv, source: str, problem: str
) -> None:
    """A plugin that breaks the contract fails to load with its name and the problem."""
    module = plugin_env.module("bad", source)
    plugin_env.distribution("bad-dist", {"bad": f"{module}:Plugin"})
    with pytest.raises(PluginDeclarationError, match=problem) as info:
        PluginRegistry(allow=["bad"]).load("bad")
    assert "'bad'" in str(info.value)
    assert info.value.plugin == "bad"


def test_a_plugin_installed_twice_is_refused(plugin_env: PluginEnv) -> None:
    """Two distributions providing one name: loading it names both and imports neither."""
    one = plugin_env.module("one", plugin_source("twin"))
    two = plugin_env.module("two", plugin_source("twin"))
    plugin_env.distribution("twin-a", {"twin": f"{one}:Plugin"})
    plugin_env.distribution("twin-b", {"twin": f"{two}:Plugin"})
    with pytest.raises(
        PluginDeclarationError,
        match=r"provided more than once \(entry point .*of twin-[ab] 1\.0\.0; entry point",
    ):
        PluginRegistry(allow=["twin"]).load("twin")
    assert not plugin_env.imported(one)
    assert not plugin_env.imported(two)


def test_an_incompatible_plugin_is_listed_with_a_structured_diagnostic(
    plugin_env: PluginEnv,
) -> None:
    """A plugin needing another plugin API is listed as incompatible: needs vs provides."""
    plugin_env.plugin("future", api_version=">=2.0,<3")
    registry = PluginRegistry(allow=["future"])
    status = registry.status("future")
    assert status.state == "incompatible"
    assert status.to_dict() | {"source": None} == {
        "name": "future",
        "state": "incompatible",
        "source": None,
        "kind": "sink",
        "version": "1.2.3",
        "requires": ">=2.0,<3",
        "provides": "1.0",
        "problem": "needs plugin API '>=2.0,<3', ferrolog provides 1.0",
    }
    with pytest.raises(PluginIncompatibleError, match=r"needs API version .>=2\.0,<3.") as info:
        registry.create("sink", "future")
    assert (info.value.requires, info.value.provides) == (">=2.0,<3", "1.0")
    assert info.value.to_dict()["context"]["requires"] == ">=2.0,<3"
    # The error survives pickling (errors cross process boundaries).
    assert pickle.loads(pickle.dumps(info.value)).requires == ">=2.0,<3"


def test_create_validates_the_config_with_the_plugins_own_model(plugin_env: PluginEnv) -> None:
    """create() returns an instance built from the validated Config; bad config names fields."""
    plugin_env.plugin("alpha")
    registry = PluginRegistry(allow=["alpha"])
    sink = registry.create("sink", "alpha", {"batch_size": "7"})
    assert isinstance(sink, SinkPlugin)
    assert sink.config.batch_size == 7  # type: ignore[attr-defined]
    with pytest.raises(PluginConfigError) as info:
        registry.create("sink", "alpha", {"batch_size": "many", "colour": "red"})
    message = str(info.value)
    assert "plugin 'alpha': invalid config" in message
    assert "config.batch_size:" in message
    assert "config.colour: Extra inputs are not permitted" in message
    assert {where for where, _ in info.value.errors} == {"batch_size", "colour"}
    assert isinstance(info.value, ValueError)


def test_create_checks_the_kind(plugin_env: PluginEnv) -> None:
    """Each kind is created as that kind only; the instance implements its Protocol."""
    for kind in ("filter", "enricher", "redactor"):
        plugin_env.plugin(f"my-{kind}", kind=kind)
    registry = PluginRegistry(allow=["my-filter", "my-enricher", "my-redactor"])
    assert isinstance(registry.create("filter", "my-filter"), FilterPlugin)
    enricher = registry.create("enricher", "my-enricher", {"prefix": "h1"})
    assert isinstance(enricher, EnricherPlugin)
    assert enricher.enrich({"message": "m"}) == {"host": "h1"}
    assert isinstance(registry.create("redactor", "my-redactor"), RedactorPlugin)
    with pytest.raises(PluginKindError, match="'my-filter' is a filter plugin, not a sink"):
        registry.create("sink", "my-filter")


def test_plugin_errors_are_plugin_category_ferrolog_errors() -> None:
    """Every registry error is a PluginError (category plugin) with a matching stdlib base."""
    assert issubclass(PluginNotAllowedError, PluginError)
    assert issubclass(PluginNotFoundError, LookupError)
    assert issubclass(PluginConfigError, ValueError)
    assert issubclass(PluginKindError, TypeError)
    assert PluginIncompatibleError.category is ErrorCategory.PLUGIN


def test_the_registry_is_thread_safe(plugin_env: PluginEnv) -> None:
    """Many threads loading and creating at once get one declaration and distinct instances."""
    module = plugin_env.plugin("alpha")
    registry = PluginRegistry(allow=["alpha"])
    barrier = threading.Barrier(8)
    declarations: list[object] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            barrier.wait()
            for _ in range(50):
                declarations.append(registry.load("alpha"))
                registry.create("sink", "alpha", {"batch_size": 3})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert len({id(declaration) for declaration in declarations}) == 1
    instances = [ref() for ref in sys.modules[module].INSTANCES]  # type: ignore[attr-defined]
    assert len({id(instance) for instance in instances if instance is not None}) == 400


def test_a_package_directory_in_plugin_paths_is_a_plugin(tmp_path: Path) -> None:
    """A NAME/ package (with __init__.py) in plugins.paths is the plugin NAME too."""
    package = tmp_path / "plugins" / "pkg_filter"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(plugin_source("pkg_filter", kind="filter"), "utf-8")
    registry = PluginRegistry(allow=["pkg_filter"], paths=[tmp_path / "plugins"])
    assert [p.name for p in registry.discover() if p.origin == "directory"] == ["pkg_filter"]
    accepted = registry.create("filter", "pkg_filter")
    assert accepted.accept({"level": "info"}) is True
    assert accepted.accept({"level": "debug"}) is False


def test_a_missing_plugin_directory_is_reported_not_fatal(tmp_path: Path) -> None:
    """A plugins.paths entry that cannot be listed is reported through diagnostics."""
    import io

    from ferrolog.errors import Diagnostics

    stream = io.StringIO()
    registry = PluginRegistry(paths=[tmp_path / "missing"], diagnostics=Diagnostics(stream))
    assert [p for p in registry.discover() if p.origin == "directory"] == []
    assert f"plugins.paths: cannot list {tmp_path / 'missing'}" in stream.getvalue()


def test_plugin_sinks_for_a_pipeline_keep_the_plugins_attributes(plugin_env: PluginEnv) -> None:
    """What the pipeline's runner gets for a plugin sink shows the plugin's own attributes
    (name, version, its config) and writes through to it."""
    from ferrolog.config import Settings

    plugin_env.plugin("alpha")
    settings = Settings.from_mapping(
        {
            "sinks": [{"type": "null"}, {"type": "plugin", "name": "alpha"}],
            "plugins": {"allow": ["alpha"]},
        }
    )
    sinks = PluginRegistry.from_settings(settings).sink_plugins(settings)
    assert list(sinks) == [1]
    sink = sinks[1]
    assert (sink.name, sink.version, sink.config.batch_size) == ("alpha", "1.2.3", 10)  # type: ignore[attr-defined]
    sink.write_batch(memoryview(b"{}\n"))
    assert sink.lines == ["{}"]  # type: ignore[attr-defined]
    assert getattr(sink, "no_such_attribute", None) is None
