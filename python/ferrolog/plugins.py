"""The plugin contract: the Protocol of each plugin kind and the declaration every plugin makes.

A plugin is a class with these class attributes::

    name = "jsonl-file"          # how settings refer to it (plugins.allow, sinks[].name)
    kind = "sink"                # "sink" | "filter" | "enricher" | "redactor"
    version = "1.2.0"            # the plugin's own version
    api_version = ">=1.0,<2"     # PEP 440 specifier on ferrolog.PLUGIN_API_VERSION
    requires = ("other",)        # optional: plugins to start before this one
    class Config(BaseModel): ... # its settings, validated before it is constructed

and a constructor taking the validated ``Config`` instance. The methods its kind needs are
the Protocols below; ``start``/``flush``/``stop`` are optional for every kind, and any
method may be a plain or a coroutine function. `check_plugin_class` checks all of this when
a plugin is loaded, so a broken plugin fails with its name at load time, not at first use.
"""

from __future__ import annotations

import inspect
import re
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeAlias, runtime_checkable

from pydantic import BaseModel

from ferrolog._plugin_errors import PluginDeclarationError, SpecifierError
from ferrolog._specifier import Specifier, parse_release, parse_specifier

__all__ = [
    "KINDS",
    "PLUGIN_API_VERSION",
    "EnricherPlugin",
    "FilterPlugin",
    "PluginDeclaration",
    "PluginKind",
    "RedactorPlugin",
    "SinkPlugin",
    "check_plugin_class",
    "lines",
    "protocol_for",
]

#: The version of the plugin API this ferrolog provides; plugins declare a PEP 440
#: specifier on it (``api_version = ">=1.0,<2"``). The major number changes when a
#: Protocol changes incompatibly.
PLUGIN_API_VERSION = "1.0"

#: What a plugin can be.
PluginKind: TypeAlias = Literal["sink", "filter", "enricher", "redactor"]
KINDS: tuple[PluginKind, ...] = ("sink", "filter", "enricher", "redactor")

_NAME = re.compile(r"^[A-Za-z0-9][\w.\-]*$")


@runtime_checkable
class SinkPlugin(Protocol):
    """A sink: gets whole batches of NDJSON lines on its pipeline's sink runner thread.

    Optional: ``start()`` before the first batch, ``flush()`` when the pipeline flushes,
    ``stop()`` when it closes (each plain or ``async``). The runner owns these calls.
    """

    def write_batch(self, batch: memoryview, /) -> object:
        """Write complete JSON lines; the view is valid only during the call."""


@runtime_checkable
class FilterPlugin(Protocol):
    """A caller-side filter: an event (``message``, ``level``, ``logger``, fields) passes when
    ``accept`` returns true."""

    def accept(self, event: Mapping[str, Any], /) -> bool:
        """Whether the event is logged."""


@runtime_checkable
class EnricherPlugin(Protocol):
    """A caller-side enricher: returns fields to add to the event."""

    def enrich(self, event: Mapping[str, Any], /) -> Mapping[str, Any]:
        """The fields to add."""


@runtime_checkable
class RedactorPlugin(Protocol):
    """A caller-side redactor: returns the event with sensitive values masked."""

    def redact(self, event: dict[str, Any], /) -> dict[str, Any]:
        """The redacted event."""


# kind -> (required method, the number of arguments after self it is called with)
_REQUIRED: Mapping[str, tuple[str, int]] = types.MappingProxyType(
    {
        "sink": ("write_batch", 1),
        "filter": ("accept", 1),
        "enricher": ("enrich", 1),
        "redactor": ("redact", 1),
    }
)
_OPTIONAL = ("start", "flush", "stop")


def protocol_for(kind: str) -> type:
    """The Protocol class plugins of ``kind`` implement."""
    protocols: dict[str, type] = {
        "sink": SinkPlugin,
        "filter": FilterPlugin,
        "enricher": EnricherPlugin,
        "redactor": RedactorPlugin,
    }
    return protocols[kind]


@dataclass(frozen=True)
class PluginDeclaration:
    """What a plugin class declares, checked: see `check_plugin_class`."""

    name: str
    kind: PluginKind
    version: str
    api_version: str
    specifier: Specifier
    requires: tuple[str, ...]
    config_model: type[BaseModel]
    cls: type

    def compatible_with(self, api_version: str = PLUGIN_API_VERSION) -> bool:
        """Whether this plugin works with the plugin API ``api_version``."""
        return self.specifier.contains(parse_release(api_version))


