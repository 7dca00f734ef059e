"""Validated ferrolog settings: one pydantic-settings model per container.

`Settings` is read from (lowest to highest precedence) its defaults, a TOML or JSON file,
environment variables prefixed ``FERROLOG_`` (nested with ``__``), and explicit overrides.
Every model forbids unknown keys, so a typo is an error that names the field instead of a
silently ignored option.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import types
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict

from ferrolog._native import STANDARD_LEVELS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = [
    "LEVELS",
    "AuditSettings",
    "ComplianceSettings",
    "FileSink",
    "NullSink",
    "PluginRef",
    "PluginSink",
    "PluginsSettings",
    "RedactionSettings",
    "RingSettings",
    "Settings",
    "SettingsError",
    "SinkSettings",
    "StderrSink",
    "StdoutSink",
    "UnsupportedSettingError",
    "parse_level",
]

#: Level names accepted anywhere a level is configured (case-insensitive), with stdlib's numbers:
#: the native standard table, the one source of level names.
LEVELS: Mapping[str, int] = types.MappingProxyType(
    {name.upper(): number for name, number in STANDARD_LEVELS.items()}
)

_PLUGIN_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$|^[A-Za-z0-9][\w.\-]*$")


def parse_level(value: object) -> int:
    """Return the numeric level for a stdlib number or a case-insensitive level name.

    Raises ``ValueError`` naming the valid level names when the name is unknown.
    """
    if isinstance(value, bool):
        raise ValueError(f"a level is an int or a level name, not {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"a level is a non-negative number, got {value}")
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return int(text)
        try:
            return LEVELS[text.upper()]
        except KeyError:
            valid = ", ".join(f"{name} ({number})" for name, number in LEVELS.items())
            raise ValueError(f"unknown level {value!r}; valid levels: {valid}") from None
    raise ValueError(f"a level is an int or a level name, not {type(value).__name__}")


class _Model(BaseModel):
    # Frozen so a container's settings cannot change under it; `extra="forbid"` turns a
    # misspelt key into an error naming it.
    model_config = ConfigDict(extra="forbid", frozen=True)


class RingSettings(_Model):
    """The bounded in-memory ring between callers and the writer thread."""

    capacity_bytes: int = Field(default=4 * 1024 * 1024, ge=4096)
    overflow: Literal["drop", "block"] = "drop"
    #: With ``overflow="block"``: the longest a sync call waits for space before dropping.
    block_timeout: float = Field(default=1.0, gt=0)
    #: The most bytes handed to the sinks in one write.
    batch_bytes: int = Field(default=64 * 1024, ge=4096)
    #: Seconds the writer waits for a batch to fill after its first record.
    linger: float = Field(default=0.001, ge=0, le=1)
    #: One event's size cap (longer events are truncated with a marker); by default 64 KiB,
    #: or half the ring when that is smaller.
    max_event_bytes: int | None = Field(default=None, ge=256)


class StdoutSink(_Model):
    """JSON lines to standard output."""

    type: Literal["stdout"] = "stdout"


class StderrSink(_Model):
    """JSON lines to standard error."""

    type: Literal["stderr"] = "stderr"


class NullSink(_Model):
    """Counts and discards every line (benchmarks, tests)."""

    type: Literal["null"] = "null"


class FileSink(_Model):
    """JSON lines appended to a file, with optional size/time rotation."""

    type: Literal["file"] = "file"
    path: Path
    #: Rotate when the file would grow past this many bytes.
    max_bytes: int | None = Field(default=None, ge=1)
    #: Rotate on a schedule: ``"hourly"``, ``"daily"`` or a period in seconds.
    rotate_every: Literal["hourly", "daily"] | Annotated[int, Field(ge=1)] | None = None
    #: Rotated files to keep.
    backups: int = Field(default=5, ge=0)
    compress: bool = False
    mode: int = Field(default=0o640, ge=0, le=0o777)
    #: Time rotation boundaries in UTC (True) or local time (False).
    utc: bool = True


class PluginSink(_Model):
    """A sink provided by a plugin: an allowed plugin's name or ``"module:Class"``."""

    type: Literal["plugin"] = "plugin"
    name: str
    config: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _PLUGIN_REF.match(value):
            raise ValueError(
                f"plugin name {value!r} is neither a plugin name nor a 'package.module:Class'"
            )
        return value


SinkSettings = Annotated[
    Union[StdoutSink, StderrSink, FileSink, NullSink, PluginSink],  # noqa: UP007
    Field(discriminator="type"),
]


class PluginRef(_Model):
    """A caller-side plugin (filter, enricher or redactor) and its own configuration."""

    name: str
    config: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        return PluginSink._check_name(value)


class PluginsSettings(_Model):
    """Which plugins may load, and where the marketplace index lives."""

    allow: list[str] = Field(default_factory=list)
    index: str | None = None


class RedactionSettings(_Model):
    """Fields and patterns masked before an event is encoded."""

    presets: list[str] = Field(default_factory=list)
    fields: list[str] = Field(default_factory=list)
    patterns: list[str] = Field(default_factory=list)
    replacement: str = "[REDACTED]"

    @field_validator("patterns")
    @classmethod
    def _check_patterns(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"pattern {pattern!r} is not a valid regex: {exc}") from None
        return value


class AuditSettings(_Model):
    """The tamper-evident audit trail."""

    path: Path | None = None


class ComplianceSettings(_Model):
    """Compliance profiles validated against the whole configuration."""

    profiles: list[Literal["pci-dss", "hipaa", "sox", "gdpr"]] = Field(default_factory=list)


def _default_sinks() -> list[SinkSettings]:
    return [StdoutSink()]


