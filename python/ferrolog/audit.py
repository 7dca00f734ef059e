"""A tamper-evident audit trail: append-only JSON lines chained by SHA-256.

Each line is one record, in canonical JSON (sorted keys, no spaces, ASCII, non-ASCII as JSON
escapes)::

    {"event":{...},"hash":"<sha256>","prev":"<hash of the record before>","seq":7,"time":"..."}

``hash`` is the SHA-256 of the canonical encoding of the record's other four fields, and
``prev`` is the previous record's ``hash`` (64 zeros for the first record); ``seq`` counts
from 1. Editing a record breaks its own hash, removing or reordering records breaks the
``seq`` order and the ``prev`` links, and a record cut mid-line is not valid JSON: `verify`
reports the first such record. What a hash chain cannot show by itself is the loss of records
at the very end, or a chain rewritten in full from some point on: keep `VerifyResult.head`
(the last hash) somewhere else to anchor it.

Durability: the file is opened with ``O_APPEND``, and each record is written with one
``write`` and, with ``fsync=True`` (the default), flushed to disk with ``fsync`` before
`AuditTrail.record` returns. Appends hold an exclusive ``flock`` on the file and re-read the
chain's head when another writer (another process, a forked child) appended meanwhile, so
several processes can share one trail without breaking the chain.

Retention: a trail opened with ``retention_days`` (setting ``audit.retention_days``) starts
with a header record ``{"event": "audit.retention", "retention_days": N}``. It is chained like
any record, so it cannot be edited unnoticed; the retention is fixed when the trail starts:
reopening it with another retention (or with one, when it was started without) is refused,
so a configuration change cannot silently shorten how long it must be kept. `verify` reports
the header's retention (``VerifyResult.retention_days``). ferrolog never deletes records.
"""

from __future__ import annotations

import contextvars
import datetime
import enum
import fcntl
import hashlib
import json
import math
import os
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path, PurePath
from typing import Any

from ferrolog._categorize import categorize
from ferrolog._hierarchy import ComplianceError, FerrologError
from ferrolog._lifecycle import in_thread

__all__ = [
    "GENESIS",
    "MAX_RECORD_BYTES",
    "RETENTION_EVENT",
    "AuditError",
    "AuditTrail",
    "VerifyResult",
    "error_record",
    "path_problem",
    "verify",
]

#: The ``prev`` of the first record.
GENESIS = "0" * 64
#: The largest record (one line, newline included) a trail writes or reads.
MAX_RECORD_BYTES = 1024 * 1024
#: The ``event`` field of the header record that states a trail's retention.
RETENTION_EVENT = "audit.retention"
_FIELDS = frozenset({"seq", "time", "prev", "event", "hash"})
_MAX_DEPTH = 32


class AuditError(ComplianceError):
    """The audit trail cannot be opened, written or trusted; the message names the file."""


# -- canonical encoding --------------------------------------------------------------------


