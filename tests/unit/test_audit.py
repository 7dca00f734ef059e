"""The audit trail: hash-chained JSON lines, concurrent appends, verify(), container wiring."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from ferrolog import Container, ResolutionError
from ferrolog.audit import GENESIS, AuditError, AuditTrail, verify
from ferrolog.errors import ComplianceError, SinkError, error_context

NULL: dict[str, Any] = {"sinks": [{"type": "null"}]}


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def _canonical(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode("ascii")


async def _trail_of(path: Path, count: int) -> None:
    trail = AuditTrail(path, fsync=False)
    for i in range(count):
        await trail.record({"action": "login", "user": f"u{i}"})
    await trail.aclose()


# -- the file format -------------------------------------------------------------------


async def test_records_are_canonical_json_lines_chained_by_sha256(tmp_path: Path) -> None:
    """Each line has seq, time, event, prev (previous hash) and its own SHA-256 hash."""
    path = tmp_path / "audit.log"
    trail = AuditTrail(path)
    assert await trail.record({"b": 1, "a": "é"}) == 1
    assert await trail.record({"action": "export"}) == 2
    await trail.aclose()
    raw = path.read_bytes().splitlines()
    first, second = _records(path)
    assert raw[0] == _canonical(first)  # sorted keys, no spaces, ASCII
    assert (first["seq"], first["prev"]) == (1, GENESIS)
    assert first["event"] == {"a": "é", "b": 1}
    body = {k: first[k] for k in ("event", "prev", "seq", "time")}
    assert first["hash"] == hashlib.sha256(_canonical(body)).hexdigest()
    assert (second["seq"], second["prev"]) == (2, first["hash"])
    assert datetime.datetime.fromisoformat(first["time"]).tzinfo is not None
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    result = verify(path)
    assert (result.ok, result.records, result.last_seq, result.head) == (
        True,
        2,
        2,
        second["hash"],
    )


async def test_values_are_made_json_safe_deterministically(tmp_path: Path) -> None:
    """Sets, datetimes, bytes, NaN, paths, exceptions and non-str keys are encoded stably."""
    path = tmp_path / "audit.log"
    trail = AuditTrail(path, fsync=False)
    when = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    await trail.record(
        {
            "set": {3, 1, 2},
            "when": when,
            "blob": b"\x00\xff",
            "nan": float("nan"),
            "path": Path("/x"),
            1: "int key",
            "error": SinkError("disk full", component="file"),
            "surrogate": "bad \udc80 text",
        }
    )
    await trail.aclose()
    (record,) = _records(path)
    event = record["event"]
    assert event["set"] == [1, 2, 3]
    assert event["when"] == "2026-01-02T03:04:05+00:00"
    assert event["blob"] == "00ff"
    assert event["nan"] == "nan"
    assert event["path"] == "/x"
    assert event["1"] == "int key"
    assert event["error"]["category"] == "sink_io"
    assert event["error"]["context"] == {"component": "file"}
    assert event["surrogate"] == "bad \udc80 text"
    assert verify(path).ok


async def test_a_reopened_trail_continues_the_chain(tmp_path: Path) -> None:
    """Opening an existing trail appends after its last record, keeping the chain."""
    path = tmp_path / "audit.log"
    await _trail_of(path, 3)
    trail = AuditTrail(path)
    assert trail.record_sync({"after": "restart"}) == 4
    trail.close()
    assert verify(path).records == 4


async def test_record_after_close_and_bad_events_are_refused(tmp_path: Path) -> None:
    """A closed trail raises AuditError, a non-mapping event TypeError; close is idempotent."""
    trail = AuditTrail(tmp_path / "audit.log")
    with pytest.raises(TypeError, match="takes a mapping"):
        await trail.record(["not", "a", "mapping"])  # type: ignore[arg-type]
    await trail.aclose()
    await trail.aclose()
    assert trail.closed
    with (
        error_context(component="exporter"),
        pytest.raises(AuditError, match="is closed") as caught,
    ):
        await trail.record({"x": 1})
    assert isinstance(caught.value, ComplianceError)
    assert caught.value.context["component"] == "exporter"


async def test_an_oversized_record_is_refused(tmp_path: Path) -> None:
    """A record over MAX_RECORD_BYTES raises AuditError and writes nothing."""
    path = tmp_path / "audit.log"
    trail = AuditTrail(path)
    with pytest.raises(AuditError, match="exceeds"):
        await trail.record({"payload": "x" * (2 * 1024 * 1024)})
    assert await trail.record({"small": True}) == 1
    await trail.aclose()
    assert verify(path).ok


def test_an_unopenable_path_names_the_file_and_setting(tmp_path: Path) -> None:
    """A missing directory fails with AuditError naming the path and audit.path."""
    missing = tmp_path / "nope" / "audit.log"
    with pytest.raises(AuditError, match=r"cannot open the audit trail .*nope.*audit\.path"):
        AuditTrail(missing)


async def test_a_trail_ending_in_a_partial_record_is_not_appended_to(tmp_path: Path) -> None:
    """Opening refuses a file whose last record was cut, instead of gluing a record onto it."""
    path = tmp_path / "audit.log"
    await _trail_of(path, 2)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(AuditError, match="ends with a partial record; run `ferrolog audit verify`"):
        AuditTrail(path)
    assert path.read_bytes().count(b"\n") == 1  # nothing was written


# -- concurrency ------------------------------------------------------------------------


async def test_concurrent_records_from_many_tasks_form_one_chain(tmp_path: Path) -> None:
    """100 concurrent record() calls get distinct seqs 1..100 and the chain verifies."""
    path = tmp_path / "audit.log"
    trail = AuditTrail(path, fsync=False)
    seqs = await asyncio.gather(*(trail.record({"i": i}) for i in range(100)))
    await trail.aclose()
    assert sorted(seqs) == list(range(1, 101))
    assert verify(path).records == 100
    assert sorted(r["event"]["i"] for r in _records(path)) == list(range(100))


def test_records_from_several_threads_and_loops_form_one_chain(tmp_path: Path) -> None:
    """Threads with their own event loops and plain threads share one trail safely."""
    path = tmp_path / "audit.log"
    trail = AuditTrail(path, fsync=False)

    def with_loop(n: int) -> None:
        async def run() -> None:
            for i in range(20):
                await trail.record({"thread": n, "i": i})

        asyncio.run(run())

    def without_loop(n: int) -> None:
        for i in range(20):
            trail.record_sync({"thread": n, "i": i})

    threads = [threading.Thread(target=with_loop, args=(n,)) for n in range(3)]
    threads += [threading.Thread(target=without_loop, args=(n,)) for n in range(3, 6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    trail.close()
    result = verify(path)
    assert (result.ok, result.records) == (True, 120)


_WRITER = """
import sys
from ferrolog.audit import AuditTrail
trail = AuditTrail(sys.argv[1], fsync=False)
for i in range(int(sys.argv[3])):
    trail.record_sync({"process": sys.argv[2], "i": i})
