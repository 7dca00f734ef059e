"""Validated ferrolog settings: one pydantic-settings model per container.

`Settings` is read from (lowest to highest precedence) its defaults, a TOML, JSON or YAML
file, environment variables prefixed ``FERROLOG_`` (nested with ``__``), and explicit overrides.
Every model forbids unknown keys, so a typo is an error that names the field instead of a
silently ignored option.
"""

from __future__ import annotations

import asyncio
import os
import re
import types
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from ferrolog._frozen import FrozenMap, freeze, thaw
from ferrolog._native import STANDARD_LEVELS, redaction_pattern_error
from ferrolog._settings_sources import (
    ENV_DELIMITER,
    ENV_PREFIX,
    EnvSource,
    SettingsError,
    UnsupportedSettingError,
    deep_merge,
    merge_env_lists,
    read_file,
    settings_error,
    with_source,
    without,
)
from ferrolog.compliance import check as check_compliance
from ferrolog.units import ByteSize, Duration, parse_rotation

__all__ = [
    "LEVELS",
    "MAX_BATCH_BYTES",
    "MAX_BLOCK_TIMEOUT",
    "MAX_FILE_BYTES",
    "MAX_RING_BYTES",
    "AuditSettings",
    "ComplianceSettings",
    "ConsoleSink",
    "DiagnosticsSettings",
    "FileSink",
    "HttpSink",
    "NullSink",
    "ObservabilitySettings",
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
    "SyslogSink",
    "UnsupportedSettingError",
    "max_event_bytes_for",
    "parse_level",
]

#: Level names accepted anywhere a level is configured (case-insensitive), with stdlib's numbers:
#: the native standard table, the one source of level names.
LEVELS: Mapping[str, int] = types.MappingProxyType(
    {name.upper(): number for name, number in STANDARD_LEVELS.items()}
)

_PLUGIN_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$|^[A-Za-z0-9][\w.\-]*$")

#: The largest ring (1 GiB): its memory is allocated up front, per container.
MAX_RING_BYTES = 1 << 30
#: The largest batch handed to the sinks in one write (64 MiB).
MAX_BATCH_BYTES = 64 << 20
#: The longest a sync log call may wait for ring space with ``overflow="block"`` (seconds).
MAX_BLOCK_TIMEOUT = 60.0
#: The largest size limit of one log file before it rotates (1 TiB).
MAX_FILE_BYTES = 1 << 40
#: The most rotated files a file sink may keep.
MAX_BACKUPS = 1000
#: The longest rotation period in seconds (366 days).
MAX_ROTATE_SECONDS = 366 * 86_400
# The ring stores each record behind a 4-byte length and refuses one larger than half of its
# capacity, which it rounds up to a power of two (rust/core/src/ring.rs).
_RECORD_PREFIX = 4


def max_event_bytes_for(capacity_bytes: int) -> int:
    """The largest ``ring.max_event_bytes`` a ring of ``capacity_bytes`` accepts."""
    rounded = 1 << max(capacity_bytes - 1, 4095).bit_length()
    return rounded // 2 - _RECORD_PREFIX


def _empty_mapping() -> Mapping[str, Any]:
    return FrozenMap()


#: A plugin's own configuration: any JSON-like data, frozen after validation.
FrozenConfig = Annotated[
    Mapping[str, Any],
    AfterValidator(freeze),
    PlainSerializer(thaw, return_type=dict[str, Any]),
]
#: Custom levels, name to number, frozen after validation.
FrozenLevels = Annotated[
    Mapping[str, int],
    PlainSerializer(thaw, return_type=dict[str, int]),
]


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
    """The bounded in-memory ring between callers and the writer thread.

    Every size is bounded both ways; an out-of-range value is an error naming the field.
    """

    #: Bytes of the ring, 4096 ..= 1 GiB (rounded up to a power of two; allocated up front).
    capacity_bytes: ByteSize = Field(
        default=4 * 1024 * 1024,
        ge=4096,
        le=MAX_RING_BYTES,
        description="Ring size in bytes, 4096 to 1 GiB, rounded up to a power of two.",
    )
    #: What a sync call does when the ring is full: ``"drop"`` the event (counted) or
    #: ``"block"`` up to ``block_timeout`` (never on a thread running an event loop).
    overflow: Literal["drop", "block"] = "drop"
    #: With ``overflow="block"``: the longest a sync call waits for space before dropping,
    #: more than 0 and at most 60 seconds.
    block_timeout: Duration = Field(
        default=1.0,
        gt=0,
        le=MAX_BLOCK_TIMEOUT,
        description="Seconds a sync call waits for ring space (overflow=block), (0, 60].",
    )
    #: The most bytes handed to the sinks in one write, 4096 ..= 64 MiB.
    batch_bytes: ByteSize = Field(
        default=64 * 1024,
        ge=4096,
        le=MAX_BATCH_BYTES,
        description="Most bytes handed to the sinks in one write, 4096 to 64 MiB.",
    )
    #: Seconds the writer waits for a batch to fill, 0 ..= 1: its shortest nap before a drain.
    #: While drains come out small (a trickle) the naps double up to 16 lingers (16 ms by
    #: default); a drain of half a batch halves them again, and a producer that finds the ring
    #: half full wakes the writer at once. 0: no batching delay.
    linger: Duration = Field(
        default=0.001,
        ge=0,
        le=1,
        description=(
            "Seconds the writer waits for a batch to fill, 0 to 1; up to 16 times that while "
            "batches come out small."
        ),
    )
    #: One event's size cap (longer events are truncated with a marker), at least 256 and at
    #: most half the ring (rounded up to a power of two) minus 4 bytes: the ring refuses
    #: larger records. By default 64 KiB, or that maximum when it is smaller.
    max_event_bytes: ByteSize | None = Field(
        default=None,
        ge=256,
        le=max_event_bytes_for(MAX_RING_BYTES),
        description=(
            "Cap of one event in bytes: at least 256, at most half the ring (rounded up to "
            "a power of two) minus 4. Default: 64 KiB or that maximum."
        ),
    )

    @field_validator("max_event_bytes")
    @classmethod
    def _event_fits_the_ring(cls, value: int | None, info: ValidationInfo) -> int | None:
        capacity = info.data.get("capacity_bytes")
        if value is not None and isinstance(capacity, int):
            limit = max_event_bytes_for(capacity)
            if value > limit:
                raise ValueError(
                    f"{value} does not fit in a ring of capacity_bytes={capacity}: at most "
                    f"{limit} (half the ring minus 4); lower it or raise ring.capacity_bytes"
                )
        return value


