"""Type stubs for ferrolog._native, the Rust extension behind ferrolog's hot path."""

from collections.abc import Awaitable, Callable, Generator, Mapping, Sequence
from contextvars import ContextVar
from typing import Any, Final, Literal, final

from ferrolog.typing import PythonSink as _PythonSink

__version__: Final[str]
__all__ = [
    "DEFAULT_REDACTED_FIELDS",
    "REDACTION_PATTERNS",
    "STANDARD_LEVELS",
    "Batch",
    "BoundContextVars",
    "ContextFields",
    "FlushTicket",
    "Logger",
    "PendingRecord",
    "Pipeline",
    "Ready",
    "RequestScope",
    "ResponseSend",
    "Router",
    "SinkChannel",
    "YieldOnce",
    "_PanicOnEncode",
    "__version__",
    "_after_fork_child",
    "_after_fork_parent",
    "_before_fork",
    "_close_all",
    "_tap_acquire",
    "_tap_release",
    "add_to_request_event",
    "begin_request",
    "bind_contextvars",
    "bound_contextvars",
    "context_var",
    "current_request_scope",
    "encode",
    "redaction_pattern_error",
    "request_counter",
    "request_events_enabled",
    "request_fields",
    "request_id",
    "request_scope_var",
    "request_timing",
]

#: Every standard level name (lowercase, aliases included) to its number: the one level table.
STANDARD_LEVELS: Final[Mapping[str, int]]

#: Field names the encoder masks with zero configuration.
DEFAULT_REDACTED_FIELDS: Final[tuple[str, ...]]

#: The names of the built-in value patterns (``redaction={"builtin": [...]}``).
REDACTION_PATTERNS: Final[tuple[str, ...]]

#: The ContextVar holding the current request context (see ferrolog.context).
context_var: ContextVar[ContextFields | None]

_LevelLike = int | str

@final
class Ready:
    """An already-complete awaitable, returned by the `a*` methods when the ring had room."""

    def __await__(self) -> Generator[Any]: ...
    def __iter__(self) -> Ready: ...
    def __next__(self) -> Any: ...

@final
class YieldOnce:
    """What every 256th awaited call that found room returns on an asyncio loop: gives the
    loop one turn (as `asyncio.sleep(0)` does), then completes."""

    def __await__(self) -> Generator[Any]: ...
    def __iter__(self) -> YieldOnce: ...
    def __next__(self) -> Any: ...

@final
class _PanicOnEncode:
    """Test-only, not API: encoding an instance panics, as a bug in the encoder would."""

@final
class PendingRecord:
    """An event an `a*` call could not push at once; counted dropped if never pushed."""

    def try_push(self) -> bool: ...
    def drop_record(self) -> None: ...

@final
class Batch:
    """One batch of NDJSON lines for the Python sinks; settle it once written (or not)."""

    @property
    def data(self) -> bytes: ...
    @property
    def records(self) -> int: ...
    def settle(self, ok: bool) -> None: ...

def bind_contextvars(**fields: Any) -> None:
    """Add `fields` to the current request context (replacing fields of the same name)."""

def bound_contextvars(**fields: Any) -> BoundContextVars:
    """Bind `fields` for the duration of a `with` block, then restore the context."""

def request_id() -> str:
    """A new request id: 32 lowercase hex digits of 128 bits from the OS's CSPRNG."""

def request_fields(
    scope: dict[str, Any], header: bytes
) -> tuple[dict[str, Any], bytes, BoundContextVars]:
    """The context fields of one ASGI HTTP request, the request id to echo on its response
    (the id from the `header` request header when valid, else a new one), and a binding of
    the fields. `header` is the header's name in lowercase, as ASGI gives request headers."""

def begin_request(
    scope: dict[str, Any], header: bytes, send: Any, state_key: str
) -> tuple[str, ResponseSend, Callable[[Any], Any], BoundContextVars]:
    """All that `RequestContextMiddleware` does for an HTTP request before calling the app:
    the request's fields (as `request_fields` makes them) stored in ``scope["state"]`` under
    `state_key`, and ``(path, sender, send, bound)``: the path, the `ResponseSend` keeping the
    status and body bytes, the send to hand the app (a builtin calling the sender) and the
    binding of the fields."""

@final
class ResponseSend:
    """The `send` an app gets from `RequestContextMiddleware`: echoes the request id on the
    response's start and keeps the status and body bytes sent."""

    def __new__(cls, send: Any, header: bytes, request_id: bytes) -> ResponseSend: ...
    def __call__(self, message: Any) -> Any: ...
    @property
    def status(self) -> int: ...
    @property
    def sent(self) -> int: ...