def _plain(value: object, depth: int = 0) -> Any:
    """``value`` as JSON-native data, deterministically (the hash depends on it)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if depth >= _MAX_DEPTH:
        return "<too deep>"
    if isinstance(value, Mapping):
        return {str(key): _plain(item, depth + 1) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item, depth + 1) for item in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_plain(item, depth + 1) for item in value), key=_sort_key)
    if isinstance(value, enum.Enum):
        return _plain(value.value, depth + 1)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (Decimal, uuid.UUID, PurePath)):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, BaseException):
        to_dict = getattr(value, "to_dict", None)
        if callable(to_dict):
            return _plain(to_dict(), depth + 1)
        return {"type": type(value).__qualname__, "message": str(value)}
    return repr(value)


def error_record(error: BaseException) -> dict[str, Any]:
    """The ``error`` field an audit record uses to describe ``error`` (with its category)."""
    if isinstance(error, FerrologError):
        return {"error": error.to_dict()}
    verdict = categorize(error)
    cls = type(error)
    try:
        message = str(error)[:4096]
    except Exception:
        message = f"<unprintable {cls.__qualname__}>"
    return {
        "error": {
            "type": f"{cls.__module__}.{cls.__qualname__}",
            "message": message,
            "category": verdict.category.value,
            "severity": verdict.severity.value,
            "retryable": verdict.retryable,
        }
    }


def _sort_key(item: object) -> str:
    return json.dumps(item, sort_keys=True, separators=(",", ":"))


def canonical(value: object) -> bytes:
    """The canonical JSON encoding of ``value`` that the chain hashes."""
    # ASCII with JSON escapes: a lone surrogate in an event stays valid JSON and round-trips.
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def _hash(seq: int, time: str, prev: str, event: object) -> str:
    body = canonical({"event": event, "prev": prev, "seq": seq, "time": time})
    return hashlib.sha256(body).hexdigest()


# -- verification ----------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyResult:
    """What `verify` found.

    ``ok`` is true when every record is intact. Otherwise ``bad_seq`` is the sequence number
    of the first bad record (the number it should have had), ``line`` its line number and
    ``reason`` what is wrong. ``records`` counts the records verified intact before it,
    ``last_seq`` and ``head`` are the last intact record's ``seq`` and ``hash``.
    """

    ok: bool
    records: int
    last_seq: int
    head: str
    bad_seq: int | None = None
    line: int | None = None
    reason: str = ""
    #: Days the records must be kept, from the trail's header record (None: not stated).
    retention_days: int | None = None


def verify(path: str | os.PathLike[str]) -> VerifyResult:
    """Check the hash chain of the audit trail at ``path`` and report its first bad record.

    Reads the file once, line by line (blocking: from async code, run it in a thread). A file
    that cannot be read is reported as not ok, with the reason, and ``bad_seq`` None.
    """
    records = 0
    prev = GENESIS
    retention: int | None = None
    try:
        with open(path, "rb") as handle:
            for number, raw in enumerate(_lines(handle), start=1):
                expected = records + 1
                problem = _check(raw, number, expected, prev)
                if isinstance(problem, str):
                    return VerifyResult(
                        False, records, records, prev, expected, number, problem, retention
                    )
                if number == 1 and raw is not None:
                    retention = _retention_of(raw)
                records, prev = expected, problem[1]
    except OSError as exc:
        reason = f"cannot read {path}: {exc.strerror or exc}"
        return VerifyResult(False, records, records, prev, reason=reason)
    return VerifyResult(True, records, records, prev, retention_days=retention)


def _retention_of(first_line: bytes) -> int | None:
    """The retention stated by a trail's first record, if it is a retention header."""
    try:
        event = json.loads(first_line)["event"]
    except (ValueError, TypeError, KeyError):
        return None
    if isinstance(event, dict) and event.get("event") == RETENTION_EVENT:
        days = event.get("retention_days")
        if isinstance(days, int) and not isinstance(days, bool):
            return days
    return None


def _check(raw: bytes | None, number: int, expected: int, prev: str) -> str | tuple[int, str]:
    """The reason line ``number`` is bad, or its (seq, hash) when it is intact."""
    if raw is None:
        return f"line {number} is longer than {MAX_RECORD_BYTES} bytes"
    if not raw.endswith(b"\n"):
        return f"the record after seq {expected - 1} is truncated mid-line (line {number})"
    try:
        record = json.loads(raw)
    except ValueError:
        return f"line {number} is not valid JSON (altered or truncated)"
    if not isinstance(record, dict) or set(record) != _FIELDS:
        return f"line {number} is not an audit record (fields: {', '.join(sorted(_FIELDS))})"
    seq, time, link, event, digest = (record[k] for k in ("seq", "time", "prev", "event", "hash"))
    if not isinstance(seq, int) or isinstance(seq, bool):
        return f"line {number}: seq is not an integer"
    if seq != expected:
        kind = "removed" if seq > expected else "reordered or duplicated"
        return f"line {number} has seq {seq} where seq {expected} was expected (records {kind})"
    if not (isinstance(time, str) and isinstance(digest, str) and isinstance(link, str)):
        return f"seq {seq}: time, prev and hash must be strings"
    if digest != _hash(seq, time, link, event):
        return f"seq {seq} was altered: its content does not match its hash"
    if link != prev:
        return f"seq {seq} does not link to the record before it (its prev hash differs)"
    return seq, digest