#: A level: a stdlib number or a level name (standard or one of the container's ``levels``).
LevelSetting = Annotated[Union[int, str], Field(union_mode="left_to_right")]  # noqa: UP007


class _Routed(_Model):
    """Routing, common to every sink: which events it takes. By default all of them."""

    #: Only events at this level or above (a number or a name).
    min_level: LevelSetting | None = None
    #: Only events at this level or below, e.g. ``max_level = "info"`` for a sink of the
    #: routine events while errors go elsewhere.
    max_level: LevelSetting | None = None
    #: Only events of loggers named so or below (``"app.db"``: ``app.db``, ``app.db.pool``).
    loggers: tuple[str, ...] | None = None

    def route(self) -> dict[str, Any]:
        """The routing keys of the native sink spec (empty without routing)."""
        keys = {"min_level": self.min_level, "max_level": self.max_level}
        out: dict[str, Any] = {k: v for k, v in keys.items() if v is not None}
        if self.loggers is not None:
            out["loggers"] = list(self.loggers)
        return out


class StdoutSink(_Routed):
    """JSON lines to standard output."""

    type: Literal["stdout"] = "stdout"


class StderrSink(_Routed):
    """JSON lines to standard error."""

    type: Literal["stderr"] = "stderr"


class NullSink(_Routed):
    """Counts and discards every line (benchmarks, tests)."""

    type: Literal["null"] = "null"


def _parse_mode(value: object) -> object:
    """An octal string (``"0640"``, ``"0o640"``) as its number; anything else unchanged."""
    if isinstance(value, str):
        text = value.strip().lower().removeprefix("0o")
        if not text or any(c not in "01234567" for c in text):
            raise ValueError(f"{value!r} is not an octal file mode; e.g. 0o640 or '0640'")
        return int(text, 8)
    return value


class FileSink(_Routed):
    """JSON lines appended to a file, with optional size/time rotation.

    The file's directory must exist and be writable: `Container.create` checks it.
    """

    type: Literal["file"] = "file"
    #: The file to append to; its directory must exist.
    path: Path
    #: Rotate when the file would grow past this many bytes, 1 KiB ..= 1 TiB.
    max_bytes: ByteSize | None = Field(
        default=None,
        ge=1024,
        le=MAX_FILE_BYTES,
        description="Rotate past this many bytes, 1 KiB to 1 TiB; none: never by size.",
    )
    #: Rotate on a schedule: ``"hourly"``, ``"daily"`` or a period of 1 ..= 366 days in seconds.
    rotate_every: Annotated[
        Literal["hourly", "daily"] | Annotated[int, Field(ge=1, le=MAX_ROTATE_SECONDS)] | None,
        BeforeValidator(parse_rotation),
    ] = None
    #: Rotated files to keep, 0 ..= 1000.
    backups: int = Field(
        default=5, ge=0, le=MAX_BACKUPS, description="Rotated files to keep, 0 to 1000."
    )
    #: Gzip each rotated file (``app.log.1.gz``) on a background job.
    compress: bool = False
    #: Permission bits of a new file, 0 ..= 0o777: an int (TOML ``0o640``) or an octal
    #: string (``"0640"``, ``"0o640"``, e.g. from an environment variable).
    mode: Annotated[int, BeforeValidator(_parse_mode)] = Field(default=0o640, ge=0, le=0o777)
    #: Time rotation boundaries in UTC (True) or local time (False).
    utc: bool = True


class ConsoleSink(_Routed):
    """Readable lines for development, rendered natively: time, coloured level, aligned logger
    and message, ``key=value`` fields, tracebacks indented below the event.

    ``colors``: ``"auto"`` colours when the stream is a terminal, unless ``NO_COLOR`` is set
    (non-empty) or ``FORCE_COLOR`` asks for colour anyway (non-empty, not ``"0"``), both read
    once when the pipeline starts; ``"always"`` and ``"never"`` decide alone. Control
    characters and escape sequences from events are always shown escaped (docs/console.md).
    """

    type: Literal["console"] = "console"
    colors: Literal["auto", "always", "never"] = "auto"
    #: The stream the lines go to.
    stream: Literal["stdout", "stderr"] = "stdout"


