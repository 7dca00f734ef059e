"""The HTTP batch sink against a local server the test scripts: batches arrive whole (NDJSON,
JSON array, gzip) with the headers and bearer token; 500s, 429 with Retry-After, connection
resets and slow responses lose nothing; when delivery cannot succeed the counts are exact; the
circuit breaker opens and closes observably; the token never shows."""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from shipping_peers import HttpPeer, make_certificates, wait_for

from ferrolog import Container, Logger, Pipeline, Settings
from ferrolog.config import SettingsError

SECRET = "s3cret-t0ken"


@pytest.fixture
def peer() -> Iterator[HttpPeer]:
    server = HttpPeer()
    try:
        yield server
    finally:
        server.close()


def _health(pipeline: Pipeline) -> dict[str, Any]:
    (health,) = [h for h in pipeline.sink_health() if h["name"].startswith("http:")]
    return health


def _ids(lines: list[bytes]) -> list[int]:
    return [json.loads(line)["i"] for line in lines]


async def test_ndjson_batches_carry_every_event_headers_token_and_gzip(peer: HttpPeer) -> None:
    """Every event arrives once, in order, in gzipped NDJSON POSTs to the URL's path with the
    bearer token and the configured header; batches are bounded by batch_bytes."""
    sink = {
        "type": "http",
        "url": f"{peer.url}/ingest?tenant=t1",
        "token": SECRET,
        "headers": {"X-Scope": "team-a"},
        "gzip": True,
        "batch_bytes": 4096,
        "linger": 0.05,
    }
    async with Container.create({"sinks": [sink]}) as container:
        log = await container.get(Logger)
        for i in range(500):
            log.info("event", i=i, pad="x" * 40)
        await log.flush()
        health = _health(await container.get(Pipeline))
    assert _ids(peer.lines()) == list(range(500))
    assert len(peer.accepted) > 1, "more than batch_bytes were split into several requests"
    for request in peer.accepted:
        assert request.path == "/ingest?tenant=t1"
        assert request.headers["Authorization"] == f"Bearer {SECRET}"
        assert request.headers["X-Scope"] == "team-a"
        assert request.headers["Content-Type"] == "application/x-ndjson"
        assert request.headers["Content-Encoding"] == "gzip"
        assert len(request.body) <= 4096
    assert (health["delivered"], health["dropped"], health["retried"]) == (500, 0, 0)
    assert health["buffered_bytes"] == 0


async def test_json_array_format(peer: HttpPeer) -> None:
    """format="json_array" posts each batch as one JSON array of the events."""
    sink = {"type": "http", "url": peer.url, "format": "json_array", "linger": 0}
    async with Container.create({"sinks": [sink]}) as container:
        log = await container.get(Logger)
        for i in range(20):
            log.info("event", i=i)
        await log.flush()
    events = [e for r in peer.accepted for e in json.loads(r.body)]
    assert [e["i"] for e in events] == list(range(20))
    assert {r.headers["Content-Type"] for r in peer.accepted} == {"application/json"}


async def test_retries_on_500_429_resets_and_slow_responses_lose_nothing(
    peer: HttpPeer, capfd: pytest.CaptureFixture[str]
) -> None:
    """Failed attempts are retried (429's Retry-After honoured) until they succeed: every
    event arrives exactly once and none is counted as dropped."""
    peer.script.extend(["500", "429:1", "reset", "slow:0.5", "500", "reset"])
    sink = {
        "type": "http",
        "url": peer.url,
        "linger": 0.01,
        "max_retries": 20,
        "failure_threshold": 100,
        "timeout": 30,
    }
    async with Container.create({"sinks": [sink]}) as container:
        log = await container.get(Logger)
        pipeline = await container.get(Pipeline)
        for i in range(300):
            log.info("event", i=i)
            if i % 50 == 49:
                await log.flush()
        await log.flush()
        wait_for(lambda: _health(pipeline)["delivered"] == 300, "every event delivered")
        health = _health(pipeline)
    assert _ids(peer.lines()) == list(range(300))
    # The 500s and the 429 count; a reset on a kept-alive connection looks like one the server
    # closed while idle, which is retried at once on a new connection without counting.
    assert 3 <= health["retried"] <= 5
    assert (health["dropped"], health["failed_batches"]) == (0, 0)
    err = capfd.readouterr().err
    assert "retrying with backoff" in err
    assert "delivering again" in err


