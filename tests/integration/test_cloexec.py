"""File sinks hold their descriptors close-on-exec: an exec'd child never inherits the log."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from ferrolog import Container, Logger, Settings
from ferrolog.config import FileSink


def _fds_open_on(paths: list[Path]) -> dict[int, Path]:
    """This process's descriptors that refer to one of ``paths`` (same device and inode)."""
    wanted = {(p.stat().st_dev, p.stat().st_ino): p for p in paths}
    found: dict[int, Path] = {}
    for name in os.listdir("/dev/fd"):
        fd = int(name)
        try:
            st = os.fstat(fd)
        except OSError:  # the directory's own descriptor, closed by now
            continue
        if (st.st_dev, st.st_ino) in wanted:
            found[fd] = wanted[(st.st_dev, st.st_ino)]
    return found


# The child lists its own descriptors that refer to the files named on its command line.
CHILD = textwrap.dedent(
    """
    import os, sys
    wanted = {(os.stat(p).st_dev, os.stat(p).st_ino) for p in sys.argv[1:]}
    for name in os.listdir("/dev/fd"):
        try:
            st = os.fstat(int(name))
        except OSError:
            continue
        if (st.st_dev, st.st_ino) in wanted:
            print(name)
    """
)


def test_file_sink_descriptors_are_close_on_exec(tmp_path: Path) -> None:
    """The log file (opened O_APPEND) and the rotation lock file of a file sink have FD_CLOEXEC
    set, and a child started with close_fds=False does not have them after exec."""
    path = tmp_path / "app.log"
    settings = Settings(sinks=[FileSink(path=path, max_bytes=1 << 20, compress=True)])
    with Container.create_sync(settings) as container:
        log = container.get_sync(Logger)
        log.info("opened")
        lock = tmp_path / ".app.log.lock"
        fds = _fds_open_on([path, lock])
        assert set(fds.values()) == {path, lock}, fds
        for fd, what in fds.items():
            assert fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC, f"fd {fd} ({what})"
        log_fds = [fd for fd, what in fds.items() if what == path]
        assert all(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_APPEND for fd in log_fds)
        child = subprocess.run(
            [sys.executable, "-c", CHILD, str(path), str(lock)],
            close_fds=False,
            capture_output=True,
            text=True,
            check=True,
        )
        assert child.stdout.split() == [], f"inherited across exec: {child.stdout}"
