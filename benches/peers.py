"""The loggers that `compare.py` measures, each configured the fastest way its own docs say.

Every peer writes the same event, INFO "request handled" with ``user_id`` (int), ``path``
(str) and ``latency_ms`` (float), as one JSON line to a local file. A peer is opened into a
`Session`: ``loop(start, stop)`` logs events ``user_id = start .. stop-1`` in a tight loop
written out in that peer's own call form (no wrapper frame per event), and ``finish()``
returns once the library says everything emitted is on disk.

A peer whose library is not installed is reported as unavailable with a note; nothing here
imports a peer's library at module import time.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import importlib
import importlib.metadata
import json
import logging
import logging.handlers
import queue
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MESSAGE = "request handled"
PATH_VALUE = "/api/items"
LATENCY = 12.5

Loop = Callable[[int, int], None]
ALoop = Callable[[int, int], Awaitable[None]]


@dataclass
class Session:
    """One opened logger writing to `files()`."""

    loop: Loop
    finish: Callable[[], None]
    files: Callable[[], list[Path]]
    stats: Callable[[], Mapping[str, int]] | None = None


@dataclass
class AsyncSession:
    """One logger opened inside a running event loop (the asyncio burst)."""

    aloop: ALoop
    afinish: Callable[[], Awaitable[None]]
    files: Callable[[], list[Path]]
    stats: Callable[[], Mapping[str, int]] | None = None


@dataclass
class Peer:
    key: str
    label: str
    dists: tuple[str, ...]
    config: str
    open: Callable[[Path], Session]
    aopen: Callable[[Path], Awaitable[AsyncSession]] | None = None
    available_check: Callable[[], str | None] | None = None
    notes: list[str] = field(default_factory=list)

    def unavailable(self) -> str | None:
        """None when the peer can run here, else why not."""
        for dist in self.dists:
            mod = _MODULE_OF.get(dist, dist)
            try:
                importlib.import_module(mod)
            except ImportError as exc:
                return f"{dist} not installed ({exc.__class__.__name__}: {exc})"
        if self.available_check is not None:
            return self.available_check()
        return None

    def versions(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for dist in self.dists:
            try:
                out[dist] = importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                out[dist] = "?"
        return out


_MODULE_OF = {"orjson": "orjson", "ferrolog": "ferrolog._native"}


def _one(path: Path) -> Callable[[], list[Path]]:
    return lambda: [path]


def _sync_as_async(open_: Callable[[Path], Session]) -> Callable[[Path], Awaitable[AsyncSession]]:
    """Use a synchronous logger from a coroutine, as an asyncio app would."""

    async def aopen(path: Path) -> AsyncSession:
        s = open_(path)

        async def aloop(start: int, stop: int) -> None:
            s.loop(start, stop)

        async def afinish() -> None:
            s.finish()

        return AsyncSession(aloop, afinish, s.files, s.stats)

    return aopen


# --------------------------------------------------------------------------- floor


def open_floor(path: Path) -> Session:
    import orjson

    f = open(path, "wb", buffering=1 << 16)  # noqa: SIM115 - closed in finish()
    write = f.write
    dumps = orjson.dumps
    now = time.time

    def loop(start: int, stop: int) -> None:
        for i in range(start, stop):
            write(
                dumps(
                    {
                        "timestamp": now(),
                        "level": "info",
                        "message": MESSAGE,
                        "user_id": i,
                        "path": PATH_VALUE,
                        "latency_ms": LATENCY,
                    }
                )
                + b"\n"
            )

    return Session(loop, f.close, _one(path))


# --------------------------------------------------------------------------- ferrolog


def _ferrolog_check() -> str | None:
    native = importlib.import_module("ferrolog._native")
    if not hasattr(native, "Pipeline"):
        return "ferrolog's native logger is not built yet (ferrolog._native.Pipeline missing)"
    return None


RING_BYTES = 8 << 20
#: how long overflow="block" may wait for ring space before it counts a drop: long enough
#: that the lossless rows never drop on a loaded machine.
BLOCK_TIMEOUT = 30.0


def _open_ferrolog(overflow: str) -> Callable[[Path], Session]:
    def open_(path: Path) -> Session:
        from ferrolog._native import Pipeline

        pipe = Pipeline(
            sinks=[{"type": "file", "path": str(path)}],
            capacity_bytes=RING_BYTES,
            overflow=overflow,
            block_timeout=BLOCK_TIMEOUT,
        )
        log = pipe.logger("bench", logging.INFO)
        info = log.info

        def loop(start: int, stop: int) -> None:
            for i in range(start, stop):
                info(MESSAGE, user_id=i, path=PATH_VALUE, latency_ms=LATENCY)

        final: dict[str, int] = {}

        def finish() -> None:
            pipe.flush(30.0)
            final.update(dict(log.stats()))
            pipe.close(30.0)

        def stats() -> Mapping[str, int]:
            return final

        return Session(loop, finish, _one(path), stats)

    return open_


def _aopen_ferrolog(overflow: str) -> Callable[[Path], Awaitable[AsyncSession]]:
    async def aopen(path: Path) -> AsyncSession:
        return await _aopen_ferrolog_impl(path, overflow)

    return aopen


async def _aopen_ferrolog_impl(path: Path, overflow: str) -> AsyncSession:
    """The public API when the container has landed, else the native pipeline directly."""
    import ferrolog

    sink = {"type": "file", "path": str(path)}
    close: Callable[[], Awaitable[None]]
    if hasattr(ferrolog, "Container"):
        container = await ferrolog.Container.create(
            {
                "sinks": [sink],
                "ring": {"capacity_bytes": RING_BYTES, "overflow": overflow},
            }
        )
        log = await container.get(ferrolog.Logger)
        close = container.aclose
    else:
        pipe = ferrolog.Pipeline(
            sinks=[sink],
            capacity_bytes=RING_BYTES,
            overflow=overflow,
            block_timeout=BLOCK_TIMEOUT,
        )
        log = pipe.logger("bench", logging.INFO)

        async def close() -> None:
            pipe.close(30.0)

    # The awaited form: it waits for ring space instead of dropping, and every 256th call
    # gives the loop a turn, so a burst does not hold the loop for all of its calls.
    ainfo = log.ainfo

    async def aloop(start: int, stop: int) -> None:
        for i in range(start, stop):
            await ainfo(MESSAGE, user_id=i, path=PATH_VALUE, latency_ms=LATENCY)

    final: dict[str, int] = {}

    async def afinish() -> None:
        await log.flush(30.0)
        final.update(dict(log.stats()))
        await close()

    return AsyncSession(aloop, afinish, _one(path), lambda: final)


# --------------------------------------------------------------------------- structlog


def open_structlog(path: Path) -> Session:
    # structlog's "Performance" chapter: a filtering bound logger, a dict context, orjson
    # through JSONRenderer(serializer=orjson.dumps), BytesLoggerFactory, cached loggers.
    import orjson
    import structlog

    f = open(path, "wb")  # noqa: SIM115 - closed in finish()
    structlog.reset_defaults()
    structlog.configure(
        cache_logger_on_first_use=True,
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.format_exc_info,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ],
        logger_factory=structlog.BytesLoggerFactory(f),
    )
    log = structlog.get_logger()
    info = log.info

    def loop(start: int, stop: int) -> None:
        for i in range(start, stop):
            info(MESSAGE, user_id=i, path=PATH_VALUE, latency_ms=LATENCY)

    return Session(loop, f.close, _one(path))


# --------------------------------------------------------------------------- stdlib

_STD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys() | {"message", "asctime"}
)


def _dumps() -> Callable[[Any], bytes]:
    try:
        import orjson

        return orjson.dumps
    except ImportError:  # pragma: no cover - orjson is a dev dependency
        return lambda o: json.dumps(o, separators=(",", ":")).encode()


class JsonFormatter(logging.Formatter):
    """A JSON-lines formatter: the record's own fields plus everything passed via ``extra``."""

    def __init__(self) -> None:
        super().__init__()
        self._dumps = _dumps()

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "timestamp": _dt.datetime.fromtimestamp(record.created, _dt.timezone.utc).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for k, v in record.__dict__.items():
            if k not in _STD_ATTRS:
                out[k] = v
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return self._dumps(out).decode()