trail.close()
"""


def test_several_processes_append_to_one_chain(tmp_path: Path) -> None:
    """Processes appending at once to one trail keep a single valid chain (flock + head re-read)."""
    path = tmp_path / "audit.log"
    AuditTrail(path).close()
    writers = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(n), "50"]) for n in range(3)
    ]
    assert [writer.wait(timeout=60) for writer in writers] == [0, 0, 0]
    result = verify(path)
    assert (result.ok, result.records) == (True, 150), result.reason


# -- verify ------------------------------------------------------------------------------


def _rewrite(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(line + b"\n" for line in lines))


async def test_verify_reports_an_altered_record(tmp_path: Path) -> None:
    """Changing any value of a record (even the last one) is reported at that record's seq."""
    path = tmp_path / "audit.log"
    await _trail_of(path, 5)
    for seq in (3, 5):
        lines = path.read_bytes().splitlines()
        original = list(lines)
        lines[seq - 1] = lines[seq - 1].replace(b'"login"', b'"logout"')
        _rewrite(path, lines)
        result = verify(path)
        assert (result.ok, result.bad_seq, result.line) == (False, seq, seq)
        assert f"seq {seq} was altered" in result.reason
        assert result.records == seq - 1
        _rewrite(path, original)
    assert verify(path).ok


