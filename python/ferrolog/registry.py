"""The plugin registry: discovery, versions, validated creation and lifecycle, per container.

Plugins come from the ``ferrolog.plugins`` entry-point group of installed distributions, from
directories of modules (``plugins.paths``: each ``NAME.py`` file or ``NAME/`` package is the
plugin ``NAME``, whose class is the module's ``Plugin`` attribute) and from explicit
``"package.module:Class"`` references in the settings.

Nothing is imported to be listed: entry points and directory modules are read from metadata
and file names. A plugin is imported only when its name is in ``plugins.allow`` (or when the
settings name it by an explicit ``"module:Class"`` reference), and is then checked against
the plugin contract (`ferrolog.plugins.check_plugin_class`) and the plugin API version.

Each `Container` has its own `PluginRegistry` (``await container.get(PluginRegistry)``): its
discovery caches, loaded declarations and instances are its own, so two containers never
share a plugin instance. The registry is thread-safe (one short lock, never held while a
plugin's code runs).
"""

from __future__ import annotations

import asyncio
import difflib
import importlib
import importlib.metadata
import importlib.util
import inspect
import os
import sys
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

from pydantic import BaseModel, ValidationError

from ferrolog._diagnostics import Diagnostics
from ferrolog._frozen import thaw
from ferrolog._hierarchy import PluginError
from ferrolog._plugin_errors import (
    PluginConfigError,
    PluginDeclarationError,
    PluginDependencyError,
    PluginIncompatibleError,
    PluginIndexError,
    PluginKindError,
    PluginNotAllowedError,
    PluginNotFoundError,
    PluginSettingsError,
    SpecifierError,
)
from ferrolog._processors import ProcessorChain
from ferrolog.plugins import (
    PLUGIN_API_VERSION,
    EnricherPlugin,
    FilterPlugin,
    PluginDeclaration,
    PluginKind,
    RedactorPlugin,
    SinkPlugin,
    check_plugin_class,
    protocol_for,
)

if TYPE_CHECKING:
    from ferrolog.config import Settings

__all__ = [
    "ENTRY_POINT_GROUP",
    "DiscoveredPlugin",
    "PluginConfigError",
    "PluginDeclarationError",
    "PluginDependencyError",
    "PluginIncompatibleError",
    "PluginIndexError",
    "PluginKindError",
    "PluginNotAllowedError",
    "PluginNotFoundError",
    "PluginRegistry",
    "PluginSettingsError",
    "PluginStatus",
    "SpecifierError",
]

# Users meet these as ferrolog.registry.X (reprs, to_dict()["type"], pickles).
_error: type
for _error in (
    PluginConfigError,
    PluginDeclarationError,
    PluginDependencyError,
    PluginIncompatibleError,
    PluginIndexError,
    PluginKindError,
    PluginNotAllowedError,
    PluginNotFoundError,
    PluginSettingsError,
    SpecifierError,
):
    _error.__module__ = __name__
del _error

#: The entry-point group plugins are installed under.
ENTRY_POINT_GROUP = "ferrolog.plugins"
#: Seconds a coroutine ``start()``/``stop()`` of a plugin may take before it is abandoned.
DEFAULT_LIFECYCLE_TIMEOUT = 10.0


@dataclass(frozen=True)
class DiscoveredPlugin:
    """A plugin found without importing it: its name, where it comes from, and the target.

    ``origin`` is ``"entry point"`` or ``"directory"``; ``target`` is the entry point's
    ``module:attr`` or the module file; ``distribution`` and ``distribution_version`` name
    the installed distribution of an entry point.
    """

    name: str
    origin: Literal["entry point", "directory"]
    target: str
    distribution: str | None = None
    distribution_version: str | None = None

    def describe(self) -> str:
        """``"entry point acme.sink:Sink of acme-ferrolog 1.2"`` or ``"module /dir/x.py"``."""
        if self.origin == "directory":
            return f"module {self.target}"
        dist = ""
        if self.distribution is not None:
            dist = f" of {self.distribution} {self.distribution_version or ''}".rstrip()
        return f"entry point {self.target}{dist}"