def _callable_with(function: object, arguments: int) -> bool:
    """Whether ``function`` (looked up on the class) can be called with self + ``arguments``."""
    try:
        signature = inspect.signature(function)  # type: ignore[arg-type]
    except (TypeError, ValueError):  # builtins without a signature: trust them
        return True
    try:
        signature.bind(*([None] * (arguments + 1)))
    except TypeError:
        return False
    return True


def check_plugin_class(value: object, *, loaded_as: str) -> PluginDeclaration:
    """Check that ``value`` is a plugin class keeping the contract; return its declaration.

    ``loaded_as`` is the entry point name, module file stem or ``"module:Class"`` reference
    it was loaded under (an entry point or module name must equal the declared ``name``).
    Raises `PluginDeclarationError` naming the plugin and every problem found.
    """
    where = f"plugin {loaded_as!r}"
    if not isinstance(value, type):
        raise PluginDeclarationError(
            f"{where} is a {type(value).__name__}, not a class: a plugin is a class with "
            "name, kind, version, api_version and Config",
            plugin=loaded_as,
        )
    cls = value
    where = f"plugin {loaded_as!r} ({cls.__module__}.{cls.__qualname__})"
    problems: list[str] = []
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not _NAME.match(name):
        problems.append(f"name must be a str of letters, digits, '.', '-', '_', not {name!r}")
    elif ":" not in loaded_as and name != loaded_as:
        problems.append(
            f"it declares name {name!r} but is installed as {loaded_as!r}; make the entry "
            "point (or module file) name equal the plugin's name"
        )
    kind = getattr(cls, "kind", None)
    if kind not in KINDS:
        problems.append(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    version = getattr(cls, "version", None)
    if not isinstance(version, str) or not version.strip():
        problems.append(f"version must be a non-empty str such as '1.0.0', not {version!r}")
    api_version = getattr(cls, "api_version", None)
    specifier: Specifier | None = None
    try:
        specifier = parse_specifier(api_version)  # type: ignore[arg-type]
    except SpecifierError as exc:
        problems.append(f"api_version: {exc}")
    requires = getattr(cls, "requires", ())
    if isinstance(requires, str) or not isinstance(requires, (tuple, list)):
        problems.append(f"requires must be a tuple of plugin names, not {requires!r}")
        requires = ()
    elif not all(isinstance(item, str) for item in requires):
        problems.append(f"requires must hold plugin names (str), not {requires!r}")
        requires = ()
    config_model = getattr(cls, "Config", None)
    if not (isinstance(config_model, type) and issubclass(config_model, BaseModel)):
        problems.append(
            f"Config must be a pydantic model class (class Config(BaseModel): ...), "
            f"not {config_model!r}"
        )
    if isinstance(kind, str) and kind in _REQUIRED:
        method, arguments = _REQUIRED[kind]
        function = getattr(cls, method, None)
        if not callable(function):
            problems.append(f"a {kind} plugin needs a method {method}(self, ...)")
        elif not _callable_with(function, arguments):
            problems.append(f"{method} must accept {arguments} argument(s) after self")
    for method in _OPTIONAL:
        function = getattr(cls, method, None)
        if function is not None and (not callable(function) or not _callable_with(function, 0)):
            problems.append(f"{method}, when defined, must be a method taking no arguments")
    try:
        inspect.signature(cls).bind(None)
    except TypeError:
        problems.append("its constructor must take the validated Config instance as argument")
    except ValueError:  # no signature to inspect
        pass
    if problems:
        raise PluginDeclarationError(
            f"{where} breaks the plugin contract:\n" + "\n".join(f"  {p}" for p in problems),
            plugin=loaded_as,
        )
    assert specifier is not None
    assert isinstance(config_model, type)
    assert issubclass(config_model, BaseModel)
    return PluginDeclaration(
        name=str(name),
        kind=kind,  # type: ignore[arg-type]
        version=str(version),
        api_version=str(api_version),
        specifier=specifier,
        requires=tuple(requires),
        config_model=config_model,
        cls=cls,
    )


_LINE = re.compile(rb"[^\n]*\n")


def lines(batch: memoryview) -> Iterator[memoryview]:
    """The lines of a sink's batch, each a slice of ``batch`` with its ``\n`` (no copy).

    Like ``batch`` itself, the slices are only valid during the ``write_batch`` call: copy
    (``bytes(line)``) what must outlive it. A batch holds complete lines only; anything
    after the last ``\n`` (never there in a batch from ferrolog) is not yielded.
    """
    for match in _LINE.finditer(batch):
        yield batch[match.start() : match.end()]
