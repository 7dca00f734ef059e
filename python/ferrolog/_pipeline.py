"""Turn validated `Settings` into a native `Pipeline` (ring, writer thread, sinks).

Settings that this build cannot honour yet are refused here, all at once and by name,
rather than accepted and silently ignored.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from ferrolog._frozen import thaw
from ferrolog._hierarchy import SinkError
from ferrolog._native import Pipeline
from ferrolog._processors import ProcessorChain
from ferrolog.config import (
    ConsoleSink,
    FileSink,
    HttpSink,
    PluginSink,
    Settings,
    SettingsError,
    SyslogSink,
    UnsupportedSettingError,
)
from ferrolog.redaction import native_table
from ferrolog.registry import PluginRegistry
from ferrolog.typing import PythonSink

__all__ = [
    "PipelineOptions",
    "build_pipeline",
    "check_sinks",
    "check_supported",
    "default_sinks",
    "pipeline_options",
    "sink_problems",
]


class PipelineOptions(TypedDict):
    """Keyword arguments of `ferrolog._native.Pipeline` derived from `Settings`."""

    sinks: list[Any]  # dicts describing native sinks, or `PythonSink` objects
    capacity_bytes: int
    overflow: str
    block_timeout: float
    batch_bytes: int
    linger: float
    max_event_bytes: int | None
    schema: str
    levels: dict[int, str]
    fallback: dict[str, Any]
    processors: ProcessorChain | None
    logger_levels: dict[str, int | str]
    static_fields: dict[str, Any]
    static_pid: bool
    rules: list[dict[str, Any]]
    redaction: dict[str, Any]
    request_events: dict[str, Any]
    gcp_project: str | None
    once_window: float | None
    dedupe_window: float | None


def unsupported_settings(settings: Settings) -> list[str]:
    """Return one line per setting this build validates but cannot honour yet."""
    # Nothing today: every setting is honoured. Kept so a setting that is validated before
    # it is implemented is refused by name, never accepted and ignored.
    reasons: list[str] = []
    return reasons


def check_supported(settings: Settings) -> None:
    """Raise `UnsupportedSettingError` listing every setting this build cannot honour."""
    _raise_listing(
        UnsupportedSettingError,
        "ferrolog cannot honour these settings yet",
        unsupported_settings(settings),
    )


def _raise_listing(error: type[SettingsError], header: str, lines: list[str]) -> None:
    """Raise ``error`` with ``header`` and one indented line per problem, if there are any."""
    if lines:
        raise error(header + ":\n" + "\n".join(f"  {line}" for line in lines))


def sink_problems(settings: Settings) -> list[str]:
    """Return one line per configured sink that cannot start, without creating any file.

    A file sink needs an existing, writable directory that not everyone may write to (unless
    it has the sticky bit, like ``/tmp``: otherwise anyone could replace the log file); an
    existing target must be a writable file that is not a symbolic link (the writer opens it
    with ``O_NOFOLLOW``). This does blocking file-system calls: run it off the event loop.
    """
    problems: list[str] = []
    named = [(f"sinks.{index}", sink) for index, sink in enumerate(settings.sinks)]
    for name, sink in [*named, ("fallback", settings.fallback)]:
        if not isinstance(sink, FileSink):
            continue
        where = f"{name}.path"
        path = os.path.abspath(sink.path)
        unsafe_dir = _world_writable_dir(os.path.dirname(path))
        if unsafe_dir is not None:
            problems.append(
                f"{where}: refusing to log to {path}: its directory {unsafe_dir} is writable by "
                f"everyone and has no sticky bit, so anyone could replace the log file; "
                f"chmod o-w {unsafe_dir} (or chmod +t), or log to another directory"
            )
            continue
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            info = None
        except OSError as exc:
            problems.append(f"{where}: cannot inspect {path}: {exc.strerror}")
            continue
        if info is None:
            parent = os.path.dirname(path)
            if os.path.exists(parent) and not os.path.isdir(parent):
                problems.append(f"{where}: {parent} is not a directory")
            elif not os.path.isdir(parent):
                problems.append(
                    f"{where}: directory {parent} does not exist; create it first "
                    "(ferrolog does not create directories)"
                )
            elif not os.access(parent, os.W_OK | os.X_OK):
                problems.append(f"{where}: directory {parent} is not writable")
            continue
        if stat.S_ISLNK(info.st_mode):
            problems.append(f"{where}: {path} is a symbolic link; log files are never followed")
            continue
        if stat.S_ISDIR(info.st_mode):
            problems.append(f"{where}: {path} is a directory, not a file")
            continue
        # Opening for append without O_CREAT writes nothing and creates nothing, and it
        # asks the kernel itself (root, read-only mounts and ACLs included).
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            reason = exc.strerror or errno.errorcode.get(exc.errno or 0, str(exc))
            problems.append(f"{where}: cannot open {path} for appending: {reason}")
        else:
            os.close(fd)
    return problems


def _world_writable_dir(directory: str) -> str | None:
    """``directory`` when everyone may write to it and it has no sticky bit, else None."""
    try:
        mode = os.stat(directory).st_mode
    except OSError:
        return None  # a missing directory is reported on its own
    if stat.S_ISDIR(mode) and mode & stat.S_IWOTH and not mode & stat.S_ISVTX:
        return directory
    return None


def check_sinks(settings: Settings) -> None:
    """Raise `SettingsError` listing every configured sink that cannot start."""
    _raise_listing(SettingsError, "ferrolog cannot start these sinks", sink_problems(settings))


def pipeline_options(
    settings: Settings,
    *,
    sinks: Sequence[PythonSink] | None = None,
    plugins: Mapping[int, PythonSink] | None = None,
    processors: ProcessorChain | None = None,
) -> PipelineOptions:
    """Return the native pipeline's keyword arguments for ``settings``.

    ``sinks``, when given, replaces the configured sinks with Python sink objects.
    ``plugins`` maps the index of each ``type="plugin"`` sink to its plugin instance (a
    Python sink object, run beside the native sinks by the pipeline's sink runner);
    without it, the instances are created by a `PluginRegistry` of ``settings``.
    ``processors`` is the `ProcessorChain` of the settings' filters, enrichers and redactors
    (`PluginRegistry.caller_plugins`); it is required when there are any.
    """
    check_supported(settings)
    if processors is None and (settings.filters or settings.enrichers or settings.redactors):
        raise ValueError(
            "filters, enrichers and redactors run under a container (which starts and stops "
            "them): use Container.create(settings), or pass processors= (a ProcessorChain)"
        )
    native_sinks: list[Any]
    if sinks is not None:
        native_sinks = list(sinks)
    else:
        if plugins is None and any(isinstance(sink, PluginSink) for sink in settings.sinks):
            registry = PluginRegistry.from_settings(settings)
            registry.check_settings(settings)
            plugins = registry.sink_plugins(settings)
        native_sinks = []
        for index, sink in enumerate(default_sinks(settings)):
            if isinstance(sink, PluginSink):
                if plugins is None or index not in plugins:
                    raise ValueError(f"sinks.{index}: no instance of plugin sink {sink.name!r}")
                route = sink.route()
                if route:
                    native_sinks.append({"type": "python", "sink": plugins[index], **route})
                else:
                    native_sinks.append(plugins[index])
            else:
                native_sinks.append(_native_spec(sink))
    return PipelineOptions(
        sinks=native_sinks,
        capacity_bytes=settings.ring.capacity_bytes,
        overflow=settings.ring.overflow,
        block_timeout=settings.ring.block_timeout,
        batch_bytes=settings.ring.batch_bytes,
        linger=settings.ring.linger,
        max_event_bytes=settings.ring.max_event_bytes,
        schema=settings.schema,
        levels={number: name for name, number in settings.levels.items()},
        fallback=_native_spec(settings.fallback),
        processors=processors,
        # The container's level is the level of every logger no longer prefix names.
        logger_levels={"": settings.level, **settings.logger_levels},
        static_fields=_static_fields(settings),
        static_pid=settings.static_fields.pid,
        rules=[{"kind": "sample", **rule.model_dump()} for rule in settings.sampling]
        + [{"kind": "limit", **rule.model_dump()} for rule in settings.rate_limits],
        redaction=native_table(
            enabled=settings.redaction.enabled,
            presets=settings.redaction.presets,
            fields=settings.redaction.fields,
            patterns=settings.redaction.patterns,
            replacement=settings.redaction.replacement,
        ),
        request_events=_request_events(settings),
        gcp_project=settings.gcp_project,
        once_window=settings.dedupe.once_window,
        dedupe_window=settings.dedupe.window if settings.dedupe.enabled else None,
    )


def _request_events(settings: Settings) -> dict[str, Any]:
    """The native ``request_events`` options (sampling and the fingers-crossed buffer)."""
    events = settings.request_events
    buffer = events.buffer
    return {
        "enabled": events.enabled,
        "slow_threshold": events.slow_threshold,
        "keep_one_in": events.keep_one_in,
        "per_route": dict(events.per_route),
        "buffer": buffer.enabled,
        "buffer_level": buffer.level,
        "trigger_level": buffer.trigger,
        "max_events": buffer.max_events,
        "max_bytes": buffer.max_bytes,
    }


def _static_fields(settings: Settings) -> dict[str, Any]:
    """The constant fields every logger starts with (``static_fields``, but ``pid``)."""
    static = settings.static_fields
    fields: dict[str, Any] = dict(thaw(static.extra))
    for name in ("service", "env", "version"):
        value = getattr(static, name)
        if value is not None:
            fields[name] = value
            if settings.schema == "datadog":
                # Datadog's log-trace correlation reads dd.service, dd.env and dd.version.
                fields[f"dd.{name}"] = value
    if static.host is True:
        fields["host"] = socket.gethostname()
    elif isinstance(static.host, str):
        fields["host"] = static.host
    return fields


def default_sinks(settings: Settings) -> tuple[Any, ...]:
    """The sinks a pipeline of ``settings`` runs: ``settings.sinks``, except that when they
    were left unset (zero config), a terminal on standard output (fd 1) gets the console.

    Decided here, when the pipeline starts, rather than in `Settings`: the settings stay
    plain data that ``ferrolog config check`` prints the same wherever it runs, and the
    terminal checked is the one the process logs to now. ``sinks = [{type = "stdout"}]``
    (or ``FERROLOG_SINKS``) always means JSON lines.
    """
    if "sinks" not in settings.model_fields_set and os.isatty(1):
        return (ConsoleSink(),)
    return settings.sinks


def _native_spec(sink: Any) -> dict[str, Any]:
    """The native pipeline's dict for a native sink's settings."""
    if isinstance(sink, FileSink):
        return {
            **sink.route(),
            "type": "file",
            "path": str(sink.path),
            "max_bytes": sink.max_bytes,
            "rotate_every": sink.rotate_every,
            "backups": sink.backups,
            "compress": sink.compress,
            "mode": sink.mode,
            "utc": sink.utc,
        }
    if isinstance(sink, (SyslogSink, HttpSink)):
        return _shipping_spec(sink)
    if isinstance(sink, ConsoleSink):
        return {**sink.route(), "type": "console", "colors": sink.colors, "stream": sink.stream}
    return {"type": sink.type, **sink.route()}


def _shipping_spec(sink: SyslogSink | HttpSink) -> dict[str, Any]:
    """The native dict of a network sink. Secrets stay `SecretStr` objects: the native side
    reads them, so they never sit in a plain str of the options."""
    spec: dict[str, Any] = {
        "type": sink.type,
        **sink.route(),
        "max_buffer_bytes": sink.max_buffer_bytes,
        "max_retries": sink.max_retries,
        "failure_threshold": sink.failure_threshold,
        "recovery_timeout": sink.recovery_timeout,
        "flush_timeout": sink.flush_timeout,
        "close_timeout": sink.close_timeout,
        "timeout": sink.timeout,
        "batch_bytes": sink.batch_bytes,
        "linger": sink.linger,
    }
    if isinstance(sink, SyslogSink):
        spec.update(
            address=sink.address,
            transport=sink.transport,
            format=sink.format,
            facility=sink.facility,
            app_name=sink.app_name,
            hostname=sink.hostname,
        )
    else:
        spec.update(
            url=sink.url,
            format=sink.format,
            headers=dict(sink.headers),
            token=sink.token,
            gzip=sink.gzip,
            verify_tls=sink.verify_tls,
            ca_file=None if sink.ca_file is None else str(sink.ca_file),
            resource=dict(sink.resource),
        )
    return spec


def build_pipeline(
    settings: Settings,
    *,
    sinks: Sequence[PythonSink] | None = None,
    plugins: Mapping[int, PythonSink] | None = None,
    processors: ProcessorChain | None = None,
) -> Pipeline:
    """Start a native pipeline configured by ``settings`` (its writer thread starts now).

    ``sinks`` replaces the configured sinks with Python sink objects, e.g. an in-memory sink
    in a test: ``container.register(Pipeline, ...)`` with a factory that calls this.
    ``plugins`` gives the instances of the plugin sinks, ``processors`` the chain of the
    caller-side plugins (see `pipeline_options`).
    """
    options = pipeline_options(settings, sinks=sinks, plugins=plugins, processors=processors)
    try:
        return Pipeline(**options)
    except ValueError as exc:  # the native side refused a size, or could not allocate the ring
        raise SettingsError(
            f"cannot start the pipeline: {exc}", errors=(("ring", str(exc)),)
        ) from exc
    except OSError as exc:  # a sink could not be opened, or no writer thread could start
        raise PipelineStartError(exc.errno, f"cannot start the pipeline: {exc}") from exc


class PipelineStartError(SinkError, OSError):
    """The pipeline's sinks or writer thread could not start (an ``OSError`` with its errno).

    Raised from the first ``get`` that builds the pipeline, when something changed after
    ``Container.create`` checked the sinks (a log directory removed meanwhile, say).
    """

    def __init__(self, errno_: int | None, message: str) -> None:
        SinkError.__init__(self, message, errno=errno_)
        self.errno = errno_
        self.strerror = message