class PluginSink(_Routed):
    """A sink provided by a plugin: an allowed plugin's name or ``"module:Class"``."""

    type: Literal["plugin"] = "plugin"
    #: The plugin: an allowed plugin's name or a ``"module:Class"`` reference.
    name: str
    #: The plugin's own settings, validated by its ``Config`` model.
    config: FrozenConfig = Field(default_factory=_empty_mapping)

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _PLUGIN_REF.match(value):
            raise ValueError(
                f"plugin name {value!r} is neither a plugin name nor a 'package.module:Class'"
            )
        return value


#: Syslog facility names, in number order (``kern`` is 0, ``local7`` is 23).
SYSLOG_FACILITIES = (
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
    "authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
    "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
)  # fmt: skip
_Facility = Literal[
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
    "authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
    "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
]  # fmt: skip


class _ShippingOptions(_Routed):
    """Buffering, retry and breaker options shared by the network sinks.

    The sink's ``write_batch`` only copies into its buffer; its own sender thread delivers,
    retrying failed deliveries with exponential backoff and jitter. ``failure_threshold``
    failed attempts in a row open its circuit breaker for ``recovery_timeout`` seconds (new
    events then go to the fallback sink), then one probe decides (closed / open / half_open).
    """

    #: Bytes buffered for delivery at most; batches beyond it go to the fallback sink.
    max_buffer_bytes: ByteSize = Field(default=16 << 20, ge=4096, le=1 << 32)
    #: Attempts after the first before a delivery is given up (dropped, counted).
    max_retries: int = Field(default=8, ge=0, le=1000)
    #: Failed attempts in a row that open the circuit breaker.
    failure_threshold: int = Field(default=5, ge=1, le=1000)
    #: Seconds an open breaker waits before a probe delivery.
    recovery_timeout: Duration = Field(default=10.0, gt=0, le=3600)
    #: Seconds ``flush()`` waits for the buffer to be delivered (not while the breaker is open).
    flush_timeout: Duration = Field(default=10.0, ge=0, le=3600)
    #: Seconds closing waits for the buffer to be delivered; the rest is dropped, counted.
    close_timeout: Duration = Field(default=5.0, ge=0, le=3600)
    #: Seconds one connection attempt, write or response may take.
    timeout: Duration = Field(default=5.0, gt=0, le=300)


class SyslogSink(_ShippingOptions):
    """Each event to a syslog receiver (rsyslog, syslog-ng, Vector, Fluent Bit...).

    RFC 5424 (or RFC 3164) messages over UDP (no delivery guarantee), TCP (octet-counted
    framing, RFC 6587) or a unix datagram socket such as ``/dev/log``. The event's level is
    the message's severity and the JSON line is its MSG.
    """

    type: Literal["syslog"] = "syslog"
    #: ``"host:port"`` for UDP and TCP, a socket path for unix.
    address: str = "/dev/log"
    #: Default: ``unix`` for a path, ``udp`` for ``host:port``.
    transport: Literal["udp", "tcp", "unix"] | None = None
    #: The message format: RFC 5424 or the older BSD format of RFC 3164.
    format: Literal["rfc5424", "rfc3164"] = "rfc5424"
    #: The syslog facility, by name (``"user"``, ``"local0"`` ...) or number 0 ..= 23.
    facility: _Facility | Annotated[int, Field(ge=0, le=23)] = "user"
    #: The APP-NAME (RFC 5424) or TAG (RFC 3164) of every message.
    app_name: str = Field(default="ferrolog", min_length=1, max_length=48)
    #: Default: this machine's host name.
    hostname: str | None = Field(default=None, min_length=1, max_length=255)
    #: Bytes of lines per delivery (TCP writes them together).
    batch_bytes: ByteSize = Field(default=64 << 10, ge=1024, le=MAX_BATCH_BYTES)
    #: Seconds the sender waits for more events before delivering.
    linger: Duration = Field(default=0.005, ge=0, le=60)

    @model_validator(mode="after")
    def _check_address(self) -> SyslogSink:
        transport = self.transport or ("unix" if self.address.startswith("/") else "udp")
        if transport != "unix":
            host, sep, port = self.address.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(
                    f"address {self.address!r} must be 'host:port' for transport "
                    f"{transport!r} (e.g. '127.0.0.1:514')"
                )
        elif not self.address.startswith("/"):
            raise ValueError(f"address {self.address!r} must be a socket path for unix")
        return self


#: An HTTP header's value; a secret, since headers often carry API keys.
HeaderValues = Annotated[
    Mapping[str, SecretStr],
    AfterValidator(FrozenMap),
    PlainSerializer(lambda m: dict.fromkeys(m, "**********"), return_type=dict[str, str]),
]
#: OTLP resource attributes, e.g. ``{"service.name": "api"}``.
ResourceAttributes = Annotated[
    Mapping[str, Union[str, bool, int, float]],  # noqa: UP007
    AfterValidator(FrozenMap),
    PlainSerializer(thaw, return_type=dict[str, Any]),
]
_HEADER_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


def _no_headers() -> Mapping[str, SecretStr]:
    return FrozenMap()


def _no_resource() -> Mapping[str, str | bool | int | float]:
    return FrozenMap()