@final
class BoundContextVars:
    """What `bound_contextvars` returns: binds on `__enter__`, restores on `__exit__`."""

    def __enter__(self) -> None: ...
    def __exit__(
        self,
        _exc_type: object = None,
        _exc: object = None,
        _tb: object = None,
    ) -> bool: ...

@final
class SinkChannel:
    """The Python sinks' side of a pipeline's channel (held weakly)."""

    def take_batch(self, timeout: float) -> Batch | Literal[False] | None: ...
    def pending_flush(self) -> int | None: ...
    def flushed(self, seq: int) -> None: ...
    def runner_exited(self) -> None: ...

@final
class FlushTicket:
    """An async flush in progress (see `Logger.flush`)."""

    def result(self) -> bool | None: ...

@final
class ContextFields:
    """An immutable, pre-encoded set of request-context fields."""

    def __new__(cls, fields: Mapping[str, object]) -> ContextFields: ...
    def as_dict(self) -> dict[str, Any]: ...
    def __len__(self) -> int: ...

@final
class Logger:
    """A structured logger bound to one pipeline. Immutable; `bind()` returns a new one.

    Level methods encode the event in Rust straight into the pipeline's ring; they never
    raise because of what was logged and never block an asyncio event loop. The `a*` twins
    wait (asynchronously) for ring space instead of dropping.
    """

    @property
    def name(self) -> str:
        """The `logger` field of this logger's events."""

    @property
    def level(self) -> int:
        """The minimum level this logger emits."""

    @property
    def schema(self) -> str:
        """The output schema of this logger's pipeline (`default`, `ecs`, `otel`, `gcp`,
        `datadog`)."""

    @property
    def bound(self) -> dict[str, Any]:
        """A copy of the bound fields."""

    def trace(self, msg: object, /, **fields: Any) -> None:
        """Log `msg` at TRACE (5) with `fields` (see `log`)."""

    def debug(self, msg: object, /, **fields: Any) -> None:
        """Log `msg` at DEBUG (10) with `fields` (see `log`)."""

    def info(self, msg: object, /, **fields: Any) -> None:
        """Log `msg` at INFO (20) with `fields` (see `log`)."""

    def warning(self, msg: object, /, **fields: Any) -> None:
        """Log `msg` at WARNING (30) with `fields` (see `log`)."""

    def warn(self, msg: object, /, **fields: Any) -> None:
        """Alias of `warning`: log `msg` at WARNING (30) with `fields`."""

    def error(self, msg: object, /, **fields: Any) -> None:
        """Log `msg` at ERROR (40) with `fields` (see `log`)."""

    def critical(self, msg: object, /, **fields: Any) -> None:
        """Log `msg` at CRITICAL (50) with `fields` (see `log`)."""

    def exception(self, msg: object, /, **fields: Any) -> None:
        """Log `msg` at ERROR (40) with the active exception and `fields`.

        As `error(msg, exc_info=True, **fields)`: an `exc_info` of your own overrides it.
        """

    def log(self, level: _LevelLike, msg: object, /, **fields: Any) -> None:
        """Log `msg` at `level` (a number or a level name) with `fields`.

        `fields` (any values; see `encode`) become the event's fields, except `exc_info`,
        `stack_info` and `stacklevel`, which work as in stdlib logging. A log call never raises
        because of what was logged: a level name the pipeline does not know is written as
        given and counted in `errors`.
        """

    def atrace(self, msg: object, /, **fields: Any) -> Awaitable[None]:
        """Awaitable `trace`: waits for ring space instead of dropping."""

    def adebug(self, msg: object, /, **fields: Any) -> Awaitable[None]:
        """Awaitable `debug`: waits for ring space instead of dropping."""

    def ainfo(self, msg: object, /, **fields: Any) -> Awaitable[None]:
        """Awaitable `info`: waits for ring space instead of dropping."""

    def awarning(self, msg: object, /, **fields: Any) -> Awaitable[None]:
        """Awaitable `warning`: waits for ring space instead of dropping."""

    def aerror(self, msg: object, /, **fields: Any) -> Awaitable[None]:
        """Awaitable `error`: waits for ring space instead of dropping."""

    def acritical(self, msg: object, /, **fields: Any) -> Awaitable[None]:
        """Awaitable `critical`: waits for ring space instead of dropping."""

    def aexception(self, msg: object, /, **fields: Any) -> Awaitable[None]:
        """Awaitable `exception`: waits for ring space instead of dropping."""

    def alog(self, level: _LevelLike, msg: object, /, **fields: Any) -> Awaitable[None]:
        """Awaitable `log`: waits (asynchronously) for ring space instead of dropping.

        Completes at once when the ring has room, except that every 256th such call on a
        thread running an asyncio loop gives the loop one turn first. An event too large ever
        to fit in the ring, or logged after the pipeline closed, is dropped (and counted).
        """

    # Once per call site and message: per process, or per `dedupe.once_window` seconds.
    def trace_once(self, msg: object, /, **fields: Any) -> None:
        """`trace`, once per call site and message (per process, or per
        `dedupe.once_window`)."""

    def debug_once(self, msg: object, /, **fields: Any) -> None:
        """`debug`, once per call site and message (per process, or per
        `dedupe.once_window`)."""

    def info_once(self, msg: object, /, **fields: Any) -> None:
        """`info`, once per call site and message (per process, or per
        `dedupe.once_window`)."""

    def warning_once(self, msg: object, /, **fields: Any) -> None:
        """`warning`, once per call site and message (per process, or per
        `dedupe.once_window`)."""

    def error_once(self, msg: object, /, **fields: Any) -> None:
        """`error`, once per call site and message (per process, or per
        `dedupe.once_window`)."""

    def critical_once(self, msg: object, /, **fields: Any) -> None:
        """`critical`, once per call site and message (per process, or per
        `dedupe.once_window`)."""

    def log_once(self, level: _LevelLike, msg: object, /, **fields: Any) -> None:
        """`log`, once per call site and message (per process, or per
        `dedupe.once_window`).

        The call site is the calling function; the message keys by its text (a non-str
        message by its type), the other fields do not matter. A call the level gate stops
        is not its one time; the calls left out are counted in `stats()["once_suppressed"]`.
        """

    def atrace_once(self, msg: object, /, **fields: Any) -> Awaitable[None]:
        """Awaitable `trace_once`: waits for ring space instead of dropping."""

    def adebug_once(self, msg: object, /, **fields: Any) -> Awaitable[None]:
        """Awaitable `debug_once`: waits for ring space instead of dropping."""

    def ainfo_once(self, msg: object, /, **fields: Any) -> Awaitable[None]:
        """Awaitable `info_once`: waits for ring space instead of dropping."""

    def awarning_once(self, msg: object, /, **fields: Any) -> Awaitable[None]:
        """Awaitable `warning_once`: waits for ring space instead of dropping."""

    def aerror_once(self, msg: object, /, **fields: Any) -> Awaitable[None]:
        """Awaitable `error_once`: waits for ring space instead of dropping."""

    def acritical_once(self, msg: object, /, **fields: Any) -> Awaitable[None]:
        """Awaitable `critical_once`: waits for ring space instead of dropping."""

    def alog_once(self, level: _LevelLike, msg: object, /, **fields: Any) -> Awaitable[None]:
        """Awaitable `log_once`: waits for ring space instead of dropping."""

    def bind(self, **fields: Any) -> Logger:
        """A new logger with `fields` added to (or replacing) the bound fields.

        The fields are encoded once, here, not at each log call.
        """

    def unbind(self, *keys: str) -> Logger:
        """A new logger without the bound fields named in `keys` (missing keys are ignored)."""

    def new(self, **fields: Any) -> Logger:
        """A new logger whose bound fields are exactly `fields` (the pipeline's static fields
        stay)."""

    def child(self, name: str, *, absolute: bool = False) -> Logger:
        """A logger named `name` (dotted onto this one's name unless `absolute`), same fields.

        Its level is the one set for its name, else this logger's; a level pinned with
        `with_level` is not inherited.
        """

    def with_level(self, level: _LevelLike) -> Logger:
        """The same logger with a different minimum level (a number or a level name).

        The level is pinned: levels set by logger name (`logger_levels`, `set_level`) no
        longer apply to it.
        """

    def is_enabled_for(self, level: _LevelLike) -> bool:
        """Whether an event at `level` (a number or a name) would be emitted."""

    def stats(self) -> dict[str, int]:
        """The pipeline's counters: `emitted`, `written`, `dropped`, `errors`, `bytes`,
        `high_water`, ...; `emitted == written + dropped` once `flush()` returned True."""

    def flush(self, timeout: float | None = None) -> Awaitable[bool]:
        """Await until everything logged before this call is written (or counted dropped)
        and the sinks flushed: True, or False on timeout (`None`: no limit)."""

