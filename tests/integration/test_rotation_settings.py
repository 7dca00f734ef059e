"""Size rotation, retention and gzip configured through `Settings` act on the bytes on disk."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

from ferrolog import Container, Logger, Settings
from ferrolog.config import FileSink, RingSettings

MAX_BYTES = 4096
EVENTS = 2_000


def _log_events(path: Path, *, backups: int) -> None:
    settings = Settings(
        ring=RingSettings(overflow="block", block_timeout=60.0, batch_bytes=4096),
        sinks=[FileSink(path=path, max_bytes=MAX_BYTES, backups=backups, compress=True)],
    )
    with Container.create_sync(settings) as container:
        log = container.get_sync(Logger)
        for i in range(EVENTS):
            log.info("rotated", i=i, pad="r" * (i % 61))
        assert log.stats()["dropped"] == 0
    # Closing the container waited for the gzip jobs: everything is on disk now.


def _backups(path: Path) -> dict[int, Path]:
    pattern = re.compile(re.escape(path.name) + r"\.(\d+)(\.gz)?$")
    found: dict[int, Path] = {}
    for entry in path.parent.iterdir():
        if match := pattern.fullmatch(entry.name):
            found[int(match.group(1))] = entry
    return found


def _events(raw: bytes) -> list[int]:
    assert raw == b"" or raw.endswith(b"\n"), "a file ends mid-line"
    return [json.loads(line)["i"] for line in raw.splitlines()]


def test_rotation_with_gzip_keeps_every_line_once(tmp_path: Path) -> None:
    """With room for every backup, each rotated file is gzipped and no bigger than max_bytes,
    and across them and the live file every event appears exactly once, in order."""
    path = tmp_path / "app.log"
    _log_events(path, backups=1000)
    backups = _backups(path)
    assert len(backups) > 10, sorted(backups)
    assert sorted(backups) == list(range(1, len(backups) + 1))
    seen: list[int] = []
    for n in sorted(backups, reverse=True):  # oldest first
        assert backups[n].name.endswith(".gz"), f"{backups[n].name} was not compressed"
        raw = gzip.decompress(backups[n].read_bytes())
        assert 0 < len(raw) <= MAX_BYTES, (backups[n].name, len(raw))
        seen += _events(raw)
    seen += _events(path.read_bytes())
    assert seen == list(range(EVENTS))


def test_retention_keeps_the_newest_backups(tmp_path: Path) -> None:
    """With backups=3, exactly app.log.1.gz … app.log.3.gz remain besides the live file, and
    together they hold the newest events, each once, ending with the last one."""
    path = tmp_path / "app.log"
    _log_events(path, backups=3)
    backups = _backups(path)
    assert {n: p.name for n, p in backups.items()} == {
        1: "app.log.1.gz",
        2: "app.log.2.gz",
        3: "app.log.3.gz",
    }
    seen: list[int] = []
    for n in (3, 2, 1):
        seen += _events(gzip.decompress(backups[n].read_bytes()))
    seen += _events(path.read_bytes())
    assert seen == list(range(EVENTS - len(seen), EVENTS))
    assert len(seen) > 3 * MAX_BYTES // 200  # the three backups were full, not stubs