class HttpSink(_ShippingOptions):
    """Events POSTed in batches to an HTTP endpoint (Loki, Elasticsearch, Datadog, Vector, an
    OpenTelemetry Collector...).

    ``format``: ``ndjson`` (the lines as they are), ``json_array`` or ``otlp`` (OTLP/HTTP
    logs, JSON encoding, to ``/v1/logs`` when the URL has no path). 2xx is delivered; 408,
    429 and 5xx (honouring ``Retry-After``) and connection errors are retried; other statuses
    drop the batch (counted). ``token`` is sent as ``Authorization: Bearer``; it and the
    header values never appear in a repr, a log or an error. https (rustls) verifies the
    server's certificate unless ``verify_tls`` is false.
    """

    type: Literal["http"] = "http"
    #: The endpoint, ``http://`` or ``https://``.
    url: str = Field(max_length=2048)
    format: Literal["ndjson", "json_array", "otlp"] = "ndjson"
    #: Extra request headers, name to value (never shown in a repr, a log or an error).
    headers: HeaderValues = Field(default_factory=_no_headers)
    #: Sent as ``Authorization: Bearer <token>``; never shown.
    token: SecretStr | None = None
    #: Compress each request body (``Content-Encoding: gzip``).
    gzip: bool = False
    #: Bytes of lines per request at most (one longer line goes alone).
    batch_bytes: ByteSize = Field(default=1 << 20, ge=1024, le=MAX_BATCH_BYTES)
    #: Seconds the sender waits for a batch to fill after its first event.
    linger: Duration = Field(default=0.2, ge=0, le=60)
    timeout: Duration = Field(default=10.0, gt=0, le=300)
    #: https: verify the server's certificate and name (against the system's CA store, or
    #: ``ca_file``). Turn it off only for testing: it is reported on standard error.
    verify_tls: bool = True
    #: https: a PEM file of CA certificates to trust instead of the system's store.
    ca_file: Path | None = None
    #: ``otlp``: the resource attributes of every batch, e.g. ``{"service.name": "api"}``.
    resource: ResourceAttributes = Field(default_factory=_no_resource)

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        scheme, sep, rest = value.partition("://")
        if not sep or scheme not in ("http", "https") or not rest or rest[0] in "/?#":
            raise ValueError("url must be http://host[:port]/path or https://...")
        if "@" in rest.split("/", 1)[0]:
            raise ValueError(
                "url must not contain credentials (user:password@); use token or headers"
            )
        return value

    @field_validator("headers")
    @classmethod
    def _check_headers(cls, value: Mapping[str, SecretStr]) -> Mapping[str, SecretStr]:
        for name, secret in value.items():
            if not _HEADER_NAME.match(name):
                raise ValueError(f"header name {name!r}: use letters, digits, '-' and '_'")
            if name.lower() in ("host", "content-length"):
                raise ValueError(f"header {name!r} is set by the sink itself")
            if any(c in secret.get_secret_value() for c in "\r\n\0"):
                raise ValueError(f"header {name!r}: a value must not contain line breaks")
        return value

    @field_validator("token")
    @classmethod
    def _check_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and any(c in value.get_secret_value() for c in "\r\n\0"):
            raise ValueError("token must not contain line breaks")
        return value


SinkSettings = Annotated[
    Union[  # noqa: UP007
        StdoutSink, StderrSink, FileSink, NullSink, PluginSink, SyslogSink, HttpSink, ConsoleSink
    ],
    Field(discriminator="type"),
]


#: Levels by logger name prefix, frozen after validation.
FrozenLoggerLevels = Annotated[
    Mapping[str, LevelSetting],
    AfterValidator(freeze),
    PlainSerializer(thaw, return_type=dict[str, Any]),
]


class StaticFields(_Model):
    """Fields every event of the container carries, encoded once per logger (not per event).

    A field of the event with the same name (bound, context or call) wins over a static one.
    """

    #: The ``service`` field of every event.
    service: str | None = Field(default=None, min_length=1, max_length=256)
    #: The ``env`` field of every event, e.g. ``"production"``.
    env: str | None = Field(default=None, min_length=1, max_length=256)
    #: The ``version`` field of every event.
    version: str | None = Field(default=None, min_length=1, max_length=256)
    #: ``True``: this machine's host name, read when the pipeline starts; or the name itself.
    host: bool | Annotated[str, Field(min_length=1, max_length=255)] = False
    #: The id of the process that logged the event (right in a forked child too).
    pid: bool = False
    #: Other constant fields, e.g. ``{"region": "eu-west-1"}``.
    extra: FrozenConfig = Field(default_factory=_empty_mapping)


class SamplingRule(_Model):
    """Keep the first of every ``every`` events per key, from the loggers named ``logger`` or
    below it (``""``: all), at or below ``level``; the others are counted (``sampled_out``)."""

    #: Loggers named so or below (``""``: all).
    logger: str = ""
    #: Events at this level or below are sampled; above it, all are kept.
    level: LevelSetting = "info"
    #: Keep 1 of every ``every`` events per key.
    every: int = Field(ge=1, le=10**12)
    #: What counts as "the same event": its message text, or its logger.
    by: Literal["message", "logger"] = "message"


class RateLimitRule(_Model):
    """At most ``burst`` events at once and ``per_second`` on average per key, from the
    loggers named ``logger`` or below it, at or below ``level``. What is suppressed is
    counted (``suppressed``) and summarised in one event ("rate limit: N event(s) like this
    were suppressed", fields ``suppressed`` and ``suppressed_key``) logged when the key is
    let through again, and at close."""

    #: Loggers named so or below (``""``: all).
    logger: str = ""
    #: Events at this level or below are limited; above it, all pass.
    level: LevelSetting = "info"
    #: Events let through per second on average, per key.
    per_second: float = Field(gt=0, le=1e9)
    #: Default: ``per_second`` (at least 1).
    burst: int | None = Field(default=None, ge=1, le=10**9)
    #: What counts as "the same event": its message text, or its logger.
    by: Literal["message", "logger"] = "message"