def _stdlib_fast_flags() -> None:
    # logging HOWTO, "Optimization": skip what the records will never show.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging.logAsyncioTasks = False  # type: ignore[attr-defined] # 3.12+, harmless before


def _fresh_stdlib_logger(name: str) -> logging.Logger:
    log = logging.getLogger(name)
    for h in list(log.handlers):
        log.removeHandler(h)
    log.setLevel(logging.INFO)
    log.propagate = False
    return log


def open_stdlib(path: Path) -> Session:
    _stdlib_fast_flags()
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(JsonFormatter())
    log = _fresh_stdlib_logger("bench.stdlib")
    log.addHandler(handler)
    info = log.info

    def loop(start: int, stop: int) -> None:
        for i in range(start, stop):
            info(MESSAGE, extra={"user_id": i, "path": PATH_VALUE, "latency_ms": LATENCY})

    def finish() -> None:
        handler.close()
        log.removeHandler(handler)

    return Session(loop, finish, _one(path))


def open_stdlib_queue(path: Path) -> Session:
    # logging cookbook, "Dealing with handlers that block": QueueHandler on the caller,
    # QueueListener with the real handler on its own thread; unbounded SimpleQueue.
    _stdlib_fast_flags()
    q: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    file_handler = logging.FileHandler(path, encoding="utf-8")
    file_handler.setFormatter(JsonFormatter())
    listener = logging.handlers.QueueListener(q, file_handler, respect_handler_level=False)
    log = _fresh_stdlib_logger("bench.stdlib_queue")
    log.addHandler(logging.handlers.QueueHandler(q))
    listener.start()
    info = log.info

    def loop(start: int, stop: int) -> None:
        for i in range(start, stop):
            info(MESSAGE, extra={"user_id": i, "path": PATH_VALUE, "latency_ms": LATENCY})

    def finish() -> None:
        listener.stop()  # drains the queue
        file_handler.close()

    return Session(loop, finish, _one(path))