@dataclass(frozen=True)
class PluginStatus:
    """What the registry knows about one plugin, for listings (``ferrolog plugins list``).

    ``state`` is ``"compatible"``, ``"incompatible"`` (``requires``/``provides`` say which
    plugin API versions it needs and which ferrolog provides), ``"broken"`` (it could not be
    imported or breaks the contract: ``problem`` says why) or ``"not loaded"`` (not in
    ``plugins.allow``, so never imported).
    """

    name: str
    state: Literal["compatible", "incompatible", "broken", "not loaded"]
    source: str
    kind: str | None = None
    version: str | None = None
    requires: str | None = None
    provides: str = PLUGIN_API_VERSION
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (the structured diagnostic)."""
        return {
            "name": self.name,
            "state": self.state,
            "source": self.source,
            "kind": self.kind,
            "version": self.version,
            "requires": self.requires,
            "provides": self.provides,
            "problem": self.problem,
        }


@dataclass(eq=False)
class _Managed:
    """An instance whose ``start``/``stop`` the registry runs."""

    name: str
    instance: object
    requires: tuple[str, ...]
    state: Literal["created", "starting", "started", "failed"] = "created"


@dataclass
class _Caches:
    discovered: tuple[DiscoveredPlugin, ...] | None = None
    duplicates: dict[str, list[DiscoveredPlugin]] = field(default_factory=dict)
    loaded: dict[str, PluginDeclaration] = field(default_factory=dict)


def _is_reference(name: str) -> bool:
    return ":" in name


class PluginRegistry:
    """Finds, loads, checks and creates plugins for one container, and runs their lifecycle.

    ``allow`` names the plugins that may be imported (entry points and directory modules);
    explicit ``"module:Class"`` references are always allowed: naming one is the consent.
    ``deny`` names plugins that never load, whatever else says so (deny wins, references
    whose plugin declares a denied name included). ``autoload`` lets every installed
    entry-point plugin that is not denied load as if it were allowed (`autoload` imports
    them all at once). ``paths`` are directories of plugin modules. ``diagnostics``
    receives plugin start and stop failures (a container passes its own).
    """

    def __init__(
        self,
        *,
        allow: Iterable[str] = (),
        deny: Iterable[str] = (),
        autoload: bool = False,
        paths: Iterable[str | os.PathLike[str]] = (),
        diagnostics: Diagnostics | None = None,
        group: str = ENTRY_POINT_GROUP,
    ) -> None:
        """A registry allowing ``allow``, searching ``paths``; discovery happens on first use."""
        self._allow = frozenset(allow)
        self._deny = frozenset(deny)
        self._autoload = autoload
        self._paths = tuple(Path(path) for path in paths)
        self._diagnostics = diagnostics if diagnostics is not None else Diagnostics()
        self._group = group
        self._lock = threading.Lock()
        self._caches = _Caches()
        self._managed: list[_Managed] = []

    @classmethod
    def from_settings(
        cls, settings: Settings, *, diagnostics: Diagnostics | None = None
    ) -> PluginRegistry:
        """A registry honouring ``settings.plugins`` (``allow``, ``deny``, ``autoload``,
        ``paths``)."""
        return cls(
            allow=settings.plugins.allow,
            deny=settings.plugins.deny,
            autoload=settings.plugins.autoload,
            paths=settings.plugins.paths,
            diagnostics=diagnostics,
        )

    @property
    def allow(self) -> frozenset[str]:
        """The plugin names that may be imported."""
        return self._allow

    @property
    def deny(self) -> frozenset[str]:
        """The plugin names that never load (deny wins over allow and autoload)."""
        return self._deny

    def may_import(self, name: str) -> bool:
        """Whether the discovered plugin ``name`` may be imported: not denied, and allowed
        or (with ``autoload``) an installed entry point."""
        if name in self._deny:
            return False
        if name in self._allow:
            return True
        return self._autoload and any(
            p.name == name and p.origin == "entry point" for p in self.discover()
        )

    def autoload(self) -> list[PluginDeclaration]:
        """With ``autoload``: import every installed entry-point plugin not denied, and
        return the compatible ones; an incompatible or broken one is reported through the
        diagnostics (and fails only where the settings use it). Without: nothing.

        Imports (blocking: run it off the event loop).
        """
        if not self._autoload:
            return []
        loaded: list[PluginDeclaration] = []
        names = sorted({p.name for p in self.discover() if p.origin == "entry point"})
        for name in names:
            if name in self._deny:
                continue
            try:
                loaded.append(self.compatible(name))
            except PluginError as exc:
                self._diagnostics.report(
                    f"plugin:{name}:autoload", f"plugins.autoload: {name!r} not loaded: {exc}"
                )
        return loaded

    # -- discovery (never imports) ------------------------------------------------------

    def discover(self) -> tuple[DiscoveredPlugin, ...]:
        """Every plugin installed or in ``paths``, read from metadata and file names only.

        Cached on this registry; call `refresh` to look again.
        """
        with self._lock:
            if self._caches.discovered is not None:
                return self._caches.discovered
        found = self._scan()
        by_name: dict[str, list[DiscoveredPlugin]] = {}
        for plugin in found:
            by_name.setdefault(plugin.name, []).append(plugin)
        with self._lock:
            if self._caches.discovered is None:
                self._caches.discovered = tuple(found)
                self._caches.duplicates = {n: p for n, p in by_name.items() if len(p) > 1}
            return self._caches.discovered

    def refresh(self) -> None:
        """Forget what was discovered and loaded (instances already created are kept)."""
        with self._lock:
            self._caches = _Caches()

    def _scan(self) -> list[DiscoveredPlugin]:
        found: list[DiscoveredPlugin] = []
        for entry in importlib.metadata.entry_points(group=self._group):
            dist = getattr(entry, "dist", None)
            found.append(
                DiscoveredPlugin(
                    name=entry.name,
                    origin="entry point",
                    target=entry.value,
                    distribution=None if dist is None else dist.metadata["Name"],
                    distribution_version=None if dist is None else dist.version,
                )
            )
        for directory in self._paths:
            try:
                children = sorted(directory.iterdir())
            except OSError as exc:
                self._diagnostics.report(
                    f"plugins.paths:{directory}",
                    f"plugins.paths: cannot list {directory}: {exc.strerror or exc}",
                )
                continue
            for child in children:
                if child.name.startswith(("_", ".")):
                    continue
                if child.suffix == ".py" and child.is_file():
                    found.append(DiscoveredPlugin(child.stem, "directory", str(child)))
                elif child.is_dir() and (child / "__init__.py").is_file():
                    found.append(DiscoveredPlugin(child.name, "directory", str(child)))
        return found

    # -- loading ------------------------------------------------------------------------

    def load(self, name: str) -> PluginDeclaration:
        """Import and check the plugin ``name`` (an allowed name or ``"module:Class"``).

        Returns its checked declaration even when it is incompatible (see
        `PluginDeclaration.compatible_with`). Raises `PluginNotAllowedError`,
        `PluginNotFoundError` or `PluginDeclarationError` (import failures included).
        """
        with self._lock:
            cached = self._caches.loaded.get(name)
        if cached is not None:
            return cached
        if name in self._deny:
            raise PluginNotAllowedError(
                f"plugin {name!r} is in plugins.deny, which wins over plugins.allow and "
                f"plugins.autoload; remove it from plugins.deny to use it",
                plugin=name,
            )
        if _is_reference(name):
            value = self._import_reference(name)
        else:
            if not self.may_import(name):
                allowed = ", ".join(sorted(self._allow)) or "none"
                raise PluginNotAllowedError(
                    f"plugin {name!r} is not in plugins.allow (allowed: {allowed}); plugins "
                    f"are never imported unless allowed: add {name!r} to plugins.allow",
                    plugin=name,
                )
            value = self._import_discovered(name)
        declaration = check_plugin_class(value, loaded_as=name)
        if declaration.name in self._deny:
            raise PluginNotAllowedError(
                f"plugin {name!r} is the plugin {declaration.name!r}, which is in "
                "plugins.deny; remove it from plugins.deny to use it",
                plugin=name,
            )
        with self._lock:
            return self._caches.loaded.setdefault(name, declaration)

    def _import_reference(self, reference: str) -> object:
        module_name, _, attribute = reference.partition(":")
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            raise PluginNotFoundError(
                f"plugin {reference!r}: cannot import module {module_name!r}: {exc!r}; check "
                "the reference and that its package is installed",
                plugin=reference,
            ) from exc
        value: object = module
        for part in attribute.split("."):
            try:
                value = getattr(value, part)
            except AttributeError:
                raise PluginNotFoundError(
                    f"plugin {reference!r}: module {module_name!r} has no attribute {attribute!r}",
                    plugin=reference,
                ) from None
        return value

    def _import_discovered(self, name: str) -> object:
        candidates = [plugin for plugin in self.discover() if plugin.name == name]
        if not candidates:
            raise PluginNotFoundError(
                f"plugin {name!r} is allowed but not installed: no {self._group!r} entry point "
                f"and no module in plugins.paths is named {name!r}; install its package "
                "(ferrolog plugins search/info show where it comes from)",
                plugin=name,
            )
        if len(candidates) > 1:
            sources = "; ".join(plugin.describe() for plugin in candidates)
            raise PluginDeclarationError(
                f"plugin {name!r} is provided more than once ({sources}); uninstall all but one",
                plugin=name,
            )
        plugin = candidates[0]
        try:
            if plugin.origin == "entry point":
                entry = next(
                    entry
                    for entry in importlib.metadata.entry_points(group=self._group, name=name)
                    if entry.value == plugin.target
                )
                return entry.load()
            return _load_directory_module(Path(plugin.target), name)
        except Exception as exc:
            raise PluginDeclarationError(
                f"plugin {name!r} ({plugin.describe()}) failed to import: {exc!r}",
                plugin=name,
            ) from exc

    def compatible(self, name: str) -> PluginDeclaration:
        """`load` ``name``, and raise `PluginIncompatibleError` unless it fits this ferrolog."""
        declaration = self.load(name)
        if not declaration.compatible_with(PLUGIN_API_VERSION):
            raise PluginIncompatibleError(
                f"plugin {name!r} {declaration.version} needs API version "
                f"{declaration.api_version!r}, but this ferrolog provides "
                f"{PLUGIN_API_VERSION}; install a version of the plugin made for "
                f"plugin API {PLUGIN_API_VERSION}",
                plugin=name,
                requires=declaration.api_version,
                provides=PLUGIN_API_VERSION,
            )
        return declaration

    def status(self, name: str) -> PluginStatus:
        """The status of one plugin; imports it only when it may be imported. Never raises."""
        discovered = [p for p in self.discover() if p.name == name]
        source = "; ".join(p.describe() for p in discovered) or (
            "reference" if _is_reference(name) else "not installed"
        )
        if not _is_reference(name) and not self.may_import(name):
            why = "in plugins.deny" if name in self._deny else "not in plugins.allow"
            return PluginStatus(
                name,
                "not loaded" if discovered else "broken",
                source,
                problem=f"{why}, so not imported" if discovered else "not installed",
            )
        try:
            declaration = self.load(name)
        except (PluginDeclarationError, PluginNotFoundError, PluginNotAllowedError) as exc:
            return PluginStatus(name, "broken", source, problem=str(exc))
        compatible = declaration.compatible_with(PLUGIN_API_VERSION)
        return PluginStatus(
            name,
            "compatible" if compatible else "incompatible",
            source,
            kind=declaration.kind,
            version=declaration.version,
            requires=declaration.api_version,
            problem=None
            if compatible
            else (
                f"needs plugin API {declaration.api_version!r}, ferrolog provides "
                f"{PLUGIN_API_VERSION}"
            ),
        )

    def statuses(self) -> list[PluginStatus]:
        """The status of every discovered plugin, by name; only allowed ones are imported."""
        names = sorted({plugin.name for plugin in self.discover()})
        return [self.status(name) for name in names]

    # -- creation -----------------------------------------------------------------------

    def validate(
        self, kind: PluginKind, name: str, config: Mapping[str, Any] | None = None
    ) -> tuple[PluginDeclaration, BaseModel]:
        """Load ``name``, check it is a compatible ``kind`` plugin, validate ``config``.

        Returns the declaration and the validated ``Config`` instance; constructs nothing.
        Raises the `PluginError` subclass that says what is wrong.
        """
        declaration = self.compatible(name)
        if declaration.kind != kind:
            raise PluginKindError(
                f"plugin {name!r} is a {declaration.kind} plugin, not a {kind}; use it where "
                f"a {declaration.kind} is configured, or pick a {kind} plugin",
                plugin=name,
            )
        plain = thaw(config or {})
        try:
            validated = declaration.config_model.model_validate(plain)
        except ValidationError as exc:
            errors = tuple(
                (".".join(str(part) for part in error["loc"]) or "(config)", error["msg"])
                for error in exc.errors()
            )
        else:
            errors = _unknown_keys(declaration.config_model, plain)
        if errors:
            lines = "\n".join(f"  config.{where}: {message}" for where, message in errors)
            raise PluginConfigError(
                f"plugin {name!r}: invalid config:\n{lines}", plugin=name, errors=errors
            ) from None
        return declaration, validated

    @overload
    def create(
        self,
        kind: Literal["sink"],
        name: str,
        config: Mapping[str, Any] | None = ...,
        *,
        managed: bool = ...,
    ) -> SinkPlugin: ...
    @overload
    def create(
        self,
        kind: Literal["filter"],
        name: str,
        config: Mapping[str, Any] | None = ...,
        *,
        managed: bool = ...,
    ) -> FilterPlugin: ...
    @overload
    def create(
        self,
        kind: Literal["enricher"],
        name: str,
        config: Mapping[str, Any] | None = ...,
        *,
        managed: bool = ...,
    ) -> EnricherPlugin: ...
    @overload
    def create(
        self,
        kind: Literal["redactor"],
        name: str,
        config: Mapping[str, Any] | None = ...,
        *,
        managed: bool = ...,
    ) -> RedactorPlugin: ...
    def create(
        self,
        kind: PluginKind,
        name: str,
        config: Mapping[str, Any] | None = None,
        *,
        managed: bool = True,
    ) -> object:
        """A new instance of the ``kind`` plugin ``name``, built with its validated ``config``.

        With ``managed=True`` this registry runs its ``start()`` (at the next `start`) and
        ``stop()`` (at `stop`); pass ``managed=False`` when something else owns its
        lifecycle (a sink handed to a pipeline: its sink runner calls start and stop).
        Raises the `PluginError` subclass that says what is wrong (see `validate`).
        """
        declaration, validated = self.validate(kind, name, config)
        try:
            instance = declaration.cls(validated)
        except Exception as exc:
            raise PluginDeclarationError(
                f"plugin {name!r}: its constructor raised {exc!r}", plugin=name
            ) from exc
        if not isinstance(instance, protocol_for(kind)):
            raise PluginKindError(
                f"plugin {name!r}: the instance does not implement the {kind} Protocol",
                plugin=name,
            )
        if managed:
            with self._lock:
                self._managed.append(_Managed(declaration.name, instance, declaration.requires))
        return instance

    def sink_plugins(self, settings: Settings) -> dict[int, SinkPlugin]:
        """A new instance for every plugin sink of ``settings``, by its index in ``sinks``,
        ready to hand to a pipeline.

        Their lifecycle is their pipeline's (``managed=False``): its sink runner calls
        ``start``, ``flush`` and ``stop`` on the sink's own worker thread, isolates its
        failures (timeouts, breaker, fallback sink) and reports them with the plugin's name.
        """
        from ferrolog.config import PluginSink

        return {
            index: self.create("sink", sink.name, sink.config, managed=False)
            for index, sink in enumerate(settings.sinks)
            if isinstance(sink, PluginSink)
        }

    async def caller_plugins(self, settings: Settings) -> ProcessorChain:
        """The filters, enrichers and redactors of ``settings`` as a `ProcessorChain`: new
        instances, managed by this registry (started now, in dependency order, and stopped
        with it). A filter or enricher that fails to start is excluded (and reported); a
        redactor that fails to start stays in the chain as one that always fails, so its
        events are logged without their fields rather than unredacted.
        """
        created = {
            field: [(ref.name, self.create(kind, ref.name, ref.config)) for ref in refs]
            for field, kind in _CALLER_SIDE
            if (refs := getattr(settings, field))
        }
        await self.start()
        with self._lock:
            started = {id(r.instance) for r in self._managed if r.state == "started"}
        chosen: dict[str, list[object]] = {}
        for setting, plugins in created.items():
            chosen[setting] = []
            for name, plugin in plugins:
                if id(plugin) in started:
                    chosen[setting].append(plugin)
                elif setting == "redactors":
                    chosen[setting].append(_UnstartedRedactor(name))
        return ProcessorChain(
            chosen.get("filters", ()),
            chosen.get("enrichers", ()),
            chosen.get("redactors", ()),
            diagnostics=self._diagnostics,
        )

    def settings_problems(self, settings: Settings) -> list[tuple[str, Exception]]:
        """Every plugin ``settings`` use that cannot load, as ``(setting path, error)``."""
        from ferrolog.config import PluginSink

        # (where in the settings, kind, name, config) of every plugin the settings use.
        used: list[tuple[str, PluginKind, str, Mapping[str, Any]]] = [
            (f"sinks.{index}", "sink", sink.name, sink.config)
            for index, sink in enumerate(settings.sinks)
            if isinstance(sink, PluginSink)
        ]
        for setting, kind in _CALLER_SIDE:
            used += [
                (f"{setting}.{index}", kind, ref.name, ref.config)
                for index, ref in enumerate(getattr(settings, setting))
            ]
        problems: list[tuple[str, Exception]] = []
        for where, kind, name, config in used:
            try:
                self.validate(kind, name, config)
            except (PluginNotFoundError, PluginNotAllowedError, PluginKindError) as exc:
                problems.append((f"{where}.name", exc))
            except (PluginDeclarationError, PluginIncompatibleError, PluginConfigError) as exc:
                part = "config" if isinstance(exc, PluginConfigError) else "name"
                problems.append((f"{where}.{part}", exc))
        index_location = settings.plugins.index
        if index_location is not None:
            from ferrolog._marketplace import location_problem

            problem = location_problem(index_location)
            if problem is None and "://" not in index_location:
                # A file path must exist now; a URL is read only by the `plugins` commands.
                index_path = Path(index_location)
                if not index_path.is_file():
                    what = "is not a file" if index_path.exists() else "does not exist"
                    problem = (
                        f"plugin index {index_location} {what}; point plugins.index at the "
                        "index's JSON file or an http(s) URL"
                    )
            if problem is not None:
                problems.append(("plugins.index", PluginIndexError(problem, source=index_location)))
        return problems

    def check_settings(self, settings: Settings) -> None:
        """Raise `PluginSettingsError` listing every plugin ``settings`` use that cannot load.

        Imports the plugins used (blocking: run it off the event loop).
        """
        problems = self.settings_problems(settings)
        if problems:
            lines = "\n".join(
                f"  {where}: {str(error).replace(chr(10), chr(10) + '  ')}"
                for where, error in problems
            )
            error = PluginSettingsError(
                f"ferrolog cannot load these plugins:\n{lines}",
                errors=tuple((where, str(error)) for where, error in problems),
            )
            raise error from problems[0][1]

    # -- lifecycle ----------------------------------------------------------------------

    def instances(self) -> tuple[object, ...]:
        """The managed instances that are started (failed ones are excluded)."""
        with self._lock:
            return tuple(m.instance for m in self._managed if m.state == "started")

    def _order(self, records: list[_Managed]) -> list[_Managed]:
        """``records`` in dependency order (required plugins first); raises on a cycle."""
        by_name: dict[str, list[_Managed]] = {}
        for record in records:
            by_name.setdefault(record.name, []).append(record)
        ordered: list[_Managed] = []
        done: set[int] = set()
        visiting: list[str] = []

        def visit(record: _Managed) -> None:
            if id(record) in done:
                return
            if record.name in visiting:
                raise PluginDependencyError((*visiting[visiting.index(record.name) :], record.name))
            visiting.append(record.name)
            for required in record.requires:
                for dependency in by_name.get(required, ()):
                    visit(dependency)
            visiting.pop()
            done.add(id(record))
            ordered.append(record)

        for record in records:
            visit(record)
        return ordered

    async def start(self, *, timeout: float = DEFAULT_LIFECYCLE_TIMEOUT) -> None:
        """Start the managed instances not started yet, required plugins first.

        A plugin whose ``start()`` raises (or times out), or that requires a plugin that is
        missing or failed, is reported through the diagnostics and excluded; the others
        still start. Raises `PluginDependencyError` (starting nothing) on a cycle.
        """
        with self._lock:
            records = list(self._managed)
            # Claimed under the lock: concurrent start() calls never start one twice.
            claimed = {id(r) for r in records if r.state == "created"}
            for record in records:
                if id(record) in claimed:
                    record.state = "starting"
        try:
            ordered = self._order(records)
        except PluginDependencyError:
            with self._lock:
                for record in records:
                    if id(record) in claimed:
                        record.state = "created"
            raise
        for record in ordered:
            if id(record) not in claimed:
                continue
            missing = [
                name
                for name in record.requires
                if not any(r.name == name and r.state == "started" for r in records)
            ]
            if missing:
                record.state = "failed"
                self._diagnostics.report(
                    f"plugin:{record.name}:start",
                    f"plugin {record.name!r} was not started: it requires "
                    f"{', '.join(map(repr, missing))}, which did not start or is not "
                    "configured; it is excluded",
                )
                continue
            try:
                await _call(getattr(record.instance, "start", None), timeout)
            except Exception as exc:
                record.state = "failed"
                self._diagnostics.report(
                    f"plugin:{record.name}:start",
                    f"plugin {record.name!r} failed to start: {exc!r}; it is excluded",
                )
            else:
                record.state = "started"

    async def stop(self, *, timeout: float = DEFAULT_LIFECYCLE_TIMEOUT) -> None:
        """Stop the started instances in reverse start order and forget every instance.

        A failing ``stop()`` is reported through the diagnostics; the others still stop.
        """
        with self._lock:
            records = self._managed
            self._managed = []
        try:
            ordered = self._order(records)
        except PluginDependencyError:
            ordered = records  # nothing of a cycle was started
        for record in reversed(ordered):
            if record.state != "started":
                continue
            try:
                await _call(getattr(record.instance, "stop", None), timeout)
            except Exception as exc:
                self._diagnostics.report(
                    f"plugin:{record.name}:stop",
                    f"plugin {record.name!r} failed to stop: {exc!r}",
                )
        records.clear()

    def __repr__(self) -> str:
        allowed = ", ".join(sorted(self._allow))
        return f"<ferrolog.PluginRegistry allow=[{allowed}] instances={len(self._managed)}>"


#: The settings fields that name caller-side plugins, and their kind.
_CALLER_SIDE: tuple[tuple[str, PluginKind], ...] = (
    ("filters", "filter"),
    ("enrichers", "enricher"),
    ("redactors", "redactor"),
)


class _UnstartedRedactor:
    """Stands in for a redactor whose ``start()`` failed: every call fails, so the chain logs
    its events without their fields instead of unredacted."""

    def __init__(self, name: str) -> None:
        self.name = name

    def redact(self, event: dict[str, Any]) -> dict[str, Any]:
        raise PluginError(f"redactor {self.name!r} did not start", plugin=self.name)


async def _call(method: object, timeout: float) -> None:
    """Call a plain or coroutine ``method`` (absent: nothing), a coroutine within ``timeout``."""
    if method is None:
        return
    if not callable(method):
        raise TypeError(f"{method!r} is not callable")
    result = method()
    if inspect.isawaitable(result):
        await asyncio.wait_for(_awaited(result), timeout)


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def _load_directory_module(path: Path, name: str) -> object:
    """Import the plugin module (file or package) at ``path``; return its ``Plugin``.

    It is registered in ``sys.modules`` under a name derived from its directory, so a
    pydantic ``Config`` in it resolves its annotations and a second load reuses it.
    """
    digest = abs(hash(str(path.parent.resolve()))) % (1 << 32)
    safe = "".join(c if c.isalnum() else "_" for c in name)
    module_name = f"_ferrolog_plugin_dir_{digest:08x}_{safe}"
    module = sys.modules.get(module_name)
    if module is None:
        location = path / "__init__.py" if path.is_dir() else path
        spec = importlib.util.spec_from_file_location(
            module_name,
            location,
            submodule_search_locations=[str(path)] if path.is_dir() else None,
        )
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {location}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[module_name]
            raise
    try:
        return module.Plugin
    except AttributeError:
        raise ImportError(
            f"{path} defines no 'Plugin': a plugin module names its plugin class Plugin"
        ) from None


def _unknown_keys(
    model: type[BaseModel], config: object, prefix: str = ""
) -> tuple[tuple[str, str], ...]:
    """The keys of ``config`` that no field of ``model`` (by name or alias) takes.

    A plugin's ``Config`` may allow or ignore extra keys; ferrolog does not: in settings, an
    unknown key is a typo, never an option silently ignored. Nested models are checked too.
    """
    if not isinstance(config, Mapping):
        return ()
    fields = model.model_fields
    known: dict[str, str] = {}
    for field_name, info in fields.items():
        known[field_name] = field_name
        for alias in (info.alias, info.validation_alias):
            if isinstance(alias, str):
                known[alias] = field_name
    problems: list[tuple[str, str]] = []
    for key, value in config.items():
        target = known.get(str(key))
        if target is None:
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append((f"{prefix}{key}", f"unknown key (not a field of the config){hint}"))
            continue
        annotation = fields[target].annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            problems += _unknown_keys(annotation, value, f"{prefix}{key}.")
    return tuple(problems)
