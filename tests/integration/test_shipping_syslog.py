"""The syslog sink against a real rsyslogd on loopback: RFC 5424/3164 framing over UDP, TCP
(octet counting) and a unix socket arrives intact; a restarted rsyslogd gets everything after
the sink reconnects; what cannot be delivered is counted exactly."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from shipping_peers import Rsyslog, rsyslogd_path, wait_for

from ferrolog import Container, Logger, Pipeline

BINARY = rsyslogd_path()
pytestmark = pytest.mark.skipif(
    BINARY is None,
    reason="rsyslogd is not installed (Debian package 'rsyslog'; .ci/run installs it as root)",
)

#: syslog severities of ferrolog's standard levels.
SEVERITY = {"debug": 7, "info": 6, "warning": 4, "error": 3, "critical": 2}
LEVELS = list(SEVERITY)


@pytest.fixture
def rsyslog(tmp_path: Path) -> Iterator[Rsyslog]:
    assert BINARY is not None
    daemon = Rsyslog(BINARY, tmp_path)
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


def _address(rsyslog: Rsyslog, transport: str) -> str:
    return {
        "udp": f"127.0.0.1:{rsyslog.udp}",
        "tcp": f"127.0.0.1:{rsyslog.tcp}",
        "unix": rsyslog.socket,
    }[transport]


def _health(pipeline: Pipeline) -> dict[str, Any]:
    (health,) = [h for h in pipeline.sink_health() if h["name"].startswith("syslog:")]
    return health


async def _log(log: Logger, start: int, stop: int) -> None:
    for i in range(start, stop):
        level = LEVELS[i % len(LEVELS)]
        log.log(level, "event", i=i, text='quotes " and ] and \\ and é', nested={"a": [i]})
    await log.flush()


@pytest.mark.parametrize("transport", ["udp", "tcp", "unix"])
async def test_rfc5424_events_arrive_intact(rsyslog: Rsyslog, transport: str) -> None:
    """Every event arrives once, its level as the severity, facility, host and app name in the
    header, level and logger as structured data, and the JSON line unchanged as MSG."""
    n = 300
    sink = {
        "type": "syslog",
        "address": _address(rsyslog, transport),
        "transport": transport,
        "facility": "local3",
        "app_name": f"app-{transport}",
        "hostname": "web-1",
    }
    async with Container.create({"sinks": [sink], "level": "debug"}) as container:
        log = await container.get(Logger)
        # UDP guarantees nothing: a burst larger than rsyslog's socket buffer loses datagrams.
        # Small bursts, each awaited, keep the test about framing, not about UDP.
        for start in range(0, n, 20):
            await _log(log, start, start + 20)
            wait_for(
                lambda s=start: len(rsyslog.messages(f"app-{transport}")) >= s + 20,
                f"{start + 20} messages",
            )
        health = _health(await container.get(Pipeline))
    messages = rsyslog.messages(f"app-{transport}")
    events = [json.loads(m.msg) for m in messages]
    assert sorted(e["i"] for e in events) == list(range(n))
    for m, e in zip(messages, events, strict=True):
        level = LEVELS[e["i"] % len(LEVELS)]
        assert e["level"] == level
        assert e["text"] == 'quotes " and ] and \\ and é'
        assert e["nested"] == {"a": [e["i"]]}
        assert m.pri == 19 * 8 + SEVERITY[level]
        assert m.hostname == "web-1"
        assert m.procid == str(os.getpid())
        assert m.structured_data == f'[ferrolog@32473 level="{level}" logger="app"]'
    assert health["delivered"] == n
    assert (health["dropped"], health["failed_batches"], health["state"]) == (0, 0, "closed")


async def test_rfc3164_over_udp(rsyslog: Rsyslog) -> None:
    """The BSD format carries the same priority, host, tag and JSON line."""
    sink = {
        "type": "syslog",
        "address": f"127.0.0.1:{rsyslog.udp}",
        "format": "rfc3164",
        "facility": 0,
        "app_name": "bsd",
        "hostname": "h2",
    }
    async with Container.create({"sinks": [sink]}) as container:
        log = await container.get(Logger)
        log.warning("careful", k=1)
        log.error("broken", k=2)
        await log.flush()
        wait_for(lambda: len(rsyslog.messages("bsd")) >= 2, "2 messages")
    messages = rsyslog.messages("bsd")
    assert [m.pri for m in messages] == [4, 3]
    assert [m.hostname for m in messages] == ["h2", "h2"]
    assert [json.loads(m.msg)["k"] for m in messages] == [1, 2]
    assert {m.procid for m in messages} == {str(os.getpid())}


async def test_tcp_reconnects_after_rsyslog_restarts(rsyslog: Rsyslog) -> None:
    """Events logged before, while and after rsyslogd is down all arrive exactly once: the
    sink buffers, retries with backoff and reconnects; nothing is counted as dropped."""
    sink = {
        "type": "syslog",
        "address": f"127.0.0.1:{rsyslog.tcp}",
        "transport": "tcp",
        "app_name": "restart",
        "max_retries": 1000,
        "failure_threshold": 1000,
        "flush_timeout": 0,
    }
    async with Container.create({"sinks": [sink], "level": "debug"}) as container:
        log = await container.get(Logger)
        pipeline = await container.get(Pipeline)
        await _log(log, 0, 100)
        wait_for(lambda: len(rsyslog.messages("restart")) >= 100, "the first 100")
        rsyslog.stop()
        await _log(log, 100, 200)
        # Down: the sink keeps them buffered and retries.
        wait_for(lambda: _health(pipeline)["retried"] >= 1, "a failed attempt")
        assert _health(pipeline)["delivered"] == 100
        rsyslog.start()
        await _log(log, 200, 300)
        wait_for(lambda: len(rsyslog.messages("restart")) >= 300, "all 300")
        health = _health(pipeline)
    got = sorted(json.loads(m.msg)["i"] for m in rsyslog.messages("restart"))
    assert got == list(range(300))
    assert (health["delivered"], health["dropped"]) == (300, 0)


async def test_undeliverable_events_are_counted_exactly(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """With nothing listening and retries exhausted, every accepted event is counted as
    dropped by the sink (the pipeline counts it written: accepted), and it is reported."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connections are refused
        sink = {
            "type": "syslog",
            "address": f"127.0.0.1:{port}",
            "transport": "tcp",
            "app_name": "nobody",
            "max_retries": 2,
            "failure_threshold": 1000,
        }
        async with Container.create({"sinks": [sink]}) as container:
            log = await container.get(Logger)
            pipeline = await container.get(Pipeline)
            for i in range(50):
                log.info("lost", i=i)
            await log.flush()
            wait_for(lambda: _health(pipeline)["buffered_bytes"] == 0, "the sink to give up")
            health = _health(pipeline)
            stats = log.stats()
    assert stats["written"] == 50
    assert health["delivered"] == 0
    assert health["dropped"] == 50
    assert health["failed_batches"] >= 1
    assert health["retried"] == 2 * health["failed_batches"]
    err = capfd.readouterr().err
    assert "gave up delivering" in err
    assert "reconnecting with backoff" in err
