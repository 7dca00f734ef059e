"""The errors of the plugin registry and the marketplace index.

Each is a `ferrolog.errors.PluginError` (category ``plugin``) and keeps a stdlib base that
matches what went wrong (``LookupError`` for an unknown plugin, ``ValueError`` for a bad
declaration, config or index, ``TypeError`` for a plugin of the wrong kind), so generic
handlers keep working. Every message names the plugin (or index entry) and says what to do.
"""

from __future__ import annotations

from ferrolog._hierarchy import PluginError
from ferrolog._settings_sources import SettingsError

__all__ = [
    "PluginConfigError",
    "PluginDeclarationError",
    "PluginDependencyError",
    "PluginIncompatibleError",
    "PluginIndexError",
    "PluginKindError",
    "PluginNotAllowedError",
    "PluginNotFoundError",
    "PluginSettingsError",
    "SpecifierError",
]


class SpecifierError(PluginError, ValueError):
    """A version or a version specifier is malformed or uses an unsupported PEP 440 part."""


class PluginDeclarationError(PluginError, ValueError):
    """A plugin class does not declare what the plugin contract asks for, or cannot be imported.

    ``.plugin`` is the name (or reference) it was loaded under.
    """

    def __init__(self, message: str, *, plugin: str) -> None:
        super().__init__(message, plugin=plugin)
        self.plugin = plugin


class PluginKindError(PluginError, TypeError):
    """A plugin of one kind was used where another kind is needed (a filter as a sink)."""


class PluginNotFoundError(PluginError, LookupError):
    """No installed entry point, plugin directory module or reference provides the name."""


class PluginNotAllowedError(PluginError, LookupError):
    """The plugin's name is not in ``plugins.allow``, so it is never imported."""


class PluginIncompatibleError(PluginError):
    """The plugin needs a plugin API version this ferrolog does not provide.

    ``.requires`` is the plugin's ``api_version`` specifier, ``.provides`` is
    `ferrolog.PLUGIN_API_VERSION`.
    """

    def __init__(self, message: str, *, plugin: str, requires: str, provides: str) -> None:
        super().__init__(message, plugin=plugin, requires=requires, provides=provides)
        self.plugin = plugin
        self.requires = requires
        self.provides = provides


class PluginConfigError(PluginError, ValueError):
    """A plugin's configuration failed its ``Config`` model.

    ``.errors`` lists each problem as ``(field path, message)``.
    """

    def __init__(self, message: str, *, plugin: str, errors: tuple[tuple[str, str], ...]) -> None:
        super().__init__(message, plugin=plugin, fields=[where for where, _ in errors])
        self.plugin = plugin
        self.errors = errors


class PluginDependencyError(PluginError):
    """Plugins ``requires`` each other in a cycle; ``.cycle`` lists it, first name repeated."""

    def __init__(self, cycle: tuple[str, ...]) -> None:
        self.cycle = cycle
        path = " -> ".join(cycle)
        super().__init__(
            f"plugin dependency cycle: {path}; remove one of these 'requires' entries",
            cycle=list(cycle),
        )


class PluginIndexError(PluginError, ValueError):
    """A marketplace index could not be read, or an entry of it is malformed.

    ``.source`` is the file or URL; the message names the entry index and field.
    """

    def __init__(self, message: str, *, source: str) -> None:
        super().__init__(message, source=source)
        self.source = source


class PluginSettingsError(PluginError, SettingsError):
    """Settings use a plugin that cannot load (not allowed, not found, incompatible, invalid
    config, wrong kind, not matching its Protocol): `Container.create` raises it.

    A `SettingsError` too (``.errors`` lists ``(setting path, reason)``), of category
    ``plugin``; ``__cause__`` is the first plugin's own error.
    """