class DedupeSettings(_Model):
    """Fewer copies of the same event (see docs/levels-and-dedupe.md).

    ``enabled`` turns on the filter of repeated events: an event identical to the one just
    before it (logger, level, message and fields; the timestamp aside) is not written but
    counted (``deduplicated``), and when the run ends (a different event, ``window`` seconds
    after the run began, a flush, the close) one summary event says how many were left out
    ("last event repeated N more time(s)", fields ``repeated`` and ``repeated_message``).
    ``once_window`` is what ``log.info_once(...)`` and the other ``*_once`` calls mean by
    "once": ``None``, once per process; a number of seconds, once per that many seconds (per
    call site and message either way).
    """

    enabled: bool = False
    window: float = Field(default=60.0, gt=0, le=86_400 * 365)
    once_window: float | None = Field(default=None, gt=0, le=86_400 * 365)


#: A Google Cloud project id (for the ``gcp`` schema's trace member).
GcpProject = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:-]+$")]


#: Where a failing sink's events go: a native sink, or ``null`` for none (dropped, counted).
FallbackSettings = Annotated[
    Union[StderrSink, StdoutSink, FileSink, NullSink],  # noqa: UP007
    Field(discriminator="type"),
]


class PluginRef(_Model):
    """A caller-side plugin (filter, enricher or redactor) and its own configuration."""

    #: The plugin: an allowed plugin's name or a ``"module:Class"`` reference.
    name: str
    #: The plugin's own settings, validated by its ``Config`` model.
    config: FrozenConfig = Field(default_factory=_empty_mapping)

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        return PluginSink._check_name(value)