@final
class Pipeline:
    """One ring, one native writer thread, its sinks and its counters."""

    def __new__(
        cls,
        *,
        sinks: Sequence[Mapping[str, Any] | _PythonSink],
        capacity_bytes: int | None = None,
        overflow: str = "drop",
        block_timeout: float = 1.0,
        batch_bytes: int | None = None,
        linger: float = 0.001,
        max_event_bytes: int | None = None,
        schema: str = "default",
        levels: Mapping[int, str] | None = None,
        fallback: Mapping[str, Any] | None = None,
        processors: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None,
        logger_levels: Mapping[str, int | str] | None = None,
        rules: Sequence[Mapping[str, Any]] | None = None,
        redaction: Mapping[str, Any] | None = None,
        static_fields: Mapping[str, Any] | None = None,
        static_pid: bool = False,
        request_events: Mapping[str, Any] | None = None,
        gcp_project: str | None = None,
        once_window: float | None = None,
        dedupe_window: float | None = None,
    ) -> Pipeline: ...
    def logger(self, name: str | None = None, level: _LevelLike | None = None) -> Logger: ...
    def set_level(self, name: str | None, level: _LevelLike | None) -> None: ...
    def reset_levels(self) -> None: ...
    def logger_levels(self) -> dict[str, int]: ...
    def level_number(self, level: _LevelLike) -> int: ...
    def level_names(self) -> dict[int, str]: ...
    def flush(self, timeout: float | None = None) -> bool: ...
    def close(self, timeout: float | None = None) -> bool: ...
    @property
    def closed(self) -> bool: ...
    @property
    def schema(self) -> str: ...
    def stats(self) -> dict[str, int]: ...
    def sink_health(self) -> list[dict[str, Any]]:
        """Each sink's health: ``name``, ``kind``, ``failing``, ``errors``, ``rerouted``,
        ``failovers``; network sinks (syslog, http) add ``delivered``, ``retried``,
        ``failed_batches``, ``dropped``, ``refused``, ``buffered_bytes`` and the breaker's
        ``state`` (see docs/shipping.md)."""

    @property
    def fallback(self) -> str | None: ...
    def _start_flush(self, timeout: float | None = None) -> FlushTicket: ...