def _lines(handle: Any) -> Any:
    """Yield each line (with its newline, if any); ``None`` for a line over the limit."""
    while True:
        line = handle.readline(MAX_RECORD_BYTES + 1)
        if not line:
            return
        if len(line) > MAX_RECORD_BYTES:
            yield None
            return
        yield line


def path_problem(path: str | os.PathLike[str]) -> str | None:
    """Why `AuditTrail` could not open ``path``, checked without creating anything; else None.

    Blocking file-system calls: off the event loop.
    """
    target = Path(path).absolute()
    if target.is_symlink():
        return f"{target} is a symbolic link; the audit trail is never followed"
    if target.is_dir():
        return f"{target} is a directory, not a file"
    if target.exists():
        return None if os.access(target, os.R_OK | os.W_OK) else f"{target} is not writable"
    parent = target.parent
    if not parent.is_dir():
        return f"directory {parent} does not exist; create it first"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"directory {parent} is not writable"
    return None


# -- the trail -------------------------------------------------------------------------------


class AuditTrail:
    """An append-only, hash-chained audit log at ``path`` (created with mode 0o600).

    ``await trail.record(event)`` appends one record and returns its sequence number;
    ``trail.record_sync(event)`` does the same from code without an event loop. Both are safe
    from any number of tasks, threads and processes at once: records are numbered and chained
    in the order they reach the file. ``await trail.aclose()`` closes it (idempotent).
    Opening checks that an existing file ends with a complete, intact record, and refuses a
    file whose last record is cut or altered (run ``ferrolog audit verify PATH``).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fsync: bool = True,
        retention_days: int | None = None,
    ) -> None:
        """Open (or start) the trail at ``path``; with ``retention_days``, a new trail gets
        its retention header, and an existing one must state the same retention."""
        self.path = Path(path)
        self.fsync = fsync
        self.retention_days = retention_days
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._closed = False
        self._fd = self._open()
        try:
            with self._locked_file():
                self._seq, self._head, self._end = self._read_head()
                self._check_retention()
        except BaseException:
            os.close(self._fd)
            raise
        if self._seq == 0 and retention_days is not None:
            self._append({"event": RETENTION_EVENT, "retention_days": retention_days})

    def _check_retention(self) -> None:
        """Refuse a retention that differs from the one the trail started with."""
        if self._end == 0:
            return
        first = os.pread(self._fd, MAX_RECORD_BYTES + 1, 0).split(b"\n", 1)[0]
        stated = _retention_of(first)
        if stated != self.retention_days:
            said = "no retention" if stated is None else f"a retention of {stated} days"
            wanted = "none" if self.retention_days is None else f"{self.retention_days} days"
            raise AuditError(
                f"the audit trail {self.path} was started with {said}, but audit.retention_days "
                f"is {wanted}: a trail's retention is fixed when it starts; set the same "
                "retention, or move the trail aside to start a new one",
                path=str(self.path),
            )

    @property
    def closed(self) -> bool:
        """True once `aclose` (or `close`) has run."""
        return self._closed

    async def record(self, event: Mapping[str, Any]) -> int:
        """Append ``event`` (a mapping; values made JSON-safe) and return its sequence number.

        The write (and ``fsync``) runs in a worker thread, so the event loop never waits on
        the disk. Raises `AuditError` when the trail is closed or the write fails.
        """
        body = self._body(event)
        # A short-lived thread, not the default executor: a closed trail leaves no thread.
        # If the caller is cancelled the thread still finishes the record: never half-written.
        # The thread starts with an empty context: errors raised there capture the caller's.
        context = contextvars.copy_context()
        return await in_thread(lambda _timeout: context.run(self._append, body), 0.0)

    def record_sync(self, event: Mapping[str, Any]) -> int:
        """`record` for code without an event loop: blocks until the record is written."""
        return self._append(self._body(event))

    async def aclose(self) -> None:
        """Close the file; later `record` calls raise `AuditError`. Idempotent."""
        await in_thread(lambda _timeout: self.close(), 0.0)

    def close(self) -> None:
        """Close the file (blocking until a record being written is done). Idempotent."""
        with self._guard():
            if not self._closed:
                self._closed = True
                os.close(self._fd)

    def __repr__(self) -> str:
        return f"<AuditTrail {str(self.path)!r} {'closed' if self._closed else 'open'}>"

    # -- internals -----------------------------------------------------------------------

    def _body(self, event: Mapping[str, Any]) -> Any:
        if not isinstance(event, Mapping):
            raise TypeError(
                f"AuditTrail.record takes a mapping of event fields, not {type(event).__name__}"
            )
        return _plain(event)

    def _open(self) -> int:
        try:
            return os.open(
                self.path,
                os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW,
                0o600,
            )
        except OSError as exc:
            raise AuditError(
                f"cannot open the audit trail {self.path}: {exc.strerror or exc}; check that "
                "its directory exists and is writable (setting audit.path)",
                path=str(self.path),
            ) from exc

    def _guard(self) -> threading.Lock:
        if self._pid != os.getpid():
            # A forked child: the parent's lock may be held by a thread that does not exist
            # here, and the inherited descriptor shares the parent's flock; use fresh ones.
            self._pid = os.getpid()
            self._lock = threading.Lock()
            if not self._closed:
                os.close(self._fd)
                self._fd = self._open()
                self._end = -1  # re-read the head at the next append
        return self._lock

    def _locked_file(self) -> _FileLock:
        return _FileLock(self._fd)

    def _append(self, event: Any) -> int:
        with self._guard():
            if self._closed:
                raise AuditError(
                    f"the audit trail {self.path} is closed; records go to an open trail",
                    path=str(self.path),
                )
            try:
                with self._locked_file():
                    if os.fstat(self._fd).st_size != self._end:
                        # Someone else appended (or truncated) since our last write.
                        self._seq, self._head, self._end = self._read_head()
                    seq = self._seq + 1
                    time = datetime.datetime.now(datetime.timezone.utc).isoformat()
                    digest = _hash(seq, time, self._head, event)
                    line = (
                        canonical(
                            {
                                "event": event,
                                "hash": digest,
                                "prev": self._head,
                                "seq": seq,
                                "time": time,
                            }
                        )
                        + b"\n"
                    )
                    if len(line) > MAX_RECORD_BYTES:
                        raise AuditError(
                            f"audit record of {len(line)} bytes exceeds {MAX_RECORD_BYTES}; "
                            "record less (ids, not payloads)",
                            path=str(self.path),
                        )
                    _write_all(self._fd, line)
                    if self.fsync:
                        os.fsync(self._fd)
                    self._end = os.fstat(self._fd).st_size
                    self._seq, self._head = seq, digest
                    return seq
            except OSError as exc:
                raise AuditError(
                    f"writing the audit trail {self.path} failed: {exc.strerror or exc}",
                    path=str(self.path),
                ) from exc

    def _read_head(self) -> tuple[int, str, int]:
        """The last record's seq and hash and the file size; checks that record is intact."""
        size = os.fstat(self._fd).st_size
        if size == 0:
            return 0, GENESIS, 0
        last = _last_line(self._fd, size)
        where = f"the audit trail {self.path}"
        fix = "run `ferrolog audit verify` on it and move it aside to start a new trail"
        if last is None or not last.endswith(b"\n"):
            raise AuditError(f"{where} ends with a partial record; {fix}", path=str(self.path))
        try:
            record = json.loads(last)
            seq, digest = record["seq"], record["hash"]
            intact = digest == _hash(seq, record["time"], record["prev"], record["event"])
        except (ValueError, TypeError, KeyError):
            intact = False
        if not intact or not isinstance(seq, int):
            raise AuditError(f"{where}: its last record is not intact; {fix}", path=str(self.path))
        return seq, digest, size


def _last_line(fd: int, size: int) -> bytes | None:
    """The last line of a non-empty file, ``None`` when it is longer than the record limit."""
    start = max(0, size - MAX_RECORD_BYTES - 1)
    chunk = os.pread(fd, size - start, start)
    cut = chunk.rfind(b"\n", 0, len(chunk) - 1)
    if cut < 0 and start > 0:
        return None
    return chunk[cut + 1 :]


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class _FileLock:
    """An exclusive ``flock`` on the trail for one append, across processes."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def __enter__(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