class PluginsSettings(_Model):
    """Which plugins may load, where local plugin modules live, and the marketplace index.

    ``allow``: plugin names that may be imported (entry points of the ``ferrolog.plugins``
    group and modules in ``paths``); nothing else is ever imported, except explicit
    ``"module:Class"`` references in the settings. ``paths``: directories whose ``NAME.py``
    modules (or ``NAME/`` packages) each provide the plugin ``NAME`` as their ``Plugin``
    class. ``index``: the marketplace index (a JSON file or an http(s) URL) that the
    ``ferrolog plugins`` commands read by default.
    """

    allow: tuple[str, ...] = ()
    #: Plugin names that never load, even when allowed or autoloaded: deny wins.
    deny: tuple[str, ...] = ()
    #: Load every installed, compatible entry-point plugin that is not denied (as if it
    #: were in ``allow``). Off by default: only the plugins named in ``allow`` load.
    autoload: bool = False
    paths: tuple[Path, ...] = ()
    index: str | None = None

    @field_validator("allow", "deny")
    @classmethod
    def _check_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if not name.strip():
                raise ValueError("a plugin name must not be empty")
        return value

    @field_validator("index")
    @classmethod
    def _check_index(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("plugins.index must be a file path or an http(s) URL, not empty")
        return value


class RedactionSettings(_Model):
    """What the native encoder masks before an event reaches the ring: safe by default.

    - ``enabled`` (default true): field-name redaction of the default deny-list
      (`ferrolog.redaction.DEFAULT_FIELDS`: password, passwd, secret, token, api_key, apikey,
      authorization, cookie, set-cookie, session, private_key, credit_card, card_number, cvv,
      ssn) is on with zero configuration. A field with a denied name — compared
      case-insensitively, at any depth: nested dict keys too — keeps its key and gets
      ``replacement`` as its value. ``enabled = false`` turns all redaction off (then
      ``presets``, ``fields`` and ``patterns`` must be empty).
    - ``presets``: named sets of field names and value patterns, ``credentials``, ``pci``,
      ``phi``, ``pii`` (listed in `ferrolog.redaction.PRESETS`).
    - ``fields``: more field names to mask.
    - ``patterns``: regexes (Rust ``regex`` syntax: no look-around or back-references);
      every match in a string value, the message and exception text is replaced.
    - ``replacement``: the text written instead (default ``"[REDACTED]"``).

    Value patterns (from ``presets`` or ``patterns``) are opt-in: they scan every string
    written, which costs more than the field-name check. `pydantic.SecretStr` and
    ``SecretBytes`` values are always masked, without reading the secret.
    """

    enabled: bool = True
    presets: tuple[Literal["credentials", "pci", "phi", "pii"], ...] = ()
    fields: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    replacement: str = Field(default="[REDACTED]", max_length=256)

    @field_validator("patterns")
    @classmethod
    def _check_patterns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for index, pattern in enumerate(value):
            if not pattern:
                raise ValueError(
                    f"redaction.patterns[{index}]: an empty pattern would match everywhere"
                )
            problem = redaction_pattern_error(pattern)
            if problem is not None:
                raise ValueError(
                    f"redaction.patterns[{index}]: {pattern!r} is not a valid regex: {problem}"
                )
        return value

    @field_validator("fields")
    @classmethod
    def _check_fields(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for index, name in enumerate(value):
            if not name.strip():
                raise ValueError(f"redaction.fields[{index}]: a field name must not be empty")
        return value

    @model_validator(mode="after")
    def _check_enabled(self) -> RedactionSettings:
        if not self.enabled and (self.presets or self.fields or self.patterns):
            raise ValueError(
                "redaction.enabled is false but presets, fields or patterns are set; "
                "remove them or enable redaction"
            )
        return self


class AuditSettings(_Model):
    """The tamper-evident audit trail (`ferrolog.audit.AuditTrail`) of a container.

    With ``path`` set, `Container.create` opens (or continues) the hash-chained trail there
    and the container records its start, its components' creation and close failures and
    its close; ``await container.get(AuditTrail)`` returns it for your own compliance events.
    ``fsync`` (default true) makes each record durable on disk before ``record`` returns.
    """

    #: The trail's file (JSON lines); none: no audit trail.
    path: Path | None = None
    #: Make each record durable on disk before ``record`` returns.
    fsync: bool = True
    #: Days the trail's records must be kept (1 ..= 36500): written in the trail's first
    #: record; a trail is never reopened with a shorter retention than its first record
    #: states, and ``ferrolog audit verify`` reports it. SOX requires at least 2555 (7 years).
    retention_days: int | None = Field(default=None, ge=1, le=36_500)


class ComplianceSettings(_Model):
    """Compliance profiles validated against the whole configuration."""

    #: The profiles whose rules (`ferrolog.compliance.RULES`, docs/compliance.md) the whole
    #: configuration must follow; a violating configuration is refused, every rule listed.
    profiles: tuple[Literal["pci-dss", "hipaa", "sox", "gdpr"], ...] = ()


class DiagnosticsSettings(_Model):
    """ferrolog's own reports of trouble from its Python side (plugin start/stop failures,
    audit trail failures, a failing metrics callback): `ferrolog.errors.Diagnostics`.

    ``interval``: at most one line per kind of problem every so many seconds (the rest are
    counted and summarised in the next line). ``stream``: ``stderr`` or ``none`` (silenced;
    still counted in ``container.diagnostics``). The native writer's reports (a sink
    failing over, a network sink's delivery failures) are not affected: they always go to
    standard error.
    """

    interval: Duration = Field(default=60.0, ge=0, le=86_400)
    stream: Literal["stderr", "none"] = "stderr"


_DEFAULT_METRICS_INTERVAL = 10.0
_CALLBACK = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


class ObservabilitySettings(_Model):
    """The container's own metrics (`ferrolog.observability`).

    ``metrics`` (default true): the pipeline counters and sink health can be exported
    (``await ferrolog.observability.prometheus_text(container)``); false refuses the export
    and a ``callback``. ``callback``: ``"module:function"`` called every ``interval`` seconds
    (from a thread of the container) with the metrics snapshot.
    """

    metrics: bool = True
    callback: str | None = None
    #: Seconds between two calls of ``callback``.
    interval: Duration = Field(default=_DEFAULT_METRICS_INTERVAL, gt=0, le=86_400)

    @field_validator("callback")
    @classmethod
    def _check_callback(cls, value: str | None) -> str | None:
        if value is not None and not _CALLBACK.match(value):
            raise ValueError(f"callback {value!r} must be 'package.module:function'")
        return value

    @model_validator(mode="after")
    def _callback_needs_metrics(self) -> ObservabilitySettings:
        if self.callback is not None and not self.metrics:
            raise ValueError(
                "observability.callback needs observability.metrics = true; turn metrics on "
                "or remove the callback"
            )
        if self.interval != _DEFAULT_METRICS_INTERVAL and self.callback is None:
            raise ValueError(
                "observability.interval is set but there is no observability.callback to "
                "call; set the callback or remove the interval"
            )
        return self


#: Sampling rates by route, frozen after validation.
RouteRates = Annotated[
    Mapping[str, Annotated[int, Field(ge=1, le=10**9)]],
    AfterValidator(FrozenMap),
    PlainSerializer(thaw, return_type=dict[str, Any]),
]


def _no_routes() -> Mapping[str, int]:
    return FrozenMap()


class RequestBufferSettings(_Model):
    """The fingers-crossed buffer of request scopes (see docs/request-events.md).

    Inside a request scope, events the logger's level would drop but at or above ``level``
    are encoded and held; an event at or above ``trigger`` in the same scope (or the scope
    ending in error) writes them, else they are discarded when the scope ends (counted).
    """

    #: Hold, inside request scopes, the events the logger's level would drop.
    enabled: bool = False
    #: The lowest level held (below the logger's level, or nothing is held).
    level: LevelSetting = "debug"
    #: Events at this level or above write what the scope holds.
    trigger: LevelSetting = "error"
    #: Events one scope holds at most; the oldest are evicted first (counted, and noted
    #: in the flushed output).
    max_events: int = Field(default=1000, ge=1, le=1_000_000)
    #: Bytes all the scopes of the container hold at most, together.
    max_bytes: ByteSize = Field(default=8 << 20, ge=4096, le=1 << 34)


class RequestEventSettings(_Model):
    """Canonical request events and their tail sampling (see docs/request-events.md).

    A request scope writes one event when it ends. Errors (an exception escaped, or a
    ``status`` of 500 and above) and requests at least ``slow_threshold`` long are always
    kept; of the others, 1 in ``keep_one_in`` (or ``per_route[route]``) is kept, and every
    kept event carries ``sample_rate``. ``enabled`` makes the FastAPI middleware open a scope
    per request and write its access event as the canonical event.
    """

    #: The FastAPI middleware opens a request scope per request and writes its access event
    #: as the canonical event; false (the default): the classic access event and no scope
    #: (a scope costs about five events' worth of CPU, so it is opt-in).
    enabled: bool = False
    #: Requests at least this long (``"250ms"``, ``1.5``) are always kept; none: no rule.
    slow_threshold: Duration | None = Field(default=None, ge=0, le=86_400)
    #: Of the requests neither failed nor slow, keep 1 in N (each kept says ``sample_rate``).
    keep_one_in: int = Field(default=1, ge=1, le=10**9)
    #: N per route (the scope's ``route`` field; the middleware's route template).
    per_route: RouteRates = Field(default_factory=_no_routes)
    buffer: RequestBufferSettings = Field(default_factory=RequestBufferSettings)


def _default_sinks() -> tuple[SinkSettings, ...]:
    return (StdoutSink(),)


with warnings.catch_warnings():
    # `schema` is part of the public contract; it shadows pydantic's deprecated
    # `BaseModel.schema()` classmethod, which ferrolog never uses.
    warnings.filterwarnings("ignore", message='Field name "schema"', category=UserWarning)

    class Settings(BaseSettings):
        """Everything one container needs: level, schema, ring, sinks and policies.

        Precedence, lowest first: defaults, a settings file, ``FERROLOG_*`` environment
        variables, values given in code (tables merge key by key; lists are replaced). So
        ``Settings(**values)`` and ``Settings.from_mapping(values)`` are ``values`` over the
        environment over the defaults, and ``await Settings.load(path)`` is the environment
        over the file. Every invalid value raises `SettingsError` naming its field path or
        environment variable; a ``FERROLOG_*`` variable that names no setting is an error
        too (with the likely intended name), so a typo is never silently ignored. Validated
        settings are immutable all the way down (tuples, read-only mappings, frozen models).
        """

        model_config = SettingsConfigDict(
            env_prefix=ENV_PREFIX,
            env_nested_delimiter=ENV_DELIMITER,
            extra="forbid",
            frozen=True,
        )

        #: The container's threshold: a stdlib number (plus ``TRACE`` = 5) or a level name,
        #: case-insensitive, or one of ``levels``. Events below it are not even encoded.
        level: int = 20
        #: Custom levels of this container, name to number, e.g. ``{"notice": 25}``; usable
        #: in ``level`` and in ``log("notice", ...)``. Never registered globally. A custom
        #: level may not reuse a standard level's name or number, nor another's number.
        levels: FrozenLevels = Field(default_factory=_empty_mapping)
        #: The shape of each event: ferrolog's own, Elastic's ECS, OpenTelemetry's log data
        #: model, or a vendor's preset (``gcp``: Google Cloud Logging, ``datadog``); see
        #: docs/output-presets.md.
        schema: Literal["default", "ecs", "otel", "gcp", "datadog"] = "default"  # type: ignore[assignment]
        ring: RingSettings = Field(default_factory=RingSettings)
        #: At least one sink. Left unset, it is the console when standard output (fd 1) is a
        #: terminal and JSON lines to stdout otherwise, decided when the pipeline starts.
        sinks: tuple[SinkSettings, ...] = Field(default_factory=_default_sinks, min_length=1)
        #: Where the events of a sink that fails go until it recovers (it is retried after
        #: 1 s, then less often, at least every 30 s): standard error by default; a file; or
        #: ``{"type": "null"}`` to drop them (counted). The switch and the recovery are
        #: reported once each on standard error.
        fallback: FallbackSettings = Field(default_factory=StderrSink)
        #: The level of loggers by name: ``{"sqlalchemy": "warning", "app.db": "debug"}``
        #: applies to loggers named so or below (``app.db.pool``); the longest prefix wins.
        #: Decided when a logger is made (``container.get(Logger)``, ``log.child(...)``).
        logger_levels: FrozenLoggerLevels = Field(default_factory=_empty_mapping)
        static_fields: StaticFields = Field(default_factory=StaticFields)
        sampling: tuple[SamplingRule, ...] = ()
        rate_limits: tuple[RateLimitRule, ...] = ()
        filters: tuple[PluginRef, ...] = ()
        enrichers: tuple[PluginRef, ...] = ()
        redactors: tuple[PluginRef, ...] = ()
        plugins: PluginsSettings = Field(default_factory=PluginsSettings)
        redaction: RedactionSettings = Field(default_factory=RedactionSettings)
        audit: AuditSettings = Field(default_factory=AuditSettings)
        compliance: ComplianceSettings = Field(default_factory=ComplianceSettings)
        #: Add the current OpenTelemetry span's ``trace_id`` and ``span_id`` to every event
        #: logged inside one (needs ``pip install 'ferrolog[otel]'``; see docs/otel.md).
        otel_trace_context: bool = False
        #: The Google Cloud project of the ``gcp`` schema's ``logging.googleapis.com/trace``
        #: member (``projects/<gcp_project>/traces/<trace_id>``); without it the trace id is
        #: written alone.
        gcp_project: GcpProject | None = None
        #: ``*_once`` calls and the filter of repeated events.
        dedupe: DedupeSettings = Field(default_factory=DedupeSettings)
        diagnostics: DiagnosticsSettings = Field(default_factory=DiagnosticsSettings)
        observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
        request_events: RequestEventSettings = Field(default_factory=RequestEventSettings)

        def __init__(self, **values: Any) -> None:
            """Validate ``values`` over the environment; raise `SettingsError` when invalid."""
            try:
                super().__init__(**values)
            except ValidationError as exc:
                raise settings_error(exc, explicit=values) from None
            check_compliance(self)

        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            # Only what is documented: values in code over FERROLOG_* variables.
            return (init_settings, EnvSource(settings_cls))

        @model_validator(mode="before")
        @classmethod
        def _custom_level_names(cls, data: Any) -> Any:
            # A custom level's name may be used as `level`: resolve it before the field check.
            if isinstance(data, Mapping):
                custom = data.get("levels") or {}
                level = data.get("level")
                if isinstance(custom, Mapping) and isinstance(level, str):
                    lowered = {str(k).lower(): v for k, v in custom.items()}
                    if level.strip().lower() in lowered:
                        data = {**data, "level": lowered[level.strip().lower()]}
            return data

        @field_validator("level", mode="before")
        @classmethod
        def _normalize_level(cls, value: object) -> int:
            return parse_level(value)

        @model_validator(mode="after")
        def _policy_levels_exist(self) -> Settings:
            custom = {name.lower() for name in self.levels}
            where = [(f"logger_levels.{k}", v) for k, v in self.logger_levels.items()]
            where += [(f"sampling.{i}.level", r.level) for i, r in enumerate(self.sampling)]
            where += [(f"rate_limits.{i}.level", r.level) for i, r in enumerate(self.rate_limits)]
            for i, sink in enumerate(self.sinks):
                where += [(f"sinks.{i}.{k}", v) for k, v in sink.route().items() if k != "loggers"]
            if self.fallback.route():
                raise ValueError(
                    "fallback: min_level, max_level and loggers do not apply to the fallback "
                    "sink (it takes whatever a failing sink could not write); remove them"
                )
            for path, level in where:
                if isinstance(level, str) and level.strip().lower() in custom:
                    continue
                try:
                    parse_level(level)
                except ValueError as exc:
                    raise ValueError(f"{path}: {exc}") from None
            return self

        @model_validator(mode="after")
        def _request_buffer_levels(self) -> Settings:
            custom = {name.lower(): number for name, number in self.levels.items()}
            buffer = self.request_events.buffer
            numbers: dict[str, int] = {}
            for name in ("level", "trigger"):
                value = getattr(buffer, name)
                if isinstance(value, str) and value.strip().lower() in custom:
                    numbers[name] = custom[value.strip().lower()]
                    continue
                try:
                    numbers[name] = parse_level(value)
                except ValueError as exc:
                    raise ValueError(f"request_events.buffer.{name}: {exc}") from None
            if buffer.enabled and numbers["trigger"] <= numbers["level"]:
                raise ValueError(
                    f"request_events.buffer.trigger ({buffer.trigger!r}) must be above "
                    f"request_events.buffer.level ({buffer.level!r}): the buffer holds events "
                    "below the trigger"
                )
            return self

        @field_validator("levels")
        @classmethod
        def _check_custom_levels(cls, value: Mapping[str, int]) -> Mapping[str, int]:
            standard_names = {number: name for name, number in list(LEVELS.items())[::-1]}
            seen_names: dict[str, str] = {}
            seen_numbers: dict[int, str] = {}
            for name, number in value.items():
                if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
                    raise ValueError(f"custom level name {name!r}: use letters, digits and '_'")
                if name.upper() in LEVELS:
                    raise ValueError(
                        f"custom level {name!r} would rename the standard level "
                        f"{name.upper()} ({LEVELS[name.upper()]}); pick another name"
                    )
                if not 1 <= number <= 100:
                    raise ValueError(f"custom level {name!r}: number {number} is not in 1..100")
                if number in standard_names:
                    raise ValueError(
                        f"custom level {name!r} = {number} would shadow the standard level "
                        f"{standard_names[number]} ({number}); pick another number"
                    )
                if name.lower() in seen_names:
                    raise ValueError(
                        f"custom levels {seen_names[name.lower()]!r} and {name!r} are the same "
                        "name (level names are case-insensitive)"
                    )
                if number in seen_numbers:
                    raise ValueError(
                        f"custom levels {seen_numbers[number]!r} and {name!r} both have number "
                        f"{number}; give each level its own number"
                    )
                seen_names[name.lower()] = name
                seen_numbers[number] = name
            return FrozenMap(value)

        @classmethod
        def from_mapping(cls, mapping: Mapping[str, Any], *, source: str | None = None) -> Settings:
            """Validate ``mapping`` over the ``FERROLOG_*`` environment over the defaults.

            Keys of ``mapping`` win over the environment (tables merge key by key). Raises
            `SettingsError` naming ``source`` (when given) and every invalid field path.
            """
            try:
                return cls(**dict(mapping))
            except SettingsError as exc:
                raise with_source(exc, source, None) from None

        @classmethod
        async def load(
            cls, path: str | os.PathLike[str] | None = None, **overrides: Any
        ) -> Settings:
            """Read a TOML, JSON or YAML file (off the loop), then the environment, then overrides.

            Without ``path`` this is the environment over the defaults. Raises `SettingsError`
            naming the file and the invalid field paths (or environment variables).
            """
            data: dict[str, Any] = {}
            source: str | None = None
            if path is not None:
                source = os.fspath(path)
                data = await asyncio.to_thread(read_file, source)
            try:
                # The environment beats the file: drop what it sets from the file's values,
                # and let pydantic-settings merge it under the overrides.
                env = EnvSource(cls)()
                lists = merge_env_lists(data, env)
                return cls(**deep_merge(deep_merge(without(data, env), lists), overrides))
            except SettingsError as exc:
                raise with_source(exc, source, source) from None
