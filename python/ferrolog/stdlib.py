"""Standard library `logging`, both ways: its records into ferrolog, and ferrolog behind a
stdlib-shaped logger.

    container = await Container.create()
    await capture_stdlib(container, level="INFO")   # uvicorn, sqlalchemy, httpx, ... -> ferrolog
    logging.getLogger("sqlalchemy.engine").info("SELECT %s", 1)

Into ferrolog: `StdlibHandler` is a `logging.Handler` that sends each record to a ferrolog
logger named like the record (so ``logger_levels`` applies to stdlib names too), at the
record's level, with its message (``record.getMessage()``, formatted only when that level
is enabled), its ``extra`` fields (the attributes a standard `LogRecord` does not have) and
its exception (``exc_info``). `capture_stdlib` installs one on the root logger and removes it
when the container closes.

Out of ferrolog: `as_stdlib(logger)` wraps a ferrolog `Logger` in a `StdlibLoggerAdapter`
for code that calls loggers the stdlib way (``log.warning("x %s", arg, exc_info=True,
extra={...})``).

No loops: a record emitted while this handler is already sending one on the same thread
(a ``__str__`` that logs), or on one of ferrolog's own threads (a Python sink or plugin
that uses `logging`), is not sent into ferrolog again; the root logger's other handlers
still get it. ferrolog's own diagnostics never use `logging`. Installing twice for one
container keeps one handler.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterable, Mapping
from typing import Any, Final

from ferrolog._native import Logger
from ferrolog.container import Container

__all__ = ["StdlibHandler", "StdlibLoggerAdapter", "as_stdlib", "capture_stdlib"]

# The attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD: Final = frozenset(
    {
        *logging.LogRecord("", 0, "", 0, "", (), None).__dict__,
        "message",
        "asctime",
        "taskName",  # Python 3.12+
    }
)
# How many stdlib logger names get a cached ferrolog logger; past it, loggers are made per
# record (a program creating names without bound must not grow this without bound).
_MAX_CACHED_NAMES: Final = 4096
# Threads ferrolog starts (writer, Python sinks, closing): a record logged there is not sent
# back into ferrolog, where it would reach that same sink again.
_OWN_THREAD_PREFIX: Final = "ferrolog-"


class StdlibHandler(logging.Handler):
    """A `logging.Handler` that sends stdlib records to the ferrolog ``logger``.

    Each record goes to ``logger.child(record.name, absolute=True)``: the event's ``logger``
    is the record's name and ferrolog's ``logger_levels`` apply to it.
    """

    def __init__(self, logger: Logger, level: int | str = logging.NOTSET) -> None:
        super().__init__(level)
        self._logger = logger
        self._children: dict[str, Logger] = {}
        self._local = threading.local()
        self.container_id: str | None = None  # set by capture_stdlib

    @property
    def logger(self) -> Logger:
        """The ferrolog logger records are sent to."""
        return self._logger

    def handle(self, record: logging.LogRecord) -> bool:
        """Filter and emit ``record`` without the handler's lock: a ferrolog logger is
        thread-safe, so threads need not wait for each other here."""
        accepted = self.filter(record)
        if accepted:
            self.emit(record if not isinstance(accepted, logging.LogRecord) else accepted)
        return bool(accepted)

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(self._local, "active", False):
            return  # logged while sending a record on this thread (a __str__ that logs)
        if threading.current_thread().name.startswith(_OWN_THREAD_PREFIX):
            return  # from a ferrolog sink or plugin thread: it would come back to it
        self._local.active = True
        try:
            target = self._child(record.name)
            if not target.is_enabled_for(record.levelno):
                return
            fields = _fields(k_v for k_v in record.__dict__.items() if k_v[0] not in _STANDARD)
            if record.stack_info:
                depth = _call_site_depth(record)
                if depth:
                    # The same stack, as ferrolog's own ``stack`` field.
                    fields["stack_info"] = True
                    fields["stacklevel"] = depth
                else:  # emitted elsewhere (e.g. by a QueueListener): keep stdlib's text
                    fields["stack_text"] = record.stack_info
            if record.exc_info and record.exc_info[0] is not None:
                fields["exc_info"] = record.exc_info
            target.log(record.levelno, record.getMessage(), **fields)
        except Exception:
            self.handleError(record)
        finally:
            self._local.active = False

    def _child(self, name: str) -> Logger:
        child = self._children.get(name)
        if child is None:
            child = self._logger.child(name, absolute=True)
            if len(self._children) < _MAX_CACHED_NAMES:
                self._children[name] = child
        return child

    def __repr__(self) -> str:
        level = logging.getLevelName(self.level)
        return f"<ferrolog.stdlib.StdlibHandler {level} -> {self._logger.name!r}>"


async def capture_stdlib(container: Container, level: int | str = "INFO") -> StdlibHandler:
    """Send the stdlib records of ``level`` and above into ``container``'s logger, until it
    closes.

    Installs a `StdlibHandler` on the root logger and sets the root logger's level to
    ``level`` (records below it are then not even created); both are undone when the
    container closes. Calling it again for the same container changes the level and keeps
    the one handler. Returns the handler.
    """
    number = _level_number(level)
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler, StdlibHandler) and handler.container_id == container.id:
            handler.setLevel(number)
            root.setLevel(number)
            return handler
    handler = StdlibHandler(await container.get(Logger), number)
    handler.container_id = container.id
    previous = root.level

    def release() -> None:
        root.removeHandler(handler)
        if not any(isinstance(h, StdlibHandler) for h in root.handlers):
            root.setLevel(previous)

    container.on_close(release, name="capture_stdlib")
    root.addHandler(handler)
    root.setLevel(number)
    return handler


def _level_number(level: int | str) -> int:
    if isinstance(level, int) and not isinstance(level, bool):
        return level
    if isinstance(level, str):
        number = logging.getLevelName(level.strip().upper())
        if isinstance(number, int):
            return number
    raise ValueError(
        f"level must be a stdlib level number or name (DEBUG, INFO, WARNING, ERROR, "
        f"CRITICAL), not {level!r}"
    )


def _call_site_depth(record: logging.LogRecord) -> int:
    """How many frames above ``emit`` the record's logging call is (the ``stacklevel`` of a
    log call made by ``emit``), or 0 when it is not on this thread's stack."""
    if record.thread != threading.get_ident():
        return 0
    frame = sys._getframe(2)  # the caller of emit()
    depth = 2
    while frame is not None and depth < 200:
        if frame.f_code.co_filename == record.pathname and frame.f_lineno == record.lineno:
            return depth
        frame = frame.f_back  # type: ignore[assignment]
        depth += 1
    return 0