# --------------------------------------------------------------------------- picologging


def open_picologging(path: Path) -> Session:
    # picologging is a C drop-in for stdlib logging; it has no `extra=`, so the fields go in
    # a single dict argument (record.args) and a JSON formatter subclass renders them.
    import picologging

    dumps = _dumps()

    class PicoJson(picologging.Formatter):
        def format(self, record: Any) -> str:
            out: dict[str, Any] = {
                "timestamp": _dt.datetime.fromtimestamp(
                    record.created, _dt.timezone.utc
                ).isoformat(),
                "level": record.levelname.lower(),
                "logger": record.name,
                "message": record.msg,
            }
            if isinstance(record.args, dict):
                out.update(record.args)
            return dumps(out).decode()

    handler = picologging.FileHandler(str(path))
    handler.setFormatter(PicoJson())
    log = picologging.getLogger("bench.pico")
    log.setLevel(picologging.INFO)
    log.addHandler(handler)
    info = log.info

    def loop(start: int, stop: int) -> None:
        for i in range(start, stop):
            info(MESSAGE, {"user_id": i, "path": PATH_VALUE, "latency_ms": LATENCY})

    def finish() -> None:
        handler.flush()
        handler.close()

    return Session(loop, finish, _one(path))


# --------------------------------------------------------------------------- loguru