async def test_verify_reports_a_rehashed_record_by_its_broken_link(tmp_path: Path) -> None:
    """An edit whose own hash was recomputed is caught by the next record's prev link."""
    path = tmp_path / "audit.log"
    await _trail_of(path, 4)
    records = _records(path)
    forged = records[1]
    forged["event"]["user"] = "mallory"
    body = {k: forged[k] for k in ("event", "prev", "seq", "time")}
    forged["hash"] = hashlib.sha256(_canonical(body)).hexdigest()
    _rewrite(path, [_canonical(r) for r in records])
    result = verify(path)
    assert (result.ok, result.bad_seq) == (False, 3)
    assert "does not link to the record before it" in result.reason


async def test_verify_reports_a_removed_record(tmp_path: Path) -> None:
    """Deleting a record in the middle is reported at the missing seq."""
    path = tmp_path / "audit.log"
    await _trail_of(path, 5)
    lines = path.read_bytes().splitlines()
    del lines[1]
    _rewrite(path, lines)
    result = verify(path)
    assert (result.ok, result.bad_seq, result.line) == (False, 2, 2)
    assert "seq 3 where seq 2 was expected (records removed)" in result.reason


async def test_verify_reports_reordered_records(tmp_path: Path) -> None:
    """Swapping two records is reported at the first out-of-order position."""
    path = tmp_path / "audit.log"
    await _trail_of(path, 5)
    lines = path.read_bytes().splitlines()
    lines[2], lines[3] = lines[3], lines[2]
    _rewrite(path, lines)
    result = verify(path)
    assert (result.ok, result.bad_seq) == (False, 3)
    assert "seq 4 where seq 3 was expected" in result.reason


async def test_verify_reports_a_record_truncated_mid_line(tmp_path: Path) -> None:
    """A last record cut mid-line (a crash during write) is reported as truncated."""
    path = tmp_path / "audit.log"
    await _trail_of(path, 3)
    path.write_bytes(path.read_bytes()[:-20])
    result = verify(path)
    assert (result.ok, result.bad_seq, result.records) == (False, 3, 2)
    assert "truncated mid-line" in result.reason


async def test_verify_reports_garbage_and_foreign_lines(tmp_path: Path) -> None:
    """A line that is not JSON, or JSON that is not a record, is reported by line."""
    path = tmp_path / "audit.log"
    await _trail_of(path, 2)
    intact = path.read_bytes()
    path.write_bytes(intact + b"not json\n")
    assert verify(path).reason == "line 3 is not valid JSON (altered or truncated)"
    path.write_bytes(intact + b'{"seq": 3}\n')
    assert "line 3 is not an audit record" in verify(path).reason


def test_verify_of_an_empty_or_missing_file(tmp_path: Path) -> None:
    """An empty trail is intact (0 records); a missing one is reported, not raised."""
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    assert verify(empty).ok
    result = verify(tmp_path / "missing.log")
    assert not result.ok
    assert result.bad_seq is None
    assert "cannot read" in result.reason


# -- the container -----------------------------------------------------------------------


class Db:
    pass


async def test_audit_path_turns_the_trail_on_for_a_container(tmp_path: Path) -> None:
    """With audit.path the container records its start, failures and close; get() exposes it."""
    path = tmp_path / "audit.log"
    container = await Container.create({**NULL, "audit": {"path": str(path)}})
    trail = await container.get(AuditTrail)
    assert trail is await container.get(AuditTrail)
    await trail.record({"event": "user.exported", "user": "u1"})

    async def broken(c: Container) -> Db:
        raise ConnectionRefusedError(111, "db down")

    container.register(Db, broken)
    with pytest.raises(ConnectionRefusedError):
        await container.get(Db)

    class Cache:
        def close(self) -> None:
            raise SinkError("flush failed; check the disk")

    async def make_cache(c: Container) -> Cache:
        return Cache()

    container.register(Cache, make_cache)
    await container.get(Cache)
    with pytest.raises(Exception, match="failed to close"):
        await container.aclose()
    assert trail.closed
    events = [r["event"] for r in _records(path)]
    assert [e["event"] for e in events] == [
        "container.started",
        "user.exported",
        "component.create_failed",
        "component.close_failed",
        "container.closed",
    ]
    assert all(e.get("container") == container.id for e in events if e["event"] != "user.exported")
    assert events[2]["component"] == "Db"
    assert events[2]["error"]["category"] == "network"
    assert events[3]["component"] == Cache.__qualname__
    assert events[3]["error"]["message"] == "flush failed; check the disk"
    assert events[4]["failures"] == 1
    assert verify(path).ok


