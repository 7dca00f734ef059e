"""fork and multiprocessing: 4 worker processes append to ONE rotating file under load, the
container created before a gunicorn-style fork (`prefork`) or in each process started by
multiprocessing's spawn method (`spawn`, with gzip of the rotated files). Across the live file
and every backup: every line is intact JSON, no worker's sequence number appears twice, none is
missing (each worker's lines are exactly 0..count-1, count being what it reports), and the file
did rotate. The workers are in tests/stress/mp_writer.py."""

from __future__ import annotations

import gzip
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

pytestmark = [pytest.mark.needs_fork, pytest.mark.linux_only]

WORKERS = 4
WRITER = Path(__file__).with_name("mp_writer.py")


def _files(path: Path) -> list[Path]:
    """The live file and its backups (`app.log.N`, `app.log.N.gz`), oldest first."""
    backups = [p for p in path.parent.iterdir() if p.name.startswith(path.name + ".")]
    assert not [
        p for p in backups if not p.name.removesuffix(".gz")[len(path.name) + 1 :].isdigit()
    ]
    backups.sort(key=lambda p: -int(p.name.removesuffix(".gz").rsplit(".", 1)[1]))
    return [*backups, path]


def _read(p: Path) -> bytes:
    return gzip.decompress(p.read_bytes()) if p.name.endswith(".gz") else p.read_bytes()


def _run(
    mode: str,
    seconds: float,
    rate: int,
    max_bytes: int,
    compress: bool,
    tmp: Path,
    figure: Callable[[str, object], None],
) -> None:
    path = tmp / "app.log"
    out = subprocess.run(
        [
            *(sys.executable, str(WRITER), mode, str(path), str(WORKERS), str(seconds)),
            *(str(rate), str(max_bytes), "1" if compress else "0"),
        ],
        capture_output=True,
        text=True,
        timeout=seconds * 10 + 120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr, out.stderr
    counts = {r["w"]: r["count"] for r in map(orjson.loads, out.stdout.splitlines())}
    assert sorted(counts) == list(range(WORKERS)), out.stdout

    files = _files(path)
    seen: dict[int, list[int]] = {w: [] for w in range(-1, WORKERS)}
    lines = 0
    for f in files:
        data = _read(f)
        assert data == b"" or data.endswith(b"\n"), f"{f.name}: a torn final line"
        for raw in data.splitlines():
            event = orjson.loads(raw)  # every line intact
            seen[event["w"]].append(event["seq"])
            lines += 1
    if mode == "prefork":
        assert seen.pop(-1) == [0], "the master's one event, written once"
    for w, seqs in seen.items():
        if w < 0:
            continue
        assert len(seqs) == len(set(seqs)), f"worker {w}: duplicated lines"
        assert sorted(seqs) == list(range(counts[w])), f"worker {w}: lines lost"
        # One process appends its batches in order, so its sequence is sorted within the
        # concatenation of the files, oldest first (a rotation never reorders).
        assert seqs == sorted(seqs), f"worker {w}: out of order across rotations"
    rotations = len(files) - 1
    assert rotations >= 2, "the file should have rotated under this load"
    total = sum(counts.values())
    name = f"multiprocess ({mode}{', gzip' if compress else ''})"
    figure(f"{name} workers x seconds", f"{WORKERS} x {seconds:g} s (<= {rate} events/s each)")
    figure(f"{name} lines", f"{total} logged, {lines} on disk, {total / seconds:,.0f} events/s")
    figure(f"{name} rotations", f"{rotations} (max_bytes {max_bytes})")


@pytest.mark.parametrize(("mode", "compress"), [("prefork", False), ("spawn", True)])
def test_workers_share_one_rotating_file(
    mode: str, compress: bool, tmp_path: Path, figure: Callable[[str, object], None]
) -> None:
    _run(mode, 1.0, 5000, 64 << 10, compress, tmp_path, figure)


@pytest.mark.stress
@pytest.mark.parametrize(("mode", "compress"), [("prefork", False), ("spawn", True)])
def test_workers_share_one_rotating_file_full(
    mode: str, compress: bool, tmp_path: Path, figure: Callable[[str, object], None]
) -> None:
    _run(mode, 60.0, 15_000, 4 << 20, compress, tmp_path, figure)


# A SyncContainer made before os.fork: in the child, its helper thread (which runs the
# container's event loop) does not exist, so get_sync() and close() waited for it forever.
FORKED_SYNC_CONTAINER = """
import os, sys
from ferrolog import Container, Logger
container = Container.create_sync({"sinks": [{"type": "file", "path": sys.argv[1]}]})
container.get_sync(Logger).info("parent")
pid = os.fork()
if pid == 0:
    container.get_sync(Logger).info("child")
    container.close()
    container.close()  # idempotent in the child too
    os._exit(0)
assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
container.get_sync(Logger).info("parent again")
container.close()
"""


def test_a_sync_container_made_before_fork_works_and_closes_in_the_child(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    out = subprocess.run(
        [sys.executable, "-c", FORKED_SYNC_CONTAINER, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    messages = [orjson.loads(line)["message"] for line in path.read_bytes().splitlines()]
    assert sorted(messages) == ["child", "parent", "parent again"]