def _open_loguru(enqueue: bool) -> Callable[[Path], Session]:
    def open_(path: Path) -> Session:
        # loguru: serialize=True is its JSON output; keyword arguments land in record.extra.
        # diagnose/backtrace off as its docs advise for production.
        from loguru import logger

        logger.remove()
        logger.add(
            str(path),
            serialize=True,
            level="INFO",
            format="{message}",
            enqueue=enqueue,
            backtrace=False,
            diagnose=False,
        )
        info = logger.info

        def loop(start: int, stop: int) -> None:
            for i in range(start, stop):
                info(MESSAGE, user_id=i, path=PATH_VALUE, latency_ms=LATENCY)

        def finish() -> None:
            logger.complete()
            logger.remove()

        return Session(loop, finish, _one(path))

    return open_


def _open_logust(enqueue: bool) -> Callable[[Path], Session]:
    def open_(path: Path) -> Session:
        # logust: loguru's API over a Rust core; serialize=True is its JSON output, keyword
        # arguments land in "extra" as with loguru.
        from logust import logger

        logger.remove()
        logger.add(str(path), serialize=True, level="INFO", enqueue=enqueue)
        info = logger.info

        def loop(start: int, stop: int) -> None:
            for i in range(start, stop):
                info(MESSAGE, user_id=i, path=PATH_VALUE, latency_ms=LATENCY)

        def finish() -> None:
            logger.complete()
            logger.remove()

        return Session(loop, finish, _one(path))

    return open_


# --------------------------------------------------------------------------- fapilog


def _fapilog_files(directory: Path) -> Callable[[], list[Path]]:
    return lambda: sorted(p for p in directory.iterdir() if p.is_file())


def _fapilog_settings(directory: Path, preset: str | None) -> Any:
    import copy

    from fapilog import Settings

    cfg: dict[str, Any]
    if preset is None:
        # lossless: never drop when the queue is full (README "reliability defaults").
        cfg = {"core": {"log_level": "INFO", "drop_on_full": False, "backpressure_wait_ms": 50}}
    else:
        from fapilog.core.presets import get_preset

        cfg = copy.deepcopy(get_preset(preset))  # type: ignore[arg-type]
    core = cfg.setdefault("core", {})
    core["sinks"] = ["rotating_file"]
    core.pop("sink_circuit_breaker_fallback_sink", None)
    sink_cfg = cfg.setdefault("sink_config", {})
    sink_cfg["rotating_file"] = {
        "directory": str(directory),
        "filename_prefix": "fapilog",
        "max_bytes": 1 << 40,
        "compress_rotated": False,
    }
    return Settings(**cfg)


def _open_fapilog(preset: str | None) -> Callable[[Path], Session]:
    def open_(path: Path) -> Session:
        import fapilog

        directory = path.with_suffix(".d")
        directory.mkdir(parents=True, exist_ok=True)
        log = fapilog.get_logger(
            name="bench", settings=_fapilog_settings(directory, preset), reuse=False
        )
        info = log.info
        final: dict[str, int] = {}

        def loop(start: int, stop: int) -> None:
            for i in range(start, stop):
                info(MESSAGE, user_id=i, path=PATH_VALUE, latency_ms=LATENCY)

        def finish() -> None:
            r = asyncio.run(log.stop_and_drain())
            final.update({"submitted": r.submitted, "processed": r.processed, "dropped": r.dropped})

        return Session(loop, finish, _fapilog_files(directory), lambda: final)

    return open_


def _aopen_fapilog(preset: str | None) -> Callable[[Path], Awaitable[AsyncSession]]:
    async def aopen(path: Path) -> AsyncSession:
        import fapilog

        directory = path.with_suffix(".d")
        directory.mkdir(parents=True, exist_ok=True)
        log = await fapilog.get_async_logger(
            name="bench", settings=_fapilog_settings(directory, preset), reuse=False
        )
        info = log.info
        final: dict[str, int] = {}

        async def aloop(start: int, stop: int) -> None:
            for i in range(start, stop):
                await info(MESSAGE, user_id=i, path=PATH_VALUE, latency_ms=LATENCY)

        async def afinish() -> None:
            r = await log.stop_and_drain()
            final.update({"submitted": r.submitted, "processed": r.processed, "dropped": r.dropped})

        return AsyncSession(aloop, afinish, _fapilog_files(directory), lambda: final)

    return aopen