async def test_without_audit_path_there_is_no_trail(tmp_path: Path) -> None:
    """get(AuditTrail) without audit.path says how to turn it on."""
    async with Container.create(NULL) as container:
        with pytest.raises(ResolutionError, match=r"no audit trail: set audit\.path"):
            await container.get(AuditTrail)


async def test_a_bad_audit_path_fails_container_create(tmp_path: Path) -> None:
    """An audit.path in a missing directory fails Container.create, naming it."""
    bad = tmp_path / "missing" / "audit.log"
    with pytest.raises(AuditError, match=r"audit\.path") as caught:
        await Container.create({**NULL, "audit": {"path": str(bad)}})
    assert caught.value.context["component"] == "AuditTrail"


async def test_the_environment_and_direct_construction_turn_it_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FERROLOG_AUDIT__PATH works, and Container(settings) opens the trail at first need."""
    from ferrolog import Settings

    path = tmp_path / "env.log"
    monkeypatch.setenv("FERROLOG_AUDIT__PATH", str(path))
    monkeypatch.setenv("FERROLOG_AUDIT__FSYNC", "false")
    settings = Settings(**NULL)
    assert settings.audit.fsync is False
    container = Container(settings)
    assert not path.exists()
    trail = await container.get(AuditTrail)
    assert trail.fsync is False
    await container.aclose()
    assert [r["event"]["event"] for r in _records(path)] == [
        "container.started",
        "container.closed",
    ]


def test_create_sync_records_too(tmp_path: Path) -> None:
    """A container started with create_sync writes the same trail."""
    path = tmp_path / "audit.log"
    with Container.create_sync({**NULL, "audit": {"path": str(path)}}):
        pass
    assert [r["event"]["event"] for r in _records(path)] == [
        "container.started",
        "container.closed",
    ]
    assert verify(path).ok


def test_the_trail_file_is_not_inherited_by_children(tmp_path: Path) -> None:
    """The trail's descriptor is close-on-exec."""
    trail = AuditTrail(tmp_path / "audit.log")
    try:
        assert os.get_inheritable(trail._fd) is False
    finally:
        trail.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork() with threads (3.12+)
def test_a_forked_child_appends_to_the_same_chain(tmp_path: Path) -> None:
    """After fork() parent and child keep appending to one valid chain (fresh lock and fd)."""
    path = tmp_path / "audit.log"
    trail = AuditTrail(path, fsync=False)
    trail.record_sync({"who": "parent", "i": 0})
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            for i in range(20):
                trail.record_sync({"who": "child", "i": i})
            trail.close()
        finally:
            os._exit(0)
    for i in range(1, 21):
        trail.record_sync({"who": "parent", "i": i})
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    trail.record_sync({"who": "parent", "i": 21})
    trail.close()
    result = verify(path)
    assert (result.ok, result.records) == (True, 42), result.reason


def test_path_problem_checks_without_creating(tmp_path: Path) -> None:
    """path_problem names a missing directory, a directory or a symlink, and creates nothing."""
    from ferrolog.audit import path_problem

    assert path_problem(tmp_path / "new.log") is None
    assert not (tmp_path / "new.log").exists()
    problem = path_problem(tmp_path / "missing" / "a.log")
    assert problem is not None
    assert "does not exist" in problem
    assert path_problem(tmp_path) == f"{tmp_path} is a directory, not a file"
    (tmp_path / "real.log").write_bytes(b"")
    (tmp_path / "link.log").symlink_to(tmp_path / "real.log")
    assert path_problem(tmp_path / "real.log") is None
    assert "symbolic link" in (path_problem(tmp_path / "link.log") or "")