class SettingsError(ValueError):
    """Settings could not be read or are invalid; the message names the file and each field."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class UnsupportedSettingError(SettingsError):
    """Valid settings that this build of ferrolog cannot honour yet (never silently ignored)."""


with warnings.catch_warnings():
    # `schema` is part of the public contract; it shadows pydantic's deprecated
    # `BaseModel.schema()` classmethod, which ferrolog never uses.
    warnings.filterwarnings("ignore", message='Field name "schema"', category=UserWarning)

    class Settings(BaseSettings):
        """Everything one container needs: level, schema, ring, sinks and policies.

        Precedence, lowest first: defaults, a settings file, ``FERROLOG_*`` environment
        variables, values given in code. So ``Settings()`` is the environment over the
        defaults, ``Settings.from_mapping(m)`` is ``m`` over the environment, and
        ``await Settings.load(path)`` is the environment over the file.
        """

        model_config = SettingsConfigDict(
            env_prefix="FERROLOG_",
            env_nested_delimiter="__",
            extra="forbid",
            frozen=True,
        )

        level: int = 20
        #: Custom levels of this container, name to number, e.g. ``{"notice": 25}``; usable
        #: in ``level`` and in ``log("notice", ...)``. Never registered globally.
        levels: dict[str, int] = Field(default_factory=dict)
        schema: Literal["default", "ecs", "otel"] = "default"  # type: ignore[assignment]
        ring: RingSettings = Field(default_factory=RingSettings)
        sinks: list[SinkSettings] = Field(default_factory=_default_sinks)
        filters: list[PluginRef] = Field(default_factory=list)
        enrichers: list[PluginRef] = Field(default_factory=list)
        redactors: list[PluginRef] = Field(default_factory=list)
        plugins: PluginsSettings = Field(default_factory=PluginsSettings)
        redaction: RedactionSettings = Field(default_factory=RedactionSettings)
        audit: AuditSettings = Field(default_factory=AuditSettings)
        compliance: ComplianceSettings = Field(default_factory=ComplianceSettings)

        @model_validator(mode="before")
        @classmethod
        def _custom_level_names(cls, data: Any) -> Any:
            # A custom level's name may be used as `level`: resolve it before the field check.
            if isinstance(data, dict):
                custom = data.get("levels") or {}
                level = data.get("level")
                if isinstance(custom, dict) and isinstance(level, str):
                    lowered = {str(k).lower(): v for k, v in custom.items()}
                    if level.strip().lower() in lowered:
                        data = {**data, "level": lowered[level.strip().lower()]}
            return data

        @field_validator("level", mode="before")
        @classmethod
        def _normalize_level(cls, value: object) -> int:
            return parse_level(value)

        @field_validator("levels")
        @classmethod
        def _check_custom_levels(cls, value: dict[str, int]) -> dict[str, int]:
            for name, number in value.items():
                if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
                    raise ValueError(f"custom level name {name!r}: use letters, digits and '_'")
                if name.upper() in LEVELS:
                    raise ValueError(f"custom level {name!r} would shadow a standard level")
                if not 1 <= number <= 100:
                    raise ValueError(f"custom level {name!r}: number {number} is not in 1..100")
            return value

        @classmethod
        def from_mapping(cls, mapping: Mapping[str, Any], *, source: str | None = None) -> Settings:
            """Validate ``mapping`` (keys it leaves out come from the environment, then defaults).

            Raises `SettingsError` naming ``source`` (when given) and every invalid field path.
            """
            try:
                return cls.model_validate(dict(mapping))
            except ValidationError as exc:
                raise _settings_error(exc, source, path=None) from None

        @classmethod
        async def load(
            cls, path: str | os.PathLike[str] | None = None, **overrides: Any
        ) -> Settings:
            """Read a TOML or JSON file (off the event loop), then the environment, then overrides.

            Without ``path`` this is the environment over the defaults. Raises `SettingsError`
            naming the file and the invalid field paths.
            """
            data: dict[str, Any] = {}
            source: str | None = None
            if path is not None:
                source = os.fspath(path)
                data = await asyncio.to_thread(_read_file, source)
            env = EnvSettingsSource(cls)()
            merged = _deep_merge(_deep_merge(data, env), overrides)
            if env:
                names = ", ".join(
                    sorted(k for k in os.environ if k.upper().startswith("FERROLOG_"))
                )
                source = f"{source} + environment ({names})" if source else f"environment ({names})"
            try:
                return cls.model_validate(merged)
            except ValidationError as exc:
                raise _settings_error(exc, source, path=path) from None


def _read_file(path: str) -> dict[str, Any]:
    """Parse a settings file; the format comes from the suffix (``.json``, else TOML)."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise SettingsError(f"cannot read settings file {path}: {exc.strerror}", path=path) from exc
    try:
        if path.lower().endswith(".json"):
            data = json.loads(raw)
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


def _deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``top`` over ``base``; nested tables merge, anything else (lists too) is replaced."""
    merged = dict(base)
    for key, value in top.items():
        current = merged.get(key)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            merged[key] = _deep_merge(current, value)
        else:
            merged[key] = value
    return merged


def _settings_error(
    exc: ValidationError, source: str | None, *, path: str | os.PathLike[str] | None
) -> SettingsError:
    where = f" in {source}" if source else ""
    lines = [f"invalid ferrolog settings{where}:"]
    for error in exc.errors(include_url=False):
        loc = ".".join(str(part) for part in error["loc"]) or "(top level)"
        lines.append(f"  {loc}: {error['msg']}")
    return SettingsError("\n".join(lines), path=None if path is None else os.fspath(path))