async def test_counts_are_exact_when_delivery_keeps_failing(
    peer: HttpPeer, capfd: pytest.CaptureFixture[str]
) -> None:
    """Retries exhausted: the events are dropped by the sink and counted exactly (the pipeline
    counts them written: the sink accepted them); a 4xx is not retried at all."""
    peer.default = "500"
    sink = {
        "type": "http",
        "url": peer.url,
        "linger": 0,
        "max_retries": 1,
        "failure_threshold": 1000,
    }
    async with Container.create({"sinks": [sink]}) as container:
        log = await container.get(Logger)
        pipeline = await container.get(Pipeline)
        for i in range(120):
            log.info("event", i=i)
        await log.flush()
        wait_for(lambda: _health(pipeline)["buffered_bytes"] == 0, "the sink to give up")
        health = _health(pipeline)
        assert health["dropped"] == 120
        assert health["delivered"] == 0
        assert health["retried"] == health["failed_batches"]
        assert log.stats()["written"] == 120
        # A 401 is final: dropped at once, not retried.
        peer.default = "401"
        log.info("unauthorised")
        await log.flush()
        wait_for(lambda: _health(pipeline)["dropped"] == 121, "the refused event")
        assert _health(pipeline)["retried"] == health["retried"]
    assert peer.accepted == []
    err = capfd.readouterr().err
    assert "gave up delivering" in err
    assert "HTTP 401" in err


async def test_a_full_buffer_refuses_batches_to_the_fallback_exactly(
    peer: HttpPeer, tmp_path: Path
) -> None:
    """While the peer hangs, the bounded buffer fills; batches it refuses go to the fallback
    sink. Each event ends up exactly once at the peer or in the fallback file, and the
    counters add up: delivered + rerouted == emitted."""
    spare = tmp_path / "spare.log"
    peer.gate.clear()  # every request waits until the gate opens
    sink = {
        "type": "http",
        "url": peer.url,
        "linger": 0,
        "max_buffer_bytes": 4096,
        "flush_timeout": 0,
        "failure_threshold": 1000,
        "timeout": 60,
    }
    settings = {"sinks": [sink], "fallback": {"type": "file", "path": str(spare)}}
    n = 400
    async with Container.create(settings) as container:
        log = await container.get(Logger)
        pipeline = await container.get(Pipeline)
        for i in range(n):
            log.info("event", i=i, pad="y" * 60)
            if i % 20 == 19:
                await log.flush()
        await log.flush()
        assert _health(pipeline)["refused"] > 0, "the buffer filled up"
        peer.gate.set()
        wait_for(lambda: _health(pipeline)["buffered_bytes"] == 0, "the buffer to drain")
        health = _health(pipeline)
        stats = log.stats()
    fallback = [json.loads(line)["i"] for line in spare.read_text().splitlines()]
    delivered = _ids(peer.lines())
    assert sorted(delivered + fallback) == list(range(n))
    assert health["delivered"] == len(delivered)
    assert health["rerouted"] == len(fallback) == stats["rerouted"]
    assert 1 <= health["refused"] <= health["rerouted"]
    assert health["dropped"] == 0
    assert stats["emitted"] == stats["written"] == n


