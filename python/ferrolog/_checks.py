"""The checks that need I/O, run after the settings parsed: sinks, plugins, the audit trail.

`check_startup` collects every problem of every kind and raises them together, each with
its dotted setting path, so one run of ``ferrolog config check`` (or one failed
``Container.create``) shows all there is to fix. Blocking: run it off the event loop.
"""

from __future__ import annotations

from ferrolog._hierarchy import ConfigurationError
from ferrolog._pipeline import sink_problems
from ferrolog._plugin_errors import PluginSettingsError
from ferrolog.audit import path_problem
from ferrolog.config import Settings, SettingsError
from ferrolog.observability import resolve_callback
from ferrolog.registry import PluginRegistry

__all__ = ["check_startup"]


def _split(line: str) -> tuple[str, str]:
    where, _, message = line.partition(": ")
    return where, message


def check_startup(settings: Settings, registry: PluginRegistry, *, audit_path: bool = True) -> None:
    """Raise one error listing every sink, plugin and (with ``audit_path``) audit problem of
    ``settings``. `Container.create` leaves the audit trail to its own opening, which raises
    `AuditError`.

    Only plugin problems: a `PluginSettingsError` (category ``plugin``); anything else:
    a `SettingsError` listing all of them, plugins included, by section.
    """
    sinks = [_split(line) for line in sink_problems(settings)]
    plugin_errors = registry.settings_problems(settings)
    plugins = [(where, str(error)) for where, error in plugin_errors]
    audit: list[tuple[str, str]] = []
    if audit_path and settings.audit.path is not None:
        problem = path_problem(settings.audit.path)
        if problem is not None:
            audit.append(("audit.path", problem))
    observability: list[tuple[str, str]] = []
    callback = settings.observability.callback
    if callback is not None:
        try:
            resolve_callback(callback)
        except ConfigurationError as exc:
            observability.append(("observability.callback", str(exc).partition(": ")[2]))
    sections = [
        ("ferrolog cannot start these sinks", sinks),
        ("ferrolog cannot load these plugins", plugins),
        ("ferrolog cannot open the audit trail", audit),
        ("ferrolog cannot call the metrics callback", observability),
    ]
    text = "\n".join(
        header
        + ":\n"
        + "\n".join(
            f"  {where}: {message.replace(chr(10), chr(10) + '  ')}" for where, message in found
        )
        for header, found in sections
        if found
    )
    errors = tuple(sinks + plugins + audit + observability)
    if not errors:
        return
    if not sinks and not audit and not observability:
        raise PluginSettingsError(text, errors=errors) from plugin_errors[0][1]
    raise SettingsError(text, errors=errors)