# --------------------------------------------------------------------------- registry


PEERS: list[Peer] = [
    Peer(
        "floor",
        "orjson.dumps + buffered write (floor)",
        ("orjson",),
        "no library: orjson.dumps(dict) + b'\\n' into a 64 KiB-buffered binary file",
        open_floor,
    ),
    Peer(
        "ferrolog",
        "ferrolog (overflow=block)",
        ("ferrolog",),
        "native Pipeline, file sink, 8 MiB ring, overflow='block' (lossless, block_timeout "
        "30 s); asyncio burst: await log.ainfo(...) through Container.create + Logger",
        _open_ferrolog("block"),
        _aopen_ferrolog("block"),
        available_check=_ferrolog_check,
    ),
    Peer(
        "ferrolog-drop",
        "ferrolog (overflow=drop)",
        ("ferrolog",),
        "native Pipeline, file sink, 8 MiB ring, overflow='drop' (every drop must be counted)",
        _open_ferrolog("drop"),
        _aopen_ferrolog("drop"),
        available_check=_ferrolog_check,
    ),
    Peer(
        "structlog",
        "structlog (orjson, BytesLogger, cached)",
        ("structlog", "orjson"),
        "make_filtering_bound_logger(INFO), merge_contextvars, add_log_level, format_exc_info, "
        "TimeStamper(iso, utc), JSONRenderer(serializer=orjson.dumps), BytesLoggerFactory(file), "
        "cache_logger_on_first_use=True",
        open_structlog,
    ),
    Peer(
        "stdlib",
        "stdlib logging + JSON formatter",
        (),
        "logging.FileHandler + a JSON Formatter (record fields + extra=, orjson); HOWTO "
        "optimisations: _srcfile=None, logThreads/logProcesses/logMultiprocessing off",
        open_stdlib,
    ),
    Peer(
        "stdlib-queue",
        "stdlib QueueHandler/QueueListener",
        (),
        "QueueHandler(SimpleQueue) on the caller, QueueListener thread with FileHandler + the "
        "same JSON formatter",
        open_stdlib_queue,
    ),
    Peer(
        "picologging",
        "picologging (sync)",
        ("picologging",),
        "picologging.FileHandler + Formatter subclass rendering JSON (orjson); fields passed "
        "as one dict argument (picologging ignores extra=)",
        open_picologging,
    ),
    Peer(
        "loguru",
        "loguru serialize",
        ("loguru",),
        "logger.add(path, serialize=True, format='{message}', backtrace=False, diagnose=False); "
        "fields as keyword arguments (record.extra)",
        _open_loguru(False),
    ),
    Peer(
        "loguru-enqueue",
        "loguru enqueue=True",
        ("loguru",),
        "as above with enqueue=True; logger.complete() before the file is read",
        _open_loguru(True),
    ),
    Peer(
        "logust",
        "logust serialize",
        ("logust",),
        "logger.add(path, serialize=True, level='INFO'); loguru's API on a Rust core, fields "
        "as keyword arguments (extra)",
        _open_logust(False),
    ),
    Peer(
        "logust-enqueue",
        "logust enqueue=True",
        ("logust",),
        "as above with enqueue=True (its background writer thread); logger.complete() before "
        "the file is read",
        _open_logust(True),
    ),
    Peer(
        "fapilog",
        "fapilog (lossless)",
        ("fapilog",),
        "get_logger(settings): rotating_file sink only, drop_on_full=False, "
        "backpressure_wait_ms=50; stop_and_drain() at the end; async burst via get_async_logger",
        _open_fapilog(None),
        _aopen_fapilog(None),
    ),
    Peer(
        "fapilog-production",
        "fapilog (production preset)",
        ("fapilog",),
        "preset 'production' (2 workers, batch 256, queue 10k, redactors, enrichers) with its "
        "sink switched from stdout to rotating_file",
        _open_fapilog("production"),
        _aopen_fapilog("production"),
    ),
]