async def test_the_breaker_opens_then_closes_and_nothing_is_lost(
    peer: HttpPeer, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """failure_threshold failures in a row open the breaker (visible in sink_health; new
    batches go to the fallback); after recovery_timeout a probe succeeds and it closes. The
    opening and the closing are reported once each, however many probes failed between."""
    spare = tmp_path / "spare.log"
    peer.default = "500"
    sink = {
        "type": "http",
        "url": peer.url,
        "linger": 0,
        "max_retries": 1000,
        "failure_threshold": 2,
        "recovery_timeout": 0.3,
    }
    settings = {"sinks": [sink], "fallback": {"type": "file", "path": str(spare)}}
    async with Container.create(settings) as container:
        log = await container.get(Logger)
        pipeline = await container.get(Pipeline)
        log.info("event", i=0)
        await log.flush()
        wait_for(lambda: _health(pipeline)["state"] == "open", "the breaker to open")
        # Refused while open (a batch that meets a probe in flight, half-open, is taken).
        i = 1
        end = time.monotonic() + 60
        while _health(pipeline)["refused"] == 0:
            assert time.monotonic() < end, "no batch was refused while the breaker was open"
            log.info("event", i=i)
            await log.flush()
            i += 1
        peer.default = "ok"
        wait_for(lambda: _health(pipeline)["state"] == "closed", "the breaker to close")
        wait_for(lambda: _health(pipeline)["buffered_bytes"] == 0, "the buffer to drain")
        health = _health(pipeline)
    fallback = [json.loads(line)["i"] for line in spare.read_text().splitlines()]
    delivered = _ids(peer.lines())
    assert delivered[0] == 0
    assert sorted(delivered + fallback) == list(range(i))
    assert health["rerouted"] == len(fallback) >= health["refused"] >= 1
    assert health["delivered"] == len(delivered)
    assert health["retried"] >= 2
    err = capfd.readouterr().err
    assert err.count("circuit breaker open") == 1
    assert err.count("circuit breaker closed") == 1


async def test_close_delivers_what_is_buffered(peer: HttpPeer) -> None:
    """Events still buffered (a long linger) are delivered by close."""
    sink = {"type": "http", "url": peer.url, "linger": 30, "flush_timeout": 0}
    async with Container.create({"sinks": [sink]}) as container:
        log = await container.get(Logger)
        for i in range(10):
            log.info("event", i=i)
        await log.flush()
    assert _ids(peer.lines()) == list(range(10))


async def test_close_counts_what_it_could_not_deliver(
    peer: HttpPeer, capfd: pytest.CaptureFixture[str]
) -> None:
    """Past close_timeout, what is still buffered is dropped and counted, and reported."""
    peer.default = "500"
    sink = {
        "type": "http",
        "url": peer.url,
        "linger": 0,
        "close_timeout": 0.5,
        "max_retries": 1000,
        "failure_threshold": 1000,
        "flush_timeout": 0,
    }
    container = await Container.create({"sinks": [sink]})
    log = await container.get(Logger)
    pipeline = await container.get(Pipeline)
    for i in range(30):
        log.info("event", i=i)
    await log.flush()
    started = time.monotonic()
    await container.aclose()
    assert time.monotonic() - started < 30, "close keeps to its deadline"
    wait_for(lambda: _health(pipeline)["dropped"] == 30, "the drops to be counted")
    assert _health(pipeline)["delivered"] == 0
    assert "dropped and counted" in capfd.readouterr().err


def test_the_token_and_header_values_never_show(capfd: pytest.CaptureFixture[str]) -> None:
    """repr, dumps and validation errors of the settings do not contain the secrets."""
    settings = Settings(
        sinks=[
            {
                "type": "http",
                "url": "http://127.0.0.1:9/x",
                "token": SECRET,
                "headers": {"DD-API-KEY": SECRET},
            }
        ]
    )
    shown = [repr(settings), str(settings), settings.model_dump_json(), str(settings.sinks)]
    for text in shown:
        assert SECRET not in text
    with pytest.raises(SettingsError) as info:
        Settings(sinks=[{"type": "http", "url": "ftp://x", "token": SECRET}])
    assert SECRET not in str(info.value)
    with pytest.raises(SettingsError) as info:
        Settings(sinks=[{"type": "http", "url": f"http://u:{SECRET}@h/"}])
    assert SECRET not in str(info.value)


async def test_the_token_never_shows_in_reports(
    peer: HttpPeer, capfd: pytest.CaptureFixture[str]
) -> None:
    """A refused request's report names the URL without its query and never the token."""
    peer.default = "401"
    sink = {"type": "http", "url": f"{peer.url}/x?api_key={SECRET}", "token": SECRET}
    async with Container.create({"sinks": [sink]}) as container:
        log = await container.get(Logger)
        pipeline = await container.get(Pipeline)
        log.info("event")
        await log.flush()
        wait_for(lambda: _health(pipeline)["dropped"] == 1, "the refusal")
        names = [h["name"] for h in pipeline.sink_health()]
    err = capfd.readouterr().err
    assert "HTTP 401" in err
    assert SECRET not in err
    assert all(SECRET not in name for name in names)


@pytest.fixture
def tls_peer(tmp_path: Path) -> Iterator[tuple[HttpPeer, Path]]:
    made = make_certificates(tmp_path)
    if made is None:
        pytest.skip("the openssl command is not installed (it makes the test certificates)")
    ca, cert, key = made
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = HttpPeer(tls=context)
    try:
        yield server, ca
    finally:
        server.close()


async def test_https_verifies_the_server_against_ca_file(tls_peer: tuple[HttpPeer, Path]) -> None:
    """Over https with the test CA trusted, every event arrives with its bearer token."""
    peer, ca = tls_peer
    sink = {"type": "http", "url": peer.url + "/in", "ca_file": str(ca), "token": SECRET}
    async with Container.create({"sinks": [sink]}) as container:
        log = await container.get(Logger)
        for i in range(50):
            log.info("event", i=i)
        await log.flush()
        health = _health(await container.get(Pipeline))
    assert _ids(peer.lines()) == list(range(50))
    assert {r.headers["Authorization"] for r in peer.accepted} == {f"Bearer {SECRET}"}
    assert health["delivered"] == 50


async def test_https_refuses_an_untrusted_certificate_by_default(
    tls_peer: tuple[HttpPeer, Path], capfd: pytest.CaptureFixture[str]
) -> None:
    """verify_tls is on by default: a server whose CA the system does not trust never gets
    the events (nor the token); the failure is reported and the events counted."""
    peer, _ = tls_peer
    sink = {"type": "http", "url": peer.url, "token": SECRET, "max_retries": 1}
    async with Container.create({"sinks": [sink]}) as container:
        log = await container.get(Logger)
        pipeline = await container.get(Pipeline)
        log.info("secret stuff")
        await log.flush()
        wait_for(lambda: _health(pipeline)["dropped"] == 1, "the undeliverable event")
    assert peer.seen == []
    err = capfd.readouterr().err
    assert "certificate" in err.lower()
    assert SECRET not in err


async def test_verify_tls_off_is_reported(
    tls_peer: tuple[HttpPeer, Path], capfd: pytest.CaptureFixture[str]
) -> None:
    """verify_tls=false accepts any certificate, and says so on standard error."""
    peer, _ = tls_peer
    sink = {"type": "http", "url": peer.url, "verify_tls": False}
    async with Container.create({"sinks": [sink]}) as container:
        log = await container.get(Logger)
        log.info("event", i=1)
        await log.flush()
    assert _ids(peer.lines()) == [1]
    assert "verification is off" in capfd.readouterr().err


@pytest.mark.needs_fork
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork with threads, on purpose
def test_a_forked_child_ships_only_its_own_events(peer: HttpPeer) -> None:
    """The child starts its own sender lazily and discards the parent's buffer; the parent
    still delivers its own: each event arrives exactly once."""
    import os

    from ferrolog import Pipeline

    pipeline = Pipeline(sinks=[{"type": "http", "url": peer.url, "linger": 30}])
    log = pipeline.logger("app")
    for i in range(5):
        log.info("parent", i=i)
    wait_for(lambda: pipeline.sink_health()[0]["buffered_bytes"] > 0, "the parent's buffer")
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        ok = False
        try:
            for i in range(100, 105):
                log.info("child", i=i)
            ok = pipeline.close(30) and pipeline.sink_health()[0]["delivered"] == 5
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert pipeline.close(30)
    assert pipeline.sink_health()[0]["delivered"] == 5
    assert sorted(_ids(peer.lines())) == [0, 1, 2, 3, 4, 100, 101, 102, 103, 104]