@final
class Router:
    """The route of a Python sink: which lines of a batch it takes."""

    def select(self, batch: bytes) -> bytes: ...

def encode(value: object, *, max_bytes: int = 65536) -> bytes:
    """The JSON bytes a log call would write for `value`."""

def redaction_pattern_error(pattern: str) -> str | None:
    """Why `pattern` cannot be a redaction pattern, or None when it compiles."""

def _before_fork() -> None: ...
def _after_fork_parent() -> None: ...
def _after_fork_child() -> None: ...
def _close_all(timeout: float = 5.0) -> bool: ...
def _tap_acquire(tap: Callable[[bytes, Any], object], events: object) -> None: ...
def _tap_release(events: object) -> None: ...

#: The ContextVar holding the current request scope (see ferrolog.request_events).
request_scope_var: ContextVar[RequestScope | None]

@final
class RequestScope:
    """One open request scope: the fields of its canonical event, its counters and timings,
    and its fingers-crossed buffer."""

    def __new__(cls, logger: Logger, message: str | None = None, **fields: Any) -> RequestScope:
        """Open a scope whose canonical event ``logger`` writes with ``message``."""

    def add(self, **fields: Any) -> bool:
        """Add fields to the canonical event; False (counted) once the scope finished."""

    def incr(self, name: str, n: int | float | None = None) -> bool:
        """Add ``n`` (default 1) to the counter ``name``; False once the scope finished."""

    def timing(self, name: str, ms: int | float) -> bool:
        """Add ``ms`` milliseconds to the timing ``name``; False once the scope finished."""

    @property
    def finished(self) -> bool:
        """Whether the scope has finished (its event written or sampled out)."""

    @property
    def elapsed_ms(self) -> float:
        """Milliseconds since the scope opened."""

    def fields(self) -> dict[str, Any]:
        """The canonical event's fields so far (added fields, counters, timings)."""

    def finish(self, error: BaseException | None = None) -> bool:
        """End the scope: sample, and write the canonical event (True when written)."""

def add_to_request_event(**fields: Any) -> bool:
    """Add fields to the current request scope's event; False when no scope is open."""

def request_counter(name: str, n: int | float | None = None) -> bool:
    """Add ``n`` (default 1) to the current scope's counter ``name``; False without one."""

def request_timing(name: str, ms: int | float) -> bool:
    """Add ``ms`` to the current scope's timing ``name``; False without a scope."""

def current_request_scope() -> RequestScope | None:
    """The request scope current in this context, or None."""

def request_events_enabled(logger: Logger) -> bool:
    """Whether ``logger``'s pipeline has ``request_events.enabled`` on."""