class StdlibLoggerAdapter:
    """A ferrolog `Logger` with the call shape of a stdlib `logging.Logger`.

    ``debug/info/warning/error/critical/exception/log`` take ``msg, *args`` (``%``-formatted
    only when the level is enabled), ``exc_info``, ``stack_info``, ``stacklevel`` and
    ``extra`` (its keys become fields); ``isEnabledFor``, ``getEffectiveLevel``,
    ``getChild`` and ``name`` work as in `logging`. Handlers, filters and propagation do not
    exist here: the ferrolog pipeline is the handler.
    """

    __slots__ = ("_logger",)

    def __init__(self, logger: Logger) -> None:
        self._logger = logger

    @property
    def logger(self) -> Logger:
        """The wrapped ferrolog logger."""
        return self._logger

    @property
    def name(self) -> str:
        return self._logger.name

    def isEnabledFor(self, level: int) -> bool:
        return self._logger.is_enabled_for(level)

    def getEffectiveLevel(self) -> int:
        return self._logger.level

    def getChild(self, suffix: str) -> StdlibLoggerAdapter:
        return StdlibLoggerAdapter(self._logger.child(suffix))

    def debug(self, msg: object, *args: object, **kwargs: Any) -> None:
        self._log(logging.DEBUG, msg, args, kwargs)

    def info(self, msg: object, *args: object, **kwargs: Any) -> None:
        self._log(logging.INFO, msg, args, kwargs)

    def warning(self, msg: object, *args: object, **kwargs: Any) -> None:
        self._log(logging.WARNING, msg, args, kwargs)

    def error(self, msg: object, *args: object, **kwargs: Any) -> None:
        self._log(logging.ERROR, msg, args, kwargs)

    def critical(self, msg: object, *args: object, **kwargs: Any) -> None:
        self._log(logging.CRITICAL, msg, args, kwargs)

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kwargs: Any) -> None:
        self._log(logging.ERROR, msg, args, {**kwargs, "exc_info": exc_info})

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        self._log(level, msg, args, kwargs)

    def _log(
        self, level: int, msg: object, args: tuple[object, ...], kwargs: dict[str, Any]
    ) -> None:
        if not self._logger.is_enabled_for(level):
            return
        unknown = set(kwargs) - {"exc_info", "stack_info", "stacklevel", "extra"}
        if unknown:
            raise TypeError(f"unexpected keyword argument(s): {', '.join(sorted(unknown))}")
        extra = kwargs.get("extra")
        fields = _fields(extra.items()) if isinstance(extra, Mapping) else {}
        for key in ("exc_info", "stack_info"):
            if kwargs.get(key):
                fields[key] = kwargs[key]
        if "stacklevel" in kwargs or fields.get("stack_info"):
            # Two more frames: this adapter's own.
            fields["stacklevel"] = int(kwargs.get("stacklevel", 1)) + 2
        try:
            message = _format(msg, args)
        except Exception as exc:  # a bad format must not make the log call raise
            message = str(msg)
            fields["format_args"] = repr(args)
            fields["format_error"] = repr(exc)
        self._logger.log(level, message, **fields)

    def __repr__(self) -> str:
        return f"<ferrolog.stdlib.StdlibLoggerAdapter {self._logger.name!r}>"


def as_stdlib(logger: Logger) -> StdlibLoggerAdapter:
    """``logger`` with the stdlib call shape: ``.warning("x %s", arg, extra={...})``."""
    return StdlibLoggerAdapter(logger)


# Keywords a ferrolog log call reads as options, not fields.
_SPECIAL: Final = frozenset({"exc_info", "stack_info", "stacklevel"})


def _fields(items: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """``extra`` fields for a log call: a field named like one of its options is renamed
    ``extra.<name>`` so it stays a field."""
    return {(f"extra.{k}" if k in _SPECIAL else k): v for k, v in items}


def _format(msg: object, args: tuple[object, ...]) -> str:
    text = str(msg)
    if not args:
        return text
    # As logging.LogRecord.getMessage: a single mapping is the named-argument form.
    if len(args) == 1 and isinstance(args[0], Mapping) and args[0]:
        return text % args[0]
    return text % args
