"""Where settings come from and how their errors read: the environment, files, merging.

`SettingsError` and the ``FERROLOG_*`` environment source live here, below
`ferrolog.config` (which re-exports the errors), so the models stay readable on their own.
"""

from __future__ import annotations

import difflib
import importlib
import json
import os
import re
import sys
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pydantic_settings
from pydantic import BaseModel, ValidationError
from pydantic_settings import EnvSettingsSource

from ferrolog._hierarchy import ConfigurationError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = [
    "ENV_DELIMITER",
    "ENV_PREFIX",
    "EnvSource",
    "SettingsError",
    "UnsupportedSettingError",
    "deep_merge",
    "merge_env_lists",
    "read_file",
    "settings_error",
    "with_source",
    "without",
]


class SettingsError(ConfigurationError, ValueError):
    """Settings could not be read or are invalid; the message names the source and each field.

    A `ConfigurationError` (category ``configuration``) that is also a ``ValueError``.

    ``.errors`` lists each problem as ``(where, message)``: ``where`` is a field path such as
    ``"sinks.0.path"`` or an environment variable's name. ``.path`` is the settings file.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        errors: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(message, **({} if path is None else {"path": path}))
        self.path = path
        self.errors = errors


class UnsupportedSettingError(SettingsError):
    """Valid settings that this build of ferrolog cannot honour yet (never silently ignored)."""


ENV_PREFIX = "FERROLOG_"
ENV_DELIMITER = "__"


class EnvSource(EnvSettingsSource):
    """``FERROLOG_*`` variables, with every unknown name and unparsable value an error."""

    def __call__(self) -> dict[str, Any]:
        _check_environment_names(self.settings_cls)
        try:
            values = super().__call__()
        except pydantic_settings.SettingsError as exc:
            match = re.search(r'field "(\w+)"', str(exc))
            field = match.group(1) if match else ""
            names = _environment_names_for(field) or [f"{ENV_PREFIX}{field.upper()}"]
            cause = exc.__cause__ or exc
            message = f"{', '.join(names)}: cannot parse the value as JSON: {cause}"
            raise SettingsError(
                f"invalid ferrolog settings in the environment:\n  {message}",
                errors=tuple((name, f"cannot parse the value as JSON: {cause}") for name in names),
            ) from None
        indexed = _indexed_lists(values)
        assert isinstance(indexed, dict)
        return indexed


def _indexed_lists(value: Any) -> Any:
    """Tables whose keys are all list indices (``FERROLOG_SINKS__0__PATH`` gives
    ``{"sinks": {"0": {"path": ...}}}``) as lists; a missing index is an empty table (so it
    takes the settings file's element at that index, or is reported as incomplete)."""
    if not isinstance(value, dict):
        return value
    converted = {key: _indexed_lists(item) for key, item in value.items()}
    if converted and all(isinstance(key, str) and key.isdigit() for key in converted):
        items: list[Any] = [{} for _ in range(max(int(key) for key in converted) + 1)]
        for key, item in converted.items():
            items[int(key)] = item
        return items
    return converted


def merge_env_lists(data: Mapping[str, Any], env: Mapping[str, Any]) -> dict[str, Any]:
    """The file's lists that list-index variables change, merged element by element.

    ``FERROLOG_SINKS__1__PATH`` changes the path of the file's second sink and keeps its
    other keys and the other sinks; the result, given as explicit values, wins over the
    environment's partial list.
    """
    merged: dict[str, Any] = {}
    for key, top in env.items():
        base = data.get(key)
        if isinstance(top, list) and isinstance(base, list):
            items = list(base) + [{}] * max(0, len(top) - len(base))
            for index, element in enumerate(top):
                current = items[index]
                if isinstance(element, Mapping) and isinstance(current, Mapping):
                    items[index] = deep_merge(current, element)
                elif element != {}:
                    items[index] = element
            merged[key] = items
        elif isinstance(top, Mapping) and isinstance(base, Mapping):
            inner = merge_env_lists(base, top)
            if inner:
                merged[key] = inner
    return merged


def _environment_names_for(field: str) -> list[str]:
    head = f"{ENV_PREFIX}{field.upper()}"
    return sorted(
        name
        for name in os.environ
        if name.upper() == head or name.upper().startswith(head + ENV_DELIMITER)
    )


def _known_environment_names(settings_cls: type[BaseModel]) -> list[str]:
    names: list[str] = []
    for field, info in settings_cls.model_fields.items():
        names.append(f"{ENV_PREFIX}{field.upper()}")
        subs = {sub for model in _models_in(info.annotation) for sub in model.model_fields}
        names += [
            f"{ENV_PREFIX}{field.upper()}{ENV_DELIMITER}{sub.upper()}" for sub in sorted(subs)
        ]
    return names


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The models a field's annotation admits: the model itself, or each model of a union
    (e.g. the ``fallback`` sink, one of several models told apart by ``type``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in typing.get_args(annotation) for model in _models_in(arg)]


def _names_a_setting(annotation: Any, parts: list[str]) -> bool:
    """Whether the ``__``-separated ``parts`` lead from ``annotation`` to a setting: a field
    of a model, an index of a list (``SINKS__0__PATH``), or any key of a table."""
    if not parts:
        return True
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _names_a_setting(args[0], parts)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        fields = {name.upper(): info for name, info in annotation.model_fields.items()}
        info = fields.get(parts[0].upper())
        return info is not None and _names_a_setting(info.annotation, parts[1:])
    if origin in (tuple, list) and args:
        return parts[0].isdigit() and _names_a_setting(args[0], parts[1:])
    if origin is not None and isinstance(origin, type) and issubclass(origin, Mapping):
        return True
    if args:  # a union (sinks of several types, X | None)
        return any(_names_a_setting(arg, parts) for arg in args if arg is not type(None))
    return False


def _check_environment_names(settings_cls: type[BaseModel]) -> None:
    """Refuse ``FERROLOG_*`` variables that configure nothing, suggesting the likely name."""
    known = _known_environment_names(settings_cls)
    known_set = set(known)
    problems: list[tuple[str, str]] = []
    for name in sorted(os.environ):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in known_set:
            continue
        if _names_a_setting(settings_cls, upper[len(ENV_PREFIX) :].split(ENV_DELIMITER)):
            continue
        close = difflib.get_close_matches(upper, known, n=1, cutoff=0.75)
        hint = f"; did you mean {close[0]}?" if close else ""
        problems.append((name, f"unknown ferrolog setting{hint}"))
    if problems:
        lines = "\n".join(f"  {name}: {message}" for name, message in problems)
        raise SettingsError(
            "invalid ferrolog settings in the environment "
            f"(every {ENV_PREFIX}* variable must name a setting):\n{lines}",
            errors=tuple(problems),
        )


def _yaml() -> Any:
    """PyYAML, an optional dependency (imported only for a ``.yaml``/``.yml`` file)."""
    try:
        return importlib.import_module("yaml")
    except ImportError:
        return None


def read_file(path: str) -> dict[str, Any]:
    """Parse a settings file; the format comes from the suffix: ``.json``, ``.yaml``/``.yml``
    (with PyYAML installed), anything else TOML."""
    is_yaml = path.lower().endswith((".yaml", ".yml"))
    yaml = _yaml() if is_yaml else None
    if is_yaml and yaml is None:
        raise SettingsError(
            f"cannot read settings file {path}: YAML needs PyYAML, which is not installed; "
            "pip install pyyaml (or use a TOML or JSON file)",
            path=path,
        )
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise SettingsError(f"cannot read settings file {path}: {exc.strerror}", path=path) from exc
    try:
        if path.lower().endswith(".json"):
            data = json.loads(raw)
        elif yaml is not None:
            try:
                data = yaml.safe_load(raw.decode("utf-8"))
            except yaml.YAMLError as exc:
                raise ValueError(str(exc)) from exc
        else:
            data = tomllib.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise SettingsError(f"cannot parse settings file {path}: {exc}", path=path) from exc
    if not isinstance(data, dict):
        raise SettingsError(
            f"settings file {path} must hold a table/object at the top level, "
            f"not {type(data).__name__}",
            path=path,
        )
    return data


def deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``top`` over ``base``; nested tables merge, anything else (lists too) is replaced."""
    merged = dict(base)
    for key, value in top.items():
        current = merged.get(key)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            merged[key] = deep_merge(current, value)
        else:
            merged[key] = value
    return merged


def without(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` minus every value that merging ``top`` over it would replace."""
    kept = dict(base)
    for key, value in top.items():
        current = kept.get(key)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            kept[key] = without(current, value)
        else:
            kept.pop(key, None)
    return kept


def _has_path(values: Mapping[str, Any], path: tuple[str | int, ...]) -> bool:
    current: Any = values
    for part in path:
        if isinstance(current, Mapping) and str(part) in current:
            current = current[str(part)]
        elif isinstance(current, BaseModel) and isinstance(part, str) and hasattr(current, part):
            current = getattr(current, part)
        else:
            return False
    return True


def _env_name(loc: tuple[str | int, ...], explicit: Mapping[str, Any]) -> str | None:
    """The ``FERROLOG_*`` variable an error at ``loc`` came from, if a variable set it."""
    present = {name.upper() for name in os.environ}
    for end in range(len(loc), 0, -1):
        name = ENV_PREFIX + ENV_DELIMITER.join(str(part).upper() for part in loc[:end])
        if name in present:
            return None if _has_path(explicit, loc[:end]) else name
    return None


#: Field names whose values are secrets: never echoed in an error.
SECRET_FIELDS = frozenset({"token", "headers"})
_MAX_SHOWN = 120
_URL_CREDENTIALS = re.compile(r"(://)[^/@\s]*@")


def _given(error: Mapping[str, Any], loc: tuple[str | int, ...]) -> str:
    """`` (given: ...)`` for an error's input: scalars only, masked under a secret field."""
    if error.get("type") == "missing" or "input" not in error:
        return ""
    value = error["input"]
    if isinstance(value, (Mapping, list, tuple, BaseModel)) or value is None:
        return ""
    if any(part in SECRET_FIELDS for part in loc):
        return " (given: '**********')"
    # A URL's user:password is a secret too (the url check refuses it for that reason).
    shown = _URL_CREDENTIALS.sub(r"\1**********@", repr(value))
    if len(shown) > _MAX_SHOWN:
        shown = shown[:_MAX_SHOWN] + "..."
    return f" (given: {shown})"


def settings_error(exc: ValidationError, *, explicit: Mapping[str, Any]) -> SettingsError:
    """Every error of ``exc`` with its dotted path and the value given (secrets masked)."""
    errors: list[tuple[str, str]] = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        where = ".".join(str(part) for part in loc) or "(top level)"
        env = _env_name(loc, explicit)
        message = error["msg"] + _given(error, loc)
        if env is not None:
            message += f" (from {env})"
        errors.append((where, message))
    return _render(errors, None, None)


def _render(
    errors: list[tuple[str, str]] | tuple[tuple[str, str], ...],
    source: str | None,
    path: str | None,
) -> SettingsError:
    where = f" in {source}" if source else ""
    lines = [f"invalid ferrolog settings{where}:"]
    lines += [f"  {loc}: {message}" for loc, message in errors]
    return SettingsError("\n".join(lines), path=path, errors=tuple(errors))


def with_source(exc: SettingsError, source: str | None, path: str | None) -> SettingsError:
    """``exc`` with ``source`` named in its first line (errors without field detail pass)."""
    if source is None or not exc.errors:
        return exc
    suffix = " + environment" if any(loc.startswith(ENV_PREFIX) for loc, _ in exc.errors) else ""
    error = _render(exc.errors, f"{source}{suffix}", path)
    error.__cause__ = exc.__cause__
    return error