for _p in PEERS:
    if _p.aopen is None:
        _p.aopen = _sync_as_async(_p.open)

PEER_BY_KEY = {p.key: p for p in PEERS}


# --------------------------------------------------------------------------- checking


@dataclass
class LineCheck:
    lines: int = 0
    ok: int = 0
    garbled: int = 0
    wrong_type: int = 0
    duplicates: int = 0
    lost: int = 0
    examples: list[str] = field(default_factory=list)


def _collect(obj: Any, keys: frozenset[str], out: dict[str, list[Any]]) -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in keys:
                out.setdefault(k, []).append(v)
            if isinstance(v, dict | list):
                _collect(v, keys, out)
    elif isinstance(obj, list):
        for v in obj:
            _collect(v, keys, out)


#: fapilog files the request id of its context as "correlation_id"
REQUEST_ID_KEYS = ("request_id", "correlation_id")
_FIELD_KEYS = frozenset({"user_id", "path", "latency_ms", *REQUEST_ID_KEYS})


def _message_present(obj: Any) -> bool:
    if isinstance(obj, dict):
        return any(v == MESSAGE or _message_present(v) for v in obj.values())
    if isinstance(obj, list):
        return any(_message_present(v) for v in obj)
    return False


def typed_fields(obj: Any, exact: bool = True) -> tuple[int | None, str | None]:
    """(user_id, request_id) when the event carries every field with its JSON type, else
    (None, None); `exact` also wants latency_ms == 12.5. Fields may sit anywhere in the object (loguru nests them in record.extra,
    fapilog in log.context/log.data); a key counts when one occurrence has the right value."""
    found: dict[str, list[Any]] = {}
    _collect(obj, _FIELD_KEYS, found)
    uid = next(
        (v for v in found.get("user_id", ()) if type(v) is int),  # not bool, not str
        None,
    )
    path_ok = PATH_VALUE in found.get("path", ())
    lat_ok = any(
        type(v) is float and (v == LATENCY or not exact) for v in found.get("latency_ms", ())
    )
    if uid is None or not path_ok or not lat_ok or not _message_present(obj):
        return None, None
    rid = next((v for k in REQUEST_ID_KEYS for v in found.get(k, ()) if isinstance(v, str)), None)
    return uid, rid


def check_files(files: list[Path], expected: int, start: int = 0) -> LineCheck:
    """Parse every line back; count lost, duplicated, garbled and wrong-typed lines."""
    res = LineCheck()
    seen = bytearray(expected)
    for f in files:
        with open(f, "rb") as fh:
            for raw in fh:
                line = raw.rstrip(b"\r\n")
                if not line:
                    continue
                res.lines += 1
                try:
                    obj = json.loads(line)
                except ValueError:
                    res.garbled += 1
                    if len(res.examples) < 3:
                        res.examples.append(line[:200].decode("utf-8", "replace"))
                    continue
                uid, _ = typed_fields(obj)
                if uid is None or not (start <= uid < start + expected):
                    res.wrong_type += 1
                    if len(res.examples) < 3:
                        res.examples.append(line[:200].decode("utf-8", "replace"))
                    continue
                idx = uid - start
                if seen[idx]:
                    res.duplicates += 1
                else:
                    seen[idx] = 1
                    res.ok += 1
    res.lost = expected - res.ok
    return res


def machine_info() -> dict[str, str]:
    import os
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as fh:
            kb = int(fh.readline().split()[1])
            mem = f"{kb / (1 << 20):.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": mem,
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {sys.version.split()[0]}",
    }
