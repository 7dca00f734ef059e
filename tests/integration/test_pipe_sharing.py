"""Several processes sharing one stdout pipe (the container setup) never cut each other's lines."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import textwrap
import threading

import pytest

PROCS = 4
EVENTS = 50_000

CHILD = textwrap.dedent(
    """
    import sys
    from ferrolog import Container, Logger

    proc = int(sys.argv[1])
    with Container.create_sync() as container:  # zero config: JSON lines to stdout
        log = container.get_sync(Logger)
        for i in range(50_000):
            log.info("line", proc=proc, i=i, pad="p" * (i % 97))
        dropped = log.stats()["dropped"]
    assert dropped == 0, dropped
    """
)


def test_four_processes_share_one_stdout_pipe() -> None:
    """4 x 50,000 events through the zero-config stdout sink into one one-page pipe give exactly
    200,000 intact JSON lines, each process's sequence complete and in order."""
    read_fd, write_fd = os.pipe()
    if hasattr(fcntl, "F_SETPIPE_SZ"):
        # One page: writers block all the time and any write over PIPE_BUF would be split.
        fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, 4096)
    env = dict(os.environ)
    # Never drop on a slow reader: the test counts every line.
    env["FERROLOG_RING__OVERFLOW"] = "block"
    env["FERROLOG_RING__BLOCK_TIMEOUT"] = "60"  # the largest the settings allow
    procs = [
        subprocess.Popen([sys.executable, "-c", CHILD, str(n)], stdout=write_fd, env=env)
        for n in range(PROCS)
    ]
    os.close(write_fd)
    chunks: list[bytes] = []

    def drain() -> None:
        with os.fdopen(read_fd, "rb") as reader:
            while block := reader.read1(65536):
                chunks.append(block)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        codes = [p.wait(timeout=240) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        reader.join(timeout=60)
    assert codes == [0] * PROCS
    assert not reader.is_alive()

    data = b"".join(chunks)
    assert data.endswith(b"\n")
    lines = data.split(b"\n")[:-1]
    assert len(lines) == PROCS * EVENTS
    next_i = [0] * PROCS
    for raw in lines:
        event = json.loads(raw)  # a torn or interleaved line fails here
        proc, i = event["proc"], event["i"]
        assert event["message"] == "line"
        assert event["pad"] == "p" * (i % 97)
        assert i == next_i[proc], f"process {proc}: event {i} out of order or duplicated"
        next_i[proc] += 1
    assert next_i == [EVENTS] * PROCS


BROKEN_PIPE_CHILD = textwrap.dedent(
    """
    import json, signal, sys
    from ferrolog import Pipeline

    if sys.argv[1] == "default":
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # as a CLI tool might
    p = Pipeline(sinks=[{"type": "stdout"}])
    log = p.logger("epipe")
    for i in range(1000):
        log.info("into a closed pipe", i=i)
    assert p.close(30.0)
    print(json.dumps(dict(p.stats())), file=sys.stderr)
    """
)


@pytest.mark.parametrize("sigpipe", ["ignore", "default"])
def test_closed_pipe_reader_is_counted_not_fatal(sigpipe: str) -> None:
    """A stdout pipe whose reader is gone makes batches fail as counted errors; the process is
    not killed by SIGPIPE, whether Python's SIG_IGN or SIG_DFL is in force."""
    read_fd, write_fd = os.pipe()
    os.close(read_fd)
    try:
        child = subprocess.run(
            [sys.executable, "-c", BROKEN_PIPE_CHILD, sigpipe],
            stdout=write_fd,
            stderr=subprocess.PIPE,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_fd)
    assert child.returncode == 0, child.stderr.decode()
    stats = json.loads(child.stderr.decode().strip().splitlines()[-1])
    assert stats["errors"] >= 1
    assert stats["written"] == 0
