"""Oversized events are truncated to the cap with a marker, never rejected or split."""

from __future__ import annotations

from collections.abc import Callable

from conftest import FileLog


def test_ten_megabyte_string_is_truncated(file_log: FileLog) -> None:
    """A 10 MB field yields one line within the 64 KiB cap, marked `_truncated`."""
    file_log.logger.info("big", blob="x" * 10_000_000, after="kept?")
    raw = file_log.path.read_bytes() if file_log.pipeline.flush(5) else b""
    assert raw.count(b"\n") == 1
    assert len(raw) <= 64 * 1024
    ev = file_log.one()
    assert ev["_truncated"] is True
    assert ev["message"] == "big"
    assert ev["blob"].startswith("xxxx")
    assert ev["blob"].endswith("…<truncated>")


def test_huge_container_is_cut(file_log: FileLog) -> None:
    """A list of a million items stops at the cap and stays valid JSON."""
    file_log.logger.info("big", items=list(range(1_000_000)))
    ev = file_log.one()
    assert ev["_truncated"] is True
    assert ev["items"][:3] == [0, 1, 2]


def test_cap_is_configurable(make_file_log: Callable[..., FileLog]) -> None:
    """`max_event_bytes` sets the cap."""
    log = make_file_log(max_event_bytes=1024)
    log.logger.info("m", s="y" * 5000)
    raw = log.path.read_bytes() if log.pipeline.flush(5) else b""
    assert len(raw) <= 1024
    assert log.one()["_truncated"] is True


def test_huge_int_is_written_or_marked(file_log: FileLog) -> None:
    """An int too long for str() becomes a marker naming its size, not an error."""
    file_log.logger.info("m", n=10**5000, ok=1)
    ev = file_log.one()
    assert ev["n"].startswith("<int of ")
    assert ev["ok"] == 1
